"""Composite versus fused recurrent cells: forward + backward time of RNN, LSTM and GRU over 100 steps.

Workload (defaults): T = 100 steps, batch 32, input and hidden size 128,
loss = mean of output², gradients for the input and every weight.  Each
layer runs with ``cell='composite'`` (every gate an op of the graph) and
``cell='fused'`` (one node per step, analytic backward); PyTorch's module on the
same workload is printed for reference when torch is installed.

    python benchmarks/bench_rnn.py                      # float32, best of 5
    python benchmarks/bench_rnn.py --dtype float64 --repeats 3 --steps 200

Single-threaded BLAS by default (``--threads``): on a small shared machine a
BLAS thread pool fighting other processes makes timings meaningless.
"""

from __future__ import annotations

import argparse
import os
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    return p.parse_args(argv)


def best_time(run, repeats):
    """Best (forward, backward) wall time in seconds over ``repeats`` runs, after one warm-up."""
    run()
    times = [run() for _ in range(repeats)]
    return min(f for f, _ in times), min(b for _, b in times)


def forward_backward(model, x):
    """(forward seconds, backward seconds) of one pass of a recurrent layer (ours or torch's) on x."""
    t0 = time.perf_counter()
    out, _ = model(x)
    t1 = time.perf_counter()
    (out * out).mean().backward()
    t2 = time.perf_counter()
    model.zero_grad()
    return t1 - t0, t2 - t1


def main(argv=None):
    args = parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np

    import tinygrad_seq as tg
    from tinygrad_seq import nn

    tg.set_default_dtype(np.dtype(args.dtype))
    T, B, H = args.steps, args.batch, args.hidden
    x_np = np.random.default_rng(0).standard_normal((T, B, H)).astype(args.dtype)
    print(f"T={T}, B={B}, input=hidden={H}, {args.dtype}, {args.threads} BLAS thread(s), best of {args.repeats}")
    print(f"{'layer':6s} {'cell':10s} {'forward':>10s} {'backward':>10s} {'total':>10s}")

    for name in ("RNN", "LSTM", "GRU"):
        for cell in ("composite", "fused"):
            model = getattr(nn, name)(H, H, cell=cell)

            f, b = best_time(lambda model=model: forward_backward(model, tg.tensor(x_np, requires_grad=True)),
                             args.repeats)
            print(f"{name:6s} {cell:10s} {f * 1e3:8.1f}ms {b * 1e3:8.1f}ms {(f + b) * 1e3:8.1f}ms")
        try:
            import torch
        except ImportError:
            continue
        torch.set_num_threads(args.threads)
        model = getattr(torch.nn, name)(H, H).to(getattr(torch, args.dtype))

        f, b = best_time(lambda model=model: forward_backward(model, torch.tensor(x_np, requires_grad=True)),
                         args.repeats)
        print(f"{name:6s} {'(torch)':10s} {f * 1e3:8.1f}ms {b * 1e3:8.1f}ms {(f + b) * 1e3:8.1f}ms")


if __name__ == "__main__":
    main()
