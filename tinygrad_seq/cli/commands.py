"""What each subcommand does.  Library errors about the user's input become `UsageError` (exit 2)."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import time

import numpy as np

from . import RunFailed, UsageError, printable

# the signals that stop `train` gracefully (finish the step, save, exit 128 + signal number)
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))

# CLI flag -> TrainConfig field
TRAIN_FLAGS = {
    "model": "model", "hidden": "hidden_size", "layers": "num_layers", "embedding": "embedding_dim",
    "steps": "steps", "seq_len": "seq_len", "batch": "batch_size", "lr": "lr", "optimizer": "optimizer",
    "momentum": "momentum", "clip": "clip", "tbptt": "tbptt", "dropout": "dropout", "dtype": "dtype",
    "cell": "cell", "eval_every": "eval_every", "checkpoint_every": "checkpoint_every", "seed": "seed",
}


# --------------------------------------------------------------------------- train


def train(args) -> int:
    from ..checkpoint import CheckpointError, run_lock

    path = args.checkpoint
    if path == "":
        raise UsageError("--checkpoint needs a file name, got ''")
    if args.resume and not path:
        raise UsageError("--resume needs --checkpoint PATH (the run to continue)")
    if path:
        _check_writable(path)
    with contextlib.ExitStack() as stack:
        if path:
            try:  # one run per checkpoint: a second run of it would overwrite the first one's saves
                stack.enter_context(run_lock(path))
            except CheckpointError as e:
                raise UsageError(str(e)) from None
        return _train(args, path)


def _train(args, path) -> int:
    from ..checkpoint import CheckpointError
    from ..data import TextFileError, default_corpus, load_text
    from ..train import RESUMABLE_CHANGES, TrainConfig, Trainer

    given = {field: getattr(args, flag) for flag, field in TRAIN_FLAGS.items() if getattr(args, flag) is not None}
    if "clip" in given:
        if not (given["clip"] >= 0 and math.isfinite(given["clip"])):
            raise UsageError(f"--clip must be a finite number >= 0 (0 turns clipping off), got {given['clip']}")
        given["clip"] = given["clip"] or None
    try:
        text = default_corpus() if args.text is None else load_text(args.text, args.encoding)
        if args.resume:
            if not os.path.exists(path):
                raise UsageError(f"--resume: checkpoint {path!r} does not exist")
            trainer = Trainer.resume(path, text, **{k: v for k, v in given.items() if k in RESUMABLE_CHANGES})
            saved = trainer.config
            clash = [f"--{flag.replace('_', '-')} {given[field]!r} (the checkpoint has {getattr(saved, field)!r})"
                     for flag, field in TRAIN_FLAGS.items()
                     if field in given and field not in RESUMABLE_CHANGES and given[field] != getattr(saved, field)]
            if clash:
                raise UsageError(f"checkpoint {path!r} is a run with other settings: " + "; ".join(clash))
        else:
            if path and os.path.exists(path) and not args.force:
                raise UsageError(f"checkpoint {path!r} already exists: pass --resume to continue that run, "
                                 "or --force to start a new run over it")
            trainer = Trainer(TrainConfig(**given), text)
    except (TextFileError, CheckpointError, ValueError) as e:
        raise UsageError(str(e)) from None

    c = trainer.config
    source = "Python's reference text (pydoc_data.topics)" if args.text is None else repr(args.text)
    print(f"training a {c.num_layers}-layer {c.model.upper()} (hidden {c.hidden_size}, "
          f"{sum(p.numel() for p in trainer.model.parameters()):,} parameters) on {source}: "
          f"{len(trainer.train_ids):,} characters to learn from, {len(trainer.val_ids):,} held out, "
          f"vocabulary of {len(trainer.vocab)}")
    if trainer.step:
        print(f"resuming from step {trainer.step} of {path}")
    try:
        result = _run_with_progress(trainer, path, show_bar=not args.no_progress)
    except CheckpointError as e:  # a save refused on the way (the file made read-only meanwhile, ...)
        raise UsageError(str(e)) from None
    ev = result["eval"]
    if ev is not None:
        print(f"held-out bits per character {ev['bpc']:.3f} (perplexity {ev['perplexity']:.2f}) after "
              f"{result['steps']} steps; {result['seconds']:.0f} s of training")
    if path:
        print(f"checkpoint: {path}  (tinygrad-seq sample {path})")
    if result["stopped"] == "interrupted":
        signum = result.get("signal", signal.SIGINT)
        print(f"stopped by {_signal_name(signum)}; resume with --resume", file=sys.stderr)
        return 128 + signum
    return 0


def _signal_name(signum):
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def _check_writable(path):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write checkpoint {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"cannot write checkpoint {path!r}: it is a directory")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write checkpoint {path!r}: folder is not writable")


def _run_with_progress(trainer, path, show_bar=True, time_limit=None, on_eval=None):
    """Train with a progress bar; the first Ctrl-C (or SIGTERM, SIGHUP) stops after the current step and saves."""
    bar = _progress_bar(trainer, show_bar, None if time_limit else trainer.config.steps)
    stop = {"asked": False, "signal": None}
    params, start = list(trainer.model.parameters()), trainer.step

    def on_signal(signum, frame):
        if stop["asked"]:
            raise KeyboardInterrupt  # a second signal: give up at once (an earlier checkpoint is still whole)
        stop["asked"], stop["signal"] = True, signum
        _write(bar, f"{_signal_name(signum)}: stopping after this step and saving the checkpoint "
                    "(press Ctrl-C again to abort)")

    def on_step(info):
        # stop before a diverged model is saved: raising here skips this step's checkpoint and the final one
        if not math.isfinite(info["loss"]) or not all(np.isfinite(p.data).all() for p in params):
            what = f"the loss is {info['loss']}" if not math.isfinite(info["loss"]) else "a weight is no longer finite"
            saved = (info["step"] - 1) // every * every  # the last periodic save, before the bad step
            kept = "" if not path else f"; {path} holds step {saved}" if saved > start else f"; {path} is as it was"
            raise RunFailed(f"training diverged at step {info['step']}: {what}; try a smaller --lr or --clip{kept}")
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{info['loss']:.3f}", bpc=f"{info['bpc']:.3f}",
                            chars_s=f"{info['chars_per_sec']:,.0f}", refresh=False)

    def on_eval_(ev):
        _write(bar, f"step {ev['step']:>6}: held-out bits per character {ev['bpc']:.3f}")
        if on_eval is not None:
            on_eval(ev)

    # --checkpoint-every defaults to --eval-every: without periodic saves a crash would lose the whole run
    every = trainer.config.checkpoint_every or trainer.config.eval_every
    old = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is reported once, by on_step
            result = trainer.run(on_step=on_step, on_eval=on_eval_, should_stop=lambda: stop["asked"],
                                 checkpoint_path=path, checkpoint_every=every, time_limit=time_limit)
        if stop["signal"] is not None:
            result["signal"] = stop["signal"]
        return result
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if bar is not None:
            bar.close()


def _progress_bar(trainer, show, total):
    if not show:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is in the [cli] extra; without it, one line per evaluation
        return None
    return tqdm(total=total, initial=trainer.step, unit="step", dynamic_ncols=True,
                file=sys.stdout, mininterval=0.5)


def _write(bar, line):
    if bar is not None:
        bar.write(line)
    else:
        print(line, flush=True)


# --------------------------------------------------------------------------- sample


def sample(args) -> int:
    from ..checkpoint import CheckpointError
    from ..lm import load_charlm
    from ..lm import sample as draw

    if not (args.temperature >= 0 and math.isfinite(args.temperature)):
        raise UsageError(f"--temperature must be a finite number >= 0, got {args.temperature}")
    try:
        model, vocab, _ = load_charlm(args.checkpoint)
    except CheckpointError as e:
        raise UsageError(str(e)) from None
    unknown = [ch for ch in dict.fromkeys(args.prime) if ch not in vocab]  # in the order they appear
    if unknown:
        raise UsageError(f"--prime: the model never saw the characters {''.join(unknown)!r} "
                         f"(its vocabulary has {len(vocab)} characters)")
    text = draw(model, vocab, length=args.length, prime=args.prime, temperature=args.temperature,
                top_k=args.top_k, seed=args.seed)
    print(printable(args.prime + text))  # a vocabulary may hold escape characters: shown, not obeyed
    return 0


# --------------------------------------------------------------------------- check


def check(args) -> int:
    from .. import bptt

    report = bptt.check_random(args.model, hidden=args.hidden, steps=args.steps, seed=args.seed, batch=args.batch)
    print(report)
    return 0 if report.ok else 1


# --------------------------------------------------------------------------- render


def render(args) -> int:
    if not args.output:
        raise UsageError("-o needs a file name, got ''")
    if os.path.isdir(args.output):
        raise UsageError(f"cannot write {args.output!r}: it is a directory (name a file inside it)")
    fmt = args.format or os.path.splitext(args.output)[1].lstrip(".").lower() or "svg"
    if fmt not in ("svg", "png", "dot", "gv", "html", "htm"):
        raise UsageError(f"cannot write {fmt!r} pictures: use .svg, .png, .dot, or .html for the explorer "
                         "(graphviz-pure has no PDF)")
    suffix = os.path.splitext(args.output)[1].lower()
    if fmt in ("html", "htm") and suffix not in ("", ".html", ".htm"):
        raise UsageError(f"--format html writes a web page: name it .html, not {args.output!r}")
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {args.output!r}: folder {folder!r} does not exist")
    collapse = None
    if args.collapse:
        collapse = [int(c) if c.isdigit() else c for c in args.collapse]
        collapse = collapse[0] if len(collapse) == 1 else collapse
    viz = _import_viz()  # after the checks above: matplotlib alone takes a second to import
    from viz import examples

    t0 = time.perf_counter()
    loss = examples.build(args.model, args.steps)
    time_axis = "vertical" if args.vertical else "horizontal"
    try:
        if fmt in ("html", "htm"):  # the explorer: one self-contained page (its backward view is a slider)
            out = viz.explore(loss, args.output, collapse=collapse, time_axis=time_axis).path
        else:
            out = viz.render(loss, args.output, format=fmt, collapse=collapse, backward=args.backward,
                             time_axis=time_axis)
    except viz.RendererNotFound as e:
        raise UsageError(str(e)) from None
    print(f"wrote {printable(out)} ({args.model}, {args.steps} steps, {time.perf_counter() - t0:.1f} s)")
    if fmt in ("html", "htm"):
        print("open it in a web browser: pan, zoom, collapse scopes, read values and gradients, step the backward pass")
    return 0


def _import_viz():
    try:
        import viz
    except ImportError as e:
        raise UsageError(f"drawing needs the [viz] extra: pip install 'tinygrad_seq[viz]' ({e})") from None
    return viz


# --------------------------------------------------------------------------- demo


def demo(args) -> int:
    from .demo import run

    return run(args)
