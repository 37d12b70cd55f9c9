"""The `tinygrad-seq` command end to end: every subcommand run as a user runs it (a subprocess), on tiny settings.

What is checked, beyond "it runs":
- train writes a checkpoint that loads, with the settings, vocabulary and loss history of the run;
- sample is reproducible with --seed and agrees with ``lm.sample`` called directly;
- check exits 0 when autodiff and the BPTT formulas agree and 1 when they do not;
- render draws what each model computes (one tanh per RNN step, three sigmoid gates per LSTM step ...);
- demo writes and names its pictures, its gradient-check table and its checkpoint;
- every bad input exits with 2 and ONE line on stderr naming the problem, never a traceback,
  and a failing run leaves the checkpoint it names byte for byte as it was;
- a diverging run exits with 1 before it saves non-finite weights;
- a run stopped halfway and resumed ends exactly where an uninterrupted run ends;
- Ctrl-C (SIGINT) exits with 130 and leaves a checkpoint from which --resume continues.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinygrad_seq.checkpoint import load_checkpoint, save_checkpoint
from tinygrad_seq.data import Vocab, default_corpus

ROOT = Path(__file__).resolve().parents[1]

# a text of our own: enough characters for 2 streams of 8, small enough to train in a blink
TEXT = (
    "A recurrent network reads a sentence one character at a time and keeps a summary of what it has read "
    "in its hidden state. Training unrolls the network over the characters and sends the error back "
    "through every step: that is backpropagation through time.\n"
    "When the text is long, the unrolled graph is cut into windows, and the state is carried from one "
    "window to the next without its gradient.\n"
) * 3
# flags that make a training run take a fraction of a second
TINY = ["--hidden", "8", "--steps", "6", "--seq-len", "8", "--batch", "2", "--eval-every", "3"]


def run_cli(*args, cwd, timeout=300):
    """``python -m tinygrad_seq ARGS`` in ``cwd``, on this checkout (not whatever copy is installed)."""
    env = dict(os.environ, TGS_FAST="1", MPLBACKEND="Agg", COLUMNS="100", PYTHONIOENCODING="utf-8")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return subprocess.run([sys.executable, "-m", "tinygrad_seq", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=timeout)


def assert_ok(r):
    assert r.returncode == 0, f"exit code {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr


def assert_usage_error(r, *words):
    """Exit code 2 and one line on stderr, of the form 'tinygrad-seq CMD: error: ...', containing ``words``."""
    assert r.returncode == 2, f"exit code {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{r.stderr}"
    assert lines[0].startswith("tinygrad-seq") and ": error: " in lines[0], lines[0]
    for word in words:
        assert word.lower() in lines[0].lower(), f"{word!r} not in {lines[0]!r}"


def sampled(r):
    """What `sample` printed (its text may hold newlines; print adds one at the end)."""
    assert_ok(r)
    assert r.stdout.endswith("\n")
    return r.stdout[:-1]


# --------------------------------------------------------------------------- a trained checkpoint, shared


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`train` on a small text file, with the progress bar on: (folder, checkpoint path, CompletedProcess)."""
    folder = tmp_path_factory.mktemp("trained")
    (folder / "text.txt").write_text(TEXT, encoding="utf-8")
    r = run_cli("train", "--text", "text.txt", *TINY, "--checkpoint", "model.npz", cwd=folder)
    return folder, folder / "model.npz", r


def test_train_on_a_text_file(trained):
    folder, path, r = trained
    assert_ok(r)
    assert "held-out bits per character" in r.stdout and "model.npz" in r.stdout
    assert all(f in r.stdout for f in ("6/6", "loss=", "bpc=", "chars_s=")), "the progress bar's last state"
    ckpt = load_checkpoint(path)
    assert ckpt.step == 6
    assert ckpt.vocab == Vocab.from_text(TEXT)
    run = ckpt.config["run"]
    assert (run["model"], run["hidden_size"], run["seq_len"], run["batch_size"]) == ("lstm", 8, 8, 2)
    history = ckpt.extra["history"]
    assert len(history["train_loss"]) == 6 and np.all(np.isfinite(history["train_loss"]))
    assert list(history["eval_step"]) == [3, 6]
    # the held-out evaluations are printed as they happen, with the numbers saved in the checkpoint
    for step, loss in zip(history["eval_step"], history["eval_loss"]):
        assert f"step {step:>6}: held-out bits per character {loss / np.log(2):.3f}" in r.stdout
    assert not [p for p in os.listdir(folder) if p.endswith(".tmp")], "atomic saves leave no temporary files"


def test_train_on_the_default_corpus(tmp_path):
    r = run_cli("train", "--hidden", "8", "--steps", "2", "--seq-len", "8", "--batch", "2", "--eval-every", "2",
                "--no-progress", "--checkpoint", "default.npz", cwd=tmp_path)
    assert_ok(r)
    assert "pydoc_data.topics" in r.stdout
    ckpt = load_checkpoint(tmp_path / "default.npz")
    assert ckpt.step == 2 and ckpt.vocab == Vocab.from_text(default_corpus())


@pytest.mark.parametrize("model, extra", [
    ("rnn", ["--layers", "2", "--embedding", "4", "--optimizer", "sgd", "--lr", "0.1", "--momentum", "0.9"]),
    ("gru", ["--tbptt", "12", "--clip", "0", "--dtype", "float64", "--cell", "composite"]),
])
def test_train_other_models_and_options_then_sample(tmp_path, model, extra):
    (tmp_path / "text.txt").write_text(TEXT, encoding="utf-8")
    r = run_cli("train", "--model", model, "--text", "text.txt", *TINY, *extra, "--no-progress",
                "--checkpoint", "m.npz", cwd=tmp_path)
    assert_ok(r)
    run = load_checkpoint(tmp_path / "m.npz").config["run"]
    assert run["model"] == model
    if model == "rnn":
        assert (run["num_layers"], run["embedding_dim"], run["optimizer"], run["momentum"]) == (2, 4, "sgd", 0.9)
    else:
        assert (run["tbptt"], run["clip"], run["dtype"], run["cell"]) == (12, None, "float64", "composite")
    text = sampled(run_cli("sample", "m.npz", "--length", "25", "--seed", "0", cwd=tmp_path))
    assert len(text) == 25 and set(text) <= set(TEXT)


# --------------------------------------------------------------------------- sample


def test_sample_is_reproducible_and_follows_its_flags(trained):
    folder, path, _ = trained
    args = ["sample", "model.npz", "--prime", "The ", "--length", "40", "--temperature", "0.7", "--top-k", "5"]
    a = sampled(run_cli(*args, "--seed", "3", cwd=folder))
    b = sampled(run_cli(*args, "--seed", "3", cwd=folder))
    c = sampled(run_cli(*args, "--seed", "4", cwd=folder))
    assert a == b, "the same seed gives the same text"
    assert a != c, "another seed gives another text"
    assert a.startswith("The ") and len(a) == 4 + 40 and set(a) <= set(TEXT)

    # the command draws exactly what the library draws with the same settings
    from tinygrad_seq.lm import load_charlm, sample

    model, vocab, _ = load_charlm(path)
    assert a == "The " + sample(model, vocab, length=40, prime="The ", temperature=0.7, top_k=5, seed=3)

    # --top-k 1 leaves only the most likely character: the same text as greedy decoding, whatever the seed
    greedy = sampled(run_cli("sample", "model.npz", "--length", "30", "--temperature", "0", cwd=folder))
    top1 = sampled(run_cli("sample", "model.npz", "--length", "30", "--top-k", "1", "--seed", "9", cwd=folder))
    assert greedy == top1
    assert sampled(run_cli("sample", "model.npz", "--prime", "abc", "--length", "0", cwd=folder)) == "abc"


# --------------------------------------------------------------------------- check


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_check_agrees(tmp_path, model):
    r = run_cli("check", "--model", model, "--hidden", "5", "--steps", "4", "--seed", "1", cwd=tmp_path)
    assert_ok(r)
    assert "H=5 hidden" in r.stdout and "T=4 steps" in r.stdout
    verdict = [line for line in r.stdout.splitlines() if line.startswith("verdict")]
    assert len(verdict) == 1 and verdict[0].startswith("verdict: OK"), r.stdout


def test_check_exits_1_when_the_formulas_are_wrong(monkeypatch, capsys):
    """A real comparison with a real slip in the analytic LSTM backward: forgetting that ∇c(t) L also
    receives f(t+1) ⊙ ∇c(t+1) L.  The first wrong quantity is ∇c(T−1) L, and the command says so."""
    from tinygrad_seq import bptt
    from tinygrad_seq.bptt import unroll
    from tinygrad_seq.cli import main

    def forgetful_backward(cache):
        def step_backward(dstate, step_cache):
            (dh, dc), dx, dp, dlocal = cache.cell.step_backward(dstate, step_cache)
            return (dh, 0 * dc), dx, dp, dlocal

        return unroll.backward(cache, step_backward=step_backward)

    monkeypatch.setattr(bptt, "check_random", functools.partial(bptt.check_random, backward=forgetful_backward))
    assert main(["check", "--model", "lstm", "--steps", "5"]) == 1
    out = capsys.readouterr().out
    verdict = [line for line in out.splitlines() if line.startswith("verdict")]
    assert verdict and "DISAGREE" in verdict[0] and "∇c(4) L at t = 4" in verdict[0], out


# --------------------------------------------------------------------------- render

RECURRENT_OPS = {"rnn": {"tanh": 1}, "lstm": {"sigmoid": 3, "tanh": 2}, "gru": {"sigmoid": 2, "tanh": 1}}


def ops_drawn(dot: str) -> list:
    """The op of every node of a DOT graph: a bare op's label is the op; a named tensor's subtitle starts with it."""
    return [a or b for a, b in re.findall(r"label=<<TABLE[^>]*><TR><TD>(\w+)</TD>|>(\w+) · ", dot)]


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru", "seq2seq-attention", "transformer"])
@pytest.mark.parametrize("fmt", ["svg", "png", "dot"])
def test_render_every_model_and_format(tmp_path, model, fmt, capsys):
    """In-process through the command's own entry point (the import of matplotlib is paid once)."""
    from tinygrad_seq.cli import main

    out = tmp_path / f"graph.{fmt}"
    assert main(["render", "--model", model, "--steps", "3", "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    data = out.read_bytes()
    if fmt == "png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
        return
    text = data.decode("utf-8")
    assert ("<svg" in text) if fmt == "svg" else text.lstrip().startswith("digraph")
    if fmt == "dot":
        ops = ops_drawn(text)
        for op, per_step in RECURRENT_OPS.get(model, {}).items():
            assert ops.count(op) == 3 * per_step, f"{model}: {ops.count(op)} {op} nodes for 3 steps"
        if model == "seq2seq-attention":
            assert ops.count("softmax") == 3, "one attention distribution per decoder step"
        if model == "transformer":
            assert "softmax" in ops


def test_render_from_the_command_line(tmp_path):
    r = run_cli("render", "--model", "lstm", "--steps", "2", "-o", "lstm.svg", cwd=tmp_path)
    assert_ok(r)
    assert "wrote lstm.svg" in r.stdout and "<svg" in (tmp_path / "lstm.svg").read_text(encoding="utf-8")
    r = run_cli("render", "--model", "rnn", "--steps", "3", "--format", "dot", "-o", "rnn.gv", cwd=tmp_path)
    assert_ok(r)
    plain = (tmp_path / "rnn.gv").read_text(encoding="utf-8")
    assert plain.lstrip().startswith("digraph")
    # the options change the picture: collapsed steps hide their ops; the backward graph shows gradient norms
    r = run_cli("render", "--model", "rnn", "--steps", "3", "--collapse", "t=*", "--backward", "--vertical",
                "-o", "rnn_b.dot", cwd=tmp_path)
    assert_ok(r)
    changed = (tmp_path / "rnn_b.dot").read_text(encoding="utf-8")
    assert ops_drawn(plain).count("tanh") == 3 and ops_drawn(changed).count("tanh") == 0
    assert "‖" in changed and "‖" not in plain


# --------------------------------------------------------------------------- demo


def test_demo_quick(tmp_path):
    r = run_cli("demo", "--quick", "--seconds", "3", "--out", "tour", cwd=tmp_path)
    assert_ok(r)
    tour = tmp_path / "tour"
    files = ["unrolled_lstm.svg", "unrolled_lstm_collapsed.svg", "gradient_flow.png", "training_curve.png",
             "gradient_check.txt", "charlm.npz"]
    for name in files:
        assert (tour / name).is_file(), f"{name} missing: {sorted(os.listdir(tour))}"
        assert name in r.stdout, f"the demo does not say where {name} is"
    assert "<svg" in (tour / "unrolled_lstm.svg").read_text(encoding="utf-8")
    for png in ("gradient_flow.png", "training_curve.png"):
        assert (tour / png).read_bytes().startswith(b"\x89PNG")
    table = (tour / "gradient_check.txt").read_text(encoding="utf-8")
    assert "verdict: OK" in table
    assert "Sample before training" in r.stdout and "Sample after training" in r.stdout

    from tinygrad_seq.lm import load_charlm

    model, vocab, ckpt = load_charlm(tour / "charlm.npz")
    assert ckpt.step > 0 and model.kind == "lstm" and vocab == Vocab.from_text(default_corpus())


# --------------------------------------------------------------------------- --help


@pytest.mark.parametrize("command", ["", "demo", "train", "sample", "render", "check"])
def test_help(tmp_path, command):
    r = run_cli(*([command] if command else []), "--help", cwd=tmp_path)
    assert_ok(r)
    assert "examples" in r.stdout and "usage: tinygrad-seq" in r.stdout


# --------------------------------------------------------------------------- bad input


OTHER_TEXT = "An entirely different text, of other characters: 0123456789 and more. " * 8


@pytest.fixture
def workspace(tmp_path, trained):
    """A folder holding a good checkpoint (run.npz), the text it was trained on, and every kind of bad file."""
    _, path, r = trained
    assert_ok(r)
    shutil.copy(path, tmp_path / "run.npz")
    (tmp_path / "text.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "short.txt").write_text("tiny\n", encoding="utf-8")
    (tmp_path / "brief.txt").write_text(TEXT[:100], encoding="utf-8")  # 90 to train on: < 2 streams of 64 + 1
    (tmp_path / "latin1.txt").write_bytes(("Un café au lait, s'il vous plaît. " * 20).encode("latin-1"))
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("not a folder\n", encoding="utf-8")

    data = path.read_bytes()
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(0).bytes(2000))
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    with np.load(path) as z:  # one byte flipped inside a stored array: its CRC no longer matches
        offset = data.find(z["model/rnn.weight_hh_l0"].tobytes())
    flipped = bytearray(data)
    flipped[offset + 5] ^= 0xFF
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    np.savez(tmp_path / "arrays.npz", weights=np.ones(3))

    from tinygrad_seq import nn
    from tinygrad_seq.train import TrainConfig, Trainer

    save_checkpoint(tmp_path / "linear.npz", model=nn.Linear(3, 2), step=1)  # a checkpoint, but not of a char-LM
    config = TrainConfig(hidden_size=8, steps=6, seq_len=8, batch_size=2, eval_every=3)
    Trainer(config, OTHER_TEXT).save(tmp_path / "other_text.npz")  # the same settings, another text
    return tmp_path


T = ["train", "--text", "text.txt", *TINY, "--no-progress"]
NEW_RUN = ["--checkpoint", "run.npz", "--force"]  # a run that would overwrite run.npz if it started
RESUME = ["--checkpoint", "run.npz", "--resume"]


def _case(args, *words, protect=None, id=None):
    """A bad command line, the words its error must contain, and the file it must leave untouched."""
    if id is None:
        shown = ["train ..."] + args[len(T):] if args[: len(T)] == T else args
        id = " ".join(shown) or "(no command)"
    return pytest.param(args, words, protect, id=id)



BAD_INPUT = [
    # the text
    _case([*T, "--text", "nope.txt", *NEW_RUN], "nope.txt", "does not exist", protect="run.npz"),
    _case([*T, "--text", "folder", *NEW_RUN], "folder", "directory", protect="run.npz"),
    _case([*T, "--text", "empty.txt", *NEW_RUN], "empty.txt", "empty", protect="run.npz"),
    _case([*T, "--text", "short.txt", *NEW_RUN], "too short", protect="run.npz"),
    _case([*T, "--text", "brief.txt", "--seq-len", "64", *NEW_RUN], "too short", "64", protect="run.npz",
          id="text shorter than one sequence"),
    _case([*T, "--text", "latin1.txt", *NEW_RUN], "latin1.txt", "utf-8", "0xe9", "encoding", protect="run.npz"),
    _case([*T, "--encoding", "klingon"], "klingon", "encoding"),
    # the checkpoint to resume
    _case([*T, *RESUME, "--hidden", "16"], "--hidden 16", "8", protect="run.npz", id="resume another size"),
    _case([*T, *RESUME, "--model", "gru"], "--model 'gru'", "lstm", protect="run.npz", id="resume another model"),
    _case([*T, *RESUME, "--lr", "0.1"], "--lr", protect="run.npz", id="resume another lr"),
    _case([*T, "--checkpoint", "other_text.npz", "--resume"], "another text", protect="other_text.npz"),
    _case([*T, "--checkpoint", "random.npz", "--resume"], "random.npz", "corrupt", protect="random.npz"),
    _case([*T, "--checkpoint", "truncated.npz", "--resume"], "truncated.npz", "corrupt", protect="truncated.npz"),
    _case([*T, "--checkpoint", "flipped.npz", "--resume"], "flipped.npz", "corrupt", protect="flipped.npz"),
    _case([*T, "--checkpoint", "arrays.npz", "--resume"], "not a tinygrad_seq checkpoint", protect="arrays.npz"),
    _case([*T, "--checkpoint", "text.txt", "--resume"], "text.txt", "not a .npz", protect="text.txt"),
    _case([*T, "--checkpoint", "linear.npz", "--resume"], "linear.npz", "char-lm", protect="linear.npz"),
    _case([*T, "--resume"], "--resume", "--checkpoint"),
    _case([*T, "--checkpoint", "gone.npz", "--resume"], "gone.npz", "does not exist"),
    # where to write
    _case([*T, "--checkpoint", "run.npz"], "run.npz", "already exists", "--resume", "--force", protect="run.npz"),
    _case([*T, "--checkpoint", "nowhere/run.npz"], "nowhere", "does not exist"),
    _case([*T, "--checkpoint", "folder"], "folder", "directory"),
    # nonsense hyper-parameters, each in a run that would otherwise overwrite run.npz
    *[_case([*T, flag, value, *NEW_RUN], flag, protect="run.npz") for flag, value in [
        ("--hidden", "-1"), ("--hidden", "0"), ("--hidden", "abc"), ("--layers", "0"), ("--batch", "0"),
        ("--seq-len", "0"), ("--steps", "0"), ("--steps", "-5"), ("--embedding", "0"), ("--eval-every", "0"),
        ("--lr", "0"), ("--lr", "-1"), ("--lr", "nan"), ("--lr", "inf"), ("--clip", "-1"), ("--clip", "nan"),
        ("--dropout", "1.5"), ("--seed", "-1"), ("--checkpoint-every", "0"), ("--optimizer", "lbfgs"),
        ("--model", "transformer"),
    ]],
    _case([*T, "--tbptt", "4", *NEW_RUN], "tbptt", "seq_len", protect="run.npz", id="tbptt shorter than seq-len"),
    _case([*T, "--momentum", "-1", *NEW_RUN], "momentum", protect="run.npz"),
    # sample
    _case(["sample", "gone.npz"], "gone.npz", "does not exist"),
    _case(["sample", "folder"], "folder", "directory"),
    *[_case(["sample", name], name, problem, protect=name) for name, problem in [
        ("random.npz", "corrupt"), ("truncated.npz", "corrupt"), ("flipped.npz", "corrupt"),
        ("arrays.npz", "not a tinygrad_seq checkpoint"), ("text.txt", "not a .npz"),
        ("linear.npz", "not saved from a character language model"),
    ]],
    _case(["sample", "run.npz", "--prime", "€#"], "--prime", "€#", protect="run.npz"),
    _case(["sample", "run.npz", "--length", "-1"], "--length", protect="run.npz"),
    _case(["sample", "run.npz", "--temperature", "-1"], "--temperature", protect="run.npz"),
    _case(["sample", "run.npz", "--temperature", "nan"], "--temperature", protect="run.npz"),
    _case(["sample", "run.npz", "--top-k", "0"], "--top-k", protect="run.npz"),
    _case(["sample", "run.npz", "--seed", "-1"], "--seed", protect="run.npz"),
    _case(["sample"], "checkpoint"),
    # render, check, demo, and the command itself
    _case(["render", "-o", "nowhere/g.svg"], "nowhere", "does not exist"),
    _case(["render", "-o", "g.pdf"], "pdf"),
    _case(["render", "--steps", "0", "-o", "g.svg"], "--steps"),
    _case(["render", "--model", "cnn", "-o", "g.svg"], "cnn"),
    _case(["render"], "-o"),
    _case(["check", "--hidden", "0"], "--hidden"),
    _case(["check", "--steps", "-2"], "--steps"),
    _case(["check", "--seed", "-1"], "--seed"),
    _case(["check", "--model", "cnn"], "cnn"),
    _case(["demo", "--out", "afile"], "afile"),
    _case(["demo", "--seconds", "0"], "--seconds"),
    _case([], "command"),
    _case(["bogus"], "bogus"),
]


@pytest.mark.parametrize("args, words, protect", BAD_INPUT)
def test_bad_input(workspace, args, words, protect):
    before = (workspace / protect).read_bytes() if protect else None
    r = run_cli(*args, cwd=workspace)
    assert_usage_error(r, *words)
    if protect:
        assert (workspace / protect).read_bytes() == before, f"a failing run changed {protect}"
    assert not [p for p in os.listdir(workspace) if p.endswith(".tmp")]


def test_a_diverging_run_exits_1_and_saves_nothing(workspace):
    """Not bad input but a failed run: SGD with an absurd step overflows the weights at once."""
    before = (workspace / "run.npz").read_bytes()
    r = run_cli(*T, "--optimizer", "sgd", "--lr", "1e300", "--clip", "0", *NEW_RUN, cwd=workspace)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "diverged at step 1" in lines[0] and "--lr" in lines[0] and "run.npz is as it was" in lines[0]
    assert (workspace / "run.npz").read_bytes() == before


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads a chmod-000 file anyway; unreadable texts are covered by the directory case")
def test_unreadable_text(workspace):
    locked = workspace / "locked.txt"
    locked.write_text(TEXT, encoding="utf-8")
    locked.chmod(0)
    try:
        assert_usage_error(run_cli(*T, "--text", "locked.txt", cwd=workspace), "locked.txt", "permission")
    finally:
        locked.chmod(0o644)


def test_encoding_flag_reads_a_latin1_file(workspace):
    r = run_cli(*T, "--text", "latin1.txt", "--encoding", "latin-1", "--checkpoint", "fr.npz", cwd=workspace)
    assert_ok(r)
    assert "é" in load_checkpoint(workspace / "fr.npz").vocab


# --------------------------------------------------------------------------- resume and Ctrl-C

# a 200-character text: 11 steps per epoch, so these runs cross an epoch boundary after the resumption;
# two layers with dropout (the random generator's state must be restored) and k2 = 12 > k1 = 8
RESUMABLE = ["--text", "text.txt", "--hidden", "6", "--layers", "2", "--dropout", "0.2", "--seq-len", "8",
             "--tbptt", "12", "--batch", "2", "--eval-every", "4", "--seed", "5", "--no-progress"]


def test_resume_gives_the_same_run_as_no_interruption(tmp_path):
    (tmp_path / "text.txt").write_text(TEXT[:200], encoding="utf-8")
    assert_ok(run_cli("train", *RESUMABLE, "--steps", "16", "--checkpoint", "whole.npz", cwd=tmp_path))
    assert_ok(run_cli("train", *RESUMABLE, "--steps", "8", "--checkpoint", "split.npz", cwd=tmp_path))
    assert load_checkpoint(tmp_path / "split.npz").step == 8
    r = run_cli("train", *RESUMABLE, "--steps", "16", "--checkpoint", "split.npz", "--resume", cwd=tmp_path)
    assert_ok(r)
    assert "resuming from step 8" in r.stdout

    whole, split = load_checkpoint(tmp_path / "whole.npz"), load_checkpoint(tmp_path / "split.npz")
    assert whole.step == split.step == 16
    for key in ("train_loss", "eval_step", "eval_loss"):
        assert len(whole.extra["history"][key]) > 0
        np.testing.assert_array_equal(split.extra["history"][key], whole.extra["history"][key], err_msg=key)
    assert whole.model.keys() == split.model.keys()
    for name in whole.model:
        np.testing.assert_array_equal(split.model[name], whole.model[name], err_msg=name)
    assert_same_tree(split.optimizer, whole.optimizer, "optimizer")  # Adam's moments and step counts
    assert_same_tree(split.extra["state"], whole.extra["state"], "carried state")
    assert whole.rng == split.rng, "the dropout masks' generator is where it would have been"


def assert_same_tree(a, b, where):
    """Nested dicts/lists of arrays and numbers, equal exactly."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_same_tree(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(x, y, f"{where}/{i}")
    else:
        np.testing.assert_array_equal(a, b, err_msg=where)


def test_ctrl_c_saves_a_checkpoint_that_resumes(tmp_path):
    (tmp_path / "text.txt").write_text(TEXT, encoding="utf-8")
    path = tmp_path / "run.npz"
    env = dict(os.environ, TGS_FAST="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + ([os.environ["PYTHONPATH"]] if "PYTHONPATH" in os.environ
                                                         else [])))
    args = ["train", "--text", "text.txt", "--hidden", "8", "--seq-len", "8", "--batch", "2", "--steps", "1000000",
            "--eval-every", "5", "--checkpoint", "run.npz"]  # the progress bar on, as a user sees it
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "tinygrad_seq", *args], cwd=tmp_path, env=env,
                                stdout=out, stderr=err)
        try:
            deadline = time.monotonic() + 120
            while not path.exists():  # saved every --eval-every steps by default, not only at the end
                assert proc.poll() is None, "the run ended before writing its first checkpoint"
                assert time.monotonic() < deadline, "no checkpoint after 120 s"
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    stdout, stderr = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    assert code == 130, f"exit code {code}\n{stdout}\n{stderr}"
    assert "Traceback" not in stderr and "--resume" in stderr
    stopped = load_checkpoint(path)
    assert 0 < stopped.step < 1000000
    assert len(stopped.extra["history"]["train_loss"]) == stopped.step

    r = run_cli("train", "--text", "text.txt", "--hidden", "8", "--seq-len", "8", "--batch", "2", "--no-progress",
                "--steps", stopped.step + 3, "--eval-every", "5", "--checkpoint", "run.npz", "--resume", cwd=tmp_path)
    assert_ok(r)
    assert f"resuming from step {stopped.step}" in r.stdout
    resumed = load_checkpoint(path)
    assert resumed.step == stopped.step + 3
    losses = resumed.extra["history"]["train_loss"]
    np.testing.assert_array_equal(losses[: stopped.step], stopped.extra["history"]["train_loss"])
