"""The ``tinygrad-seq`` command: demo, train, sample, render, check.

Exit codes: 0 success, 1 a failed check or a diverged training run, 2 bad
usage, bad input or a file system that refuses (full, read-only: one line on
stderr, never a traceback), 130 stopped by Ctrl-C, 143 by SIGTERM, 129 by
SIGHUP (after saving).

The CLI sits on top of every layer: it imports viz and matplotlib only inside
the subcommands that draw, so ``tinygrad-seq check`` needs numpy alone.
"""

from __future__ import annotations

import argparse
import os
import sys

from .args import non_negative_int, positive_float, positive_int, probability

MODELS = ("rnn", "lstm", "gru")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
RENDERABLE = ("rnn", "lstm", "gru", "seq2seq-attention", "transformer")


class UsageError(Exception):
    """Bad input found by a subcommand: printed as one line, exit code 2."""


class RunFailed(Exception):
    """A run that went wrong without bad input (training diverged): printed as one line, exit code 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (the usage of ``train`` alone is a dozen)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tinygrad-seq",
        description="Train, sample, draw and check recurrent networks on a numpy autograd engine.",
        epilog="Start with:  tinygrad-seq demo        (about 2 minutes; --quick for 30 s)\n"
        "Each subcommand has --help with examples.",
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # ---- demo ----
    p = sub.add_parser(
        "demo", help="the guided tour: train a char-LSTM, sample, draw, check gradients", formatter_class=_formatter,
        description="Train a small character-level LSTM on Python's own reference text (shipped with every\n"
        "CPython), print samples before and after, and write the unrolled graph, the gradient-flow\n"
        "plot and the BPTT gradient check into --out.",
        epilog="examples:\n  tinygrad-seq demo\n  tinygrad-seq demo --quick --out tour",
    )
    p.add_argument("--out", default="demo_out", help="folder for the pictures and tables (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="a 30-second tour (less training)")
    p.add_argument("--seconds", type=positive_float,
                   help="training time budget in seconds (default 140, or 12 with --quick)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: %(default)s)")
    p.set_defaults(run=_run("demo"))

    # ---- train ----
    p = sub.add_parser(
        "train", help="train a character-level language model", formatter_class=_formatter,
        description="Train a char-level RNN/LSTM/GRU with truncated BPTT; evaluate bits per character on the\n"
        "held-out last 10%% of the text; checkpoint atomically; resume exactly; Ctrl-C saves and stops.",
        epilog="examples:\n"
        "  tinygrad-seq train --model lstm --steps 2000 --checkpoint lstm.npz\n"
        "  tinygrad-seq train --checkpoint lstm.npz --resume --steps 4000     # carry on to step 4000\n"
        "  tinygrad-seq train --model gru --text shakespeare.txt --hidden 256 --tbptt 128 --clip 1",
    )
    p.add_argument("--model", choices=MODELS, help="recurrent layer (default: lstm)")
    p.add_argument("--text", help="a text file to learn (default: Python's reference text, pydoc_data.topics)")
    p.add_argument("--encoding", default="utf-8", help="encoding of --text (default: %(default)s)")
    p.add_argument("--hidden", type=positive_int, help="hidden units per layer (default: 128)")
    p.add_argument("--layers", type=positive_int, help="stacked recurrent layers (default: 1)")
    p.add_argument("--embedding", type=positive_int, help="embedding size (default: one-hot input)")
    p.add_argument("--steps", type=positive_int, help="training steps in total (default: 1000)")
    p.add_argument("--seq-len", type=positive_int, help="characters per step and stream, k1 (default: 64)")
    p.add_argument("--batch", type=positive_int, help="parallel text streams (default: 32)")
    p.add_argument("--lr", type=positive_float, help="learning rate (default: 0.002)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer (default: adam)")
    p.add_argument("--momentum", type=float, help="momentum for sgd and rmsprop (default: 0)")
    p.add_argument("--clip", type=float, help="clip the gradient norm to this (default: 5; 0 turns clipping off)")
    p.add_argument("--tbptt", type=positive_int, help="steps backpropagated, k2 >= seq-len (default: seq-len)")
    p.add_argument("--dropout", type=probability, help="dropout between layers (default: 0)")
    p.add_argument("--dtype", choices=("float32", "float64"), help="parameter dtype (default: float32)")
    p.add_argument("--cell", choices=("sequence", "fused", "composite"),
                   help="one node per layer (fastest), fused cells, or op by op (default: sequence)")
    p.add_argument("--eval-every", type=positive_int, help="steps between held-out evaluations (default: 100)")
    p.add_argument("--seed", type=non_negative_int, help="random seed (default: 0)")
    p.add_argument("--checkpoint", help="save here (atomically) every --checkpoint-every steps and at the end")
    p.add_argument("--checkpoint-every", type=positive_int, help="steps between checkpoints (default: eval-every)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --checkpoint")
    p.add_argument("--force", action="store_true", help="overwrite an existing --checkpoint with a new run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one line per evaluation)")
    p.set_defaults(run=_run("train"))

    # ---- sample ----
    p = sub.add_parser(
        "sample", help="generate text from a trained checkpoint", formatter_class=_formatter,
        description="Feed the model its own output one character at a time.",
        epilog="examples:\n  tinygrad-seq sample lstm.npz --prime 'def ' --length 300 --temperature 0.7\n"
        "  tinygrad-seq sample lstm.npz --top-k 5 --seed 1",
    )
    p.add_argument("checkpoint", help="a checkpoint written by `tinygrad-seq train`")
    p.add_argument("--prime", default="", help="text the model reads first (default: a newline)")
    p.add_argument("--length", type=non_negative_int, default=300, help="characters to generate (default: 300)")
    p.add_argument("--temperature", type=float, default=0.8, help="softmax temperature; 0 = greedy (default: 0.8)")
    p.add_argument("--top-k", type=positive_int, help="draw only from the k most likely characters")
    p.add_argument("--seed", type=non_negative_int, help="random seed (default: a fresh draw)")
    p.set_defaults(run=_run("sample"))

    # ---- render ----
    p = sub.add_parser(
        "render", help="draw the unrolled computational graph of a small model", formatter_class=_formatter,
        description="Draw the graph that computes the loss of a small model unrolled over --steps time steps.\n"
        "SVG needs no system packages (graphviz-pure); PNG too; DOT needs no layout engine at all.\n"
        ".html writes the explorer: one self-contained page to pan, collapse scopes, read values and\n"
        "gradients, and step the backward pass through time.",
        epilog="examples:\n  tinygrad-seq render --model rnn --steps 4 -o rnn.svg\n"
        "  tinygrad-seq render --model lstm --steps 3 --collapse 't=*' -o lstm.svg\n"
        "  tinygrad-seq render --model rnn --backward -o grad.png\n"
        "  tinygrad-seq render --model lstm -o lstm.html        # the explorer, for a web browser\n"
        "  tinygrad-seq render --model seq2seq-attention --collapse '*_gate' -o s2s.svg",
    )
    p.add_argument("--model", choices=RENDERABLE, default="rnn", help="what to draw (default: %(default)s)")
    p.add_argument("--steps", type=positive_int, default=4, help="time steps to unroll (default: %(default)s)")
    p.add_argument("--collapse", action="append", metavar="PATTERN",
                   help="draw scopes matching PATTERN as one box ('t=*' each step, '*_gate' each gate, "
                   "a number = depth); repeatable")
    p.add_argument("--backward", action="store_true", help="draw the gradient flow (arrows reversed, ‖∂L/∂·‖)")
    p.add_argument("--vertical", action="store_true", help="time runs top to bottom instead of left to right")
    p.add_argument("--format", choices=("svg", "png", "dot", "html"),
                   help="picture format (default: from -o's suffix, else svg)")
    p.add_argument("-o", "--output", required=True, help="file to write")
    p.set_defaults(run=_run("render"))

    # ---- check ----
    p = sub.add_parser(
        "check", help="compare autodiff with the analytic BPTT formulas", formatter_class=_formatter,
        description="On a random model and batch (float64), compare every parameter gradient, every ∇h(t) L and\n"
        "every gate's slice between the engine's autodiff and the analytic BPTT formulas, plus finite\n"
        "differences of a few sampled weights. Exit code 1 if anything disagrees.",
        epilog="examples:\n  tinygrad-seq check --model lstm\n"
        "  tinygrad-seq check --model gru --hidden 16 --steps 20 --seed 3",
    )
    p.add_argument("--model", choices=MODELS, default="lstm", help="recurrent cell (default: %(default)s)")
    p.add_argument("--hidden", type=positive_int, default=8, help="hidden units (default: %(default)s)")
    p.add_argument("--steps", type=positive_int, default=6, help="time steps T (default: %(default)s)")
    p.add_argument("--batch", type=positive_int, default=2, help="sequences in the batch (default: %(default)s)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: %(default)s)")
    p.set_defaults(run=_run("check"))
    return parser


def _run(name):
    def run(args):
        from . import commands

        return getattr(commands, name)(args)

    return run


def _version():
    from .. import __version__

    return __version__


def _one_blas_thread():
    """Our matrices are small: a second BLAS thread only adds hand-off cost (and on a busy machine
    OpenBLAS's spinning threads made an LSTM step 25x slower)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)


def printable(text) -> str:
    """``text`` safe for a terminal: control and escape characters (from a vocabulary, a file name) shown as
    ``\\x1b``-style escapes instead of being obeyed; newlines and tabs kept."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in text)


def _say(command, e):
    """One line on stderr, whatever the message holds."""
    print(f"tinygrad-seq {command}: error: " + printable(" ".join(str(e).split())), file=sys.stderr)


def main(argv=None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a non-UTF-8 file name must not make printing fail
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors: argparse prints one line and exits with 2
    _one_blas_thread()
    try:
        code = args.run(args)
        sys.stdout.flush()  # here, not at exit: a full disk behind stdout (/dev/full) is reported below
        return code
    except UsageError as e:
        _say(args.command, e)
        return 2
    except RunFailed as e:
        _say(args.command, e)
        return 1
    except MemoryError as e:  # e.g. --hidden 100000: numpy cannot allocate the weights
        print(f"tinygrad-seq {args.command}: error: out of memory ({e}); choose smaller sizes", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ntinygrad-seq {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tinygrad-seq sample ... | head`
        _silence_stdout()
        return 0
    except OSError as e:  # a full or read-only file system, stdout on /dev/full, ...
        what = e.strerror or str(e)
        where = f" ({printable(repr(e.filename))})" if e.filename else " (writing the output)"
        _silence_stdout()
        print(f"tinygrad-seq {args.command}: error: {what}{where}", file=sys.stderr)
        return 2


def _silence_stdout():
    """Point stdout at /dev/null, so that Python's own flush at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
