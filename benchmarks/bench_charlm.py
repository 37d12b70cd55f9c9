"""The same character-level LSTM trained by tinygrad_seq and by PyTorch, side by side.

Both start from identical weights (PyTorch loads tinygrad_seq's initial state
dict), read identical batches (the contiguous streams of data.py, the hidden
state carried and detached between chunks), take identical steps (Adam,
gradient-norm clipping) and are evaluated identically (bits per character on
the held-out tail of the default corpus, state carried across chunks).  The
tinygrad_seq side is the library's own ``Trainer``, the code the command line
runs.  So the two bits-per-character curves should agree to round-off in
float64 and closely in float32: the goal is within 1% at every evaluation.

    python benchmarks/bench_charlm.py                       # float32 and float64, 300 steps
    python benchmarks/bench_charlm.py --steps 1000 --dtype float32 --eval-every 100

Both run single-threaded by default (``--threads``): on a small shared machine
a BLAS thread pool fighting other processes makes timings meaningless.
"""

from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    p.add_argument("--threads", type=int, default=1, help="BLAS / torch threads for both sides (default 1)")
    p.add_argument("--cell", choices=["sequence", "fused", "composite"], default="sequence",
                   help="how our LSTM runs (default: sequence, as training does)")
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:  # thread counts must be fixed before numpy and torch load their BLAS
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tinygrad_seq.data import StreamBatches, default_corpus  # noqa: E402
from tinygrad_seq.train import TrainConfig, Trainer  # noqa: E402


class TorchCharLM(torch.nn.Module):
    """CharLM's architecture in PyTorch: one-hot → LSTM (batch first) → Linear; the same parameter names."""

    def __init__(self, vocab_size, hidden, layers):
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = torch.nn.LSTM(vocab_size, hidden, layers, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab_size)

    def forward(self, idx, state=None):
        x = torch.nn.functional.one_hot(idx, self.vocab_size).to(self.head.weight.dtype)
        out, state = self.rnn(x, state)
        return self.head(out), state


def torch_evaluate(model, ids, batch_size, seq_len):
    """The protocol of tinygrad_seq.lm.evaluate: contiguous streams, state carried, mean nats per character."""
    batches = StreamBatches(ids, batch_size, seq_len)
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for x, y in batches:
            logits, state = model(torch.from_numpy(x), state)
            total += torch.nn.functional.cross_entropy(
                logits.reshape(-1, model.vocab_size), torch.from_numpy(y).reshape(-1), reduction="sum"
            ).item()
            count += y.size
    return total / count


def run(dtype, args, text):
    config = TrainConfig(model="lstm", hidden_size=args.hidden, num_layers=1, dtype=dtype, batch_size=args.batch,
                         seq_len=args.seq_len, optimizer="adam", lr=args.lr, clip=args.clip, steps=args.steps,
                         eval_every=args.eval_every, seed=args.seed, cell=args.cell)
    ours = Trainer(config, text)
    theirs = TorchCharLM(len(ours.vocab), args.hidden, 1).to(getattr(torch, dtype))
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.model.state_dict().items()})
    opt = torch.optim.Adam(theirs.parameters(), lr=args.lr)

    # evaluation points: before training, then every eval_every steps
    curve_ours, curve_theirs = {}, {}
    t_ours = t_theirs = e_ours = e_theirs = 0.0

    def eval_both():
        nonlocal e_ours, e_theirs
        t = time.perf_counter()
        curve_ours[ours.step] = ours.evaluate()["bpc"]
        e_ours += time.perf_counter() - t
        t = time.perf_counter()
        theirs.eval()
        curve_theirs[ours.step] = torch_evaluate(theirs, ours.val_ids, config.eval_batch_size,
                                                 config.eval_seq_len) / math.log(2)
        theirs.train()
        e_theirs += time.perf_counter() - t

    eval_both()
    state = None
    n_chunks = len(ours.batches)
    for step in range(args.steps):
        t = time.perf_counter()
        ours.train_step()
        t_ours += time.perf_counter() - t

        t = time.perf_counter()
        j = step % n_chunks
        if j == 0:
            state = None
        x, y = ours.batches[j]
        opt.zero_grad()
        logits, state = theirs(torch.from_numpy(x), state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, theirs.vocab_size), torch.from_numpy(y).reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), args.clip)
        opt.step()
        state = tuple(s.detach() for s in state)
        t_theirs += time.perf_counter() - t

        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            eval_both()
    drift = max(
        float(np.abs(v - theirs.state_dict()[k].numpy()).max() / np.abs(v).max())
        for k, v in ours.model.state_dict().items()
    )
    return curve_ours, curve_theirs, (t_ours, t_theirs), (e_ours, e_theirs), ours, drift


def main(args):
    torch.set_num_threads(args.threads)
    text = default_corpus()
    print(f"default corpus: {len(text):,} characters; 1-layer LSTM, hidden {args.hidden}, one-hot input, "
          f"batch {args.batch} x seq_len {args.seq_len}, Adam lr {args.lr}, clip {args.clip}, {args.steps} steps, "
          f"{args.threads} thread(s)")
    worst_overall = 0.0
    for dtype in (["float32", "float64"] if args.dtype == "both" else [args.dtype]):
        ours_curve, theirs_curve, (t_o, t_t), (e_o, e_t), trainer, drift = run(dtype, args, text)
        chars = args.steps * args.batch * args.seq_len
        print(f"\n{dtype}: held-out bits per character ({len(trainer.val_ids):,} characters of the tail)")
        print(f"{'step':>6} | {'tinygrad_seq':>12} | {'PyTorch':>12} | {'rel. diff':>10}")
        print(f"{'-' * 6}-+-{'-' * 12}-+-{'-' * 12}-+-{'-' * 10}")
        worst = 0.0
        for step in ours_curve:
            a, b = ours_curve[step], theirs_curve[step]
            rel = abs(a - b) / b
            worst = max(worst, rel)
            print(f"{step:>6} | {a:>12.8f} | {b:>12.8f} | {rel:>10.2e}")
        print(f"max relative difference {worst:.2e} ({'within' if worst < 0.01 else 'OUTSIDE'} the 1% goal); "
              f"weights after the last step differ by at most {drift:.1e} (relative to each tensor's largest entry)")
        print(f"training wall time: tinygrad_seq {t_o:.1f} s ({chars / t_o:,.0f} chars/s), "
              f"PyTorch {t_t:.1f} s ({chars / t_t:,.0f} chars/s), ratio {t_o / t_t:.1f}x")
        print(f"evaluation wall time: tinygrad_seq {e_o:.1f} s, PyTorch {e_t:.1f} s ({len(ours_curve)} evaluations)")
        worst_overall = max(worst_overall, worst)
    return 0 if worst_overall < 0.01 else 1


if __name__ == "__main__":
    sys.exit(main(ARGS))
