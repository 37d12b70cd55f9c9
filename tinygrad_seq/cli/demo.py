"""``tinygrad-seq demo``: the guided tour, on Python's own reference text.

1. train a character-level LSTM for a fixed time budget, with samples before and after;
2. draw its graph unrolled over a few characters (SVG), and write the explorer page of that graph (HTML);
3. plot how the gradient flows back through time in an RNN, a GRU and this LSTM (PNG);
4. check its autodiff gradients against the analytic BPTT formulas (a table).
"""

from __future__ import annotations

import os
import pathlib
import time

import numpy as np

from . import UsageError
from .commands import _import_viz, _run_with_progress

RULE = "─" * 72


def run(args) -> int:
    from .. import bptt
    from ..data import default_corpus
    from ..lm import sample
    from ..train import TrainConfig, Trainer

    out = pathlib.Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create the output folder {str(out)!r}: {e.strerror or e}") from None
    if not os.access(out, os.W_OK):
        raise UsageError(f"the output folder {str(out)!r} is not writable")
    viz = _import_viz()
    seconds = args.seconds or (12.0 if args.quick else 140.0)
    hidden = 64 if args.quick else 128
    started = time.perf_counter()

    _heading(f"1. Train a character-level LSTM (hidden {hidden}) for {seconds:.0f} s on Python's reference text")
    text = default_corpus()
    config = TrainConfig(model="lstm", hidden_size=hidden, batch_size=32, seq_len=64, steps=10**9,
                         eval_every=50 if args.quick else 200, seed=args.seed)
    trainer = Trainer(config, text)
    print(f"{len(text):,} characters, a vocabulary of {len(trainer.vocab)}; the last "
          f"{len(trainer.val_ids):,} are held out to measure bits per character.")
    prime = "def "
    print(f"\nSample before training (prime {prime!r}):\n")
    print(_indent(prime + sample(trainer.model, trainer.vocab, 160, prime=prime, temperature=0.8, seed=args.seed)))
    checkpoint = out / "charlm.npz"
    result = _run_with_progress(trainer, str(checkpoint), time_limit=seconds)
    ev = result["eval"]
    print(f"\n{result['steps']} steps in {result['seconds']:.0f} s: held-out bits per character "
          f"{ev['bpc']:.3f} (a uniform guess over {len(trainer.vocab)} characters: {np.log2(len(trainer.vocab)):.2f})")
    print(f"\nSample after training (prime {prime!r}, temperature 0.8):\n")
    print(_indent(prime + sample(trainer.model, trainer.vocab, 300, prime=prime, temperature=0.8, seed=args.seed)))
    if result["stopped"] == "interrupted":
        print(f"\nstopped by Ctrl-C; the model is saved in {checkpoint}")
        return 130

    _heading("2. Draw the trained LSTM unrolled over 4 characters")
    graph_file = out / "unrolled_lstm.svg"
    collapsed_file = out / "unrolled_lstm_collapsed.svg"
    loss = _unrolled_loss(trainer, "def f")
    explorer_file = out / "explorer.html"
    try:
        viz.render(loss, graph_file, title="the char-LSTM reading 'def ', predicting 'ef f'")
        viz.render(loss, collapsed_file, collapse="t=*", title="the same graph, one box per time step")
        viz.explore(loss, explorer_file, title="the char-LSTM reading 'def ', predicting 'ef f'")
    except viz.RendererNotFound as e:
        raise UsageError(str(e)) from None
    print(f"every op of 4 time steps: {graph_file}\none box per time step:    {collapsed_file}")
    print(f"explore it in a browser:  {explorer_file}  (values, gradients and derivative rules of every "
          "node; step the backward pass through time)")

    _heading("3. How far back does the gradient reach? ‖∂L/∂h(t)‖ for an RNN, a GRU and this LSTM")
    plot_file = out / "gradient_flow.png"
    fig = _gradient_flow_figure(trainer)
    fig.savefig(plot_file, dpi=120, bbox_inches="tight")
    curve_file = out / "training_curve.png"
    from viz import plots

    h = trainer.history
    series = {"training batches": h["train_loss"], "held-out tail": (h["eval_step"], h["eval_loss"])}
    plots.training_curves(series, bits_per_character=True, smooth=20,
                          title="char-LSTM on Python's reference text").savefig(curve_file, dpi=120,
                                                                                bbox_inches="tight")
    print(f"gradient flow:  {plot_file}\ntraining curve: {curve_file}")

    _heading("4. Check the trained LSTM's autodiff gradients against the analytic BPTT formulas")
    x, y = _snippet(trainer, "class C:\n    pass", batch=2)
    report = bptt.compare((trainer.model.rnn, trainer.model.head), x, y)
    table_file = out / "gradient_check.txt"
    table_file.write_text(str(report) + "\n", encoding="utf-8")
    print(_short_report(report))
    print(f"the whole table: {table_file}")

    _heading("Done")
    print(f"in {time.perf_counter() - started:.0f} s. Everything is in {out}/:")
    for f in sorted(out.iterdir()):
        print(f"  {f.name:<32} {f.stat().st_size / 1024:8.1f} KiB")
    print(f"\nNext: tinygrad-seq train --help, tinygrad-seq sample {checkpoint}, and the lessons in tutorials/.")
    return 0 if report.ok else 1


def _heading(text):
    print(f"\n{RULE}\n{text}\n{RULE}", flush=True)


def _indent(text):
    return "\n".join("    " + line for line in text.splitlines())


def _composite_copy(trainer, kind=None):
    """The trained model rebuilt with op-by-op cells (every gate a node of the graph); with ``kind``,
    a fresh random model of that kind and size instead."""
    from ..lm import CharLM

    config = {k: v for k, v in trainer.model.config.items() if k != "dtype"}
    model = CharLM(**{**config, "cell": "composite", "model": kind or config["model"]})
    if kind is None:
        model.load_state_dict(trainer.model.state_dict())
    return model.name_parameters()


def _unrolled_loss(trainer, text):
    """L = Σ_t L(t) of the trained model reading all but the last character of ``text``."""
    from .. import functional as F

    model = _composite_copy(trainer)
    ids = trainer.vocab.encode(text)
    logits, _ = model(ids[None, :-1])
    loss = F.cross_entropy(logits.reshape(-1, model.vocab_size), ids[1:], reduction="sum")
    loss.name = "L"
    return loss


def _snippet(trainer, text, batch):
    """One-hot inputs (T, B, V) and targets (T, B) of ``text`` repeated ``batch`` times, float64."""
    ids = trainer.vocab.encode(text)
    onehot = np.eye(len(trainer.vocab))[ids]
    x = np.repeat(onehot[:-1, None, :], batch, axis=1)
    y = np.repeat(ids[1:, None], batch, axis=1)
    if trainer.model.rnn.batch_first:
        x, y = x.swapaxes(0, 1), y.swapaxes(0, 1)
    return x, y


def _short_report(report):
    lines = str(report).splitlines()
    return "\n".join(lines[:3] + ["    ..."] + [ln for ln in lines if ln.startswith("verdict")])


def _gradient_flow_figure(trainer, steps=60):
    """‖∂L(T)/∂h(t)‖ for the loss at the last of ``steps`` held-out characters, for random RNN, GRU and LSTM
    of the same size and for the trained LSTM."""
    from viz import plots

    from .. import functional as F

    ids = trainer.val_ids[: steps + 1]
    curves = {}
    for label, kind in (("RNN, random", "rnn"), ("GRU, random", "gru"), ("LSTM, random", "lstm"),
                        ("LSTM, trained", None)):
        model = _composite_copy(trainer, kind)
        logits, _ = model(ids[None, :-1])
        loss = F.cross_entropy(logits[0, -1:], ids[-1:])  # the loss of the last prediction only
        curves[label] = plots.hidden_gradient_norms(loss, name="h")
    return plots.gradient_flow(curves, title=f"‖∂L({steps})/∂h(t)‖: how far back the last loss reaches")
