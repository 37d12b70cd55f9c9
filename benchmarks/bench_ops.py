"""Per-op overhead of tinygrad_seq next to PyTorch eager and hand-written numpy.

Two workloads, each run forward + backward by all three in one process:

* chain: 1,000 ops (add, mul, tanh in turn) on 4x4 float32 tensors.  The
  arrays are so small that the arithmetic is free: what is measured is the
  bookkeeping of recording an op and running its backward rule.
* lstm: an LSTM cell unrolled over 100 steps (batch 32, input and hidden 128),
  loss = mean of h(t)² over all steps, gradients for every weight.  Here the
  matrix products start to matter and Python overhead should be a small part.

The numpy column is forward and backward written out by hand (no graph at
all): the floor any numpy-based engine is compared against.

    python benchmarks/bench_ops.py            # defaults: median of 15 runs
    python benchmarks/bench_ops.py --repeats 5 --ops 300

Everything runs on one thread (numpy's BLAS and torch alike), so the
comparison is of per-op overhead and arithmetic, not of parallelism.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # must be set before numpy loads its BLAS
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import tinygrad_seq as tg  # noqa: E402

# --------------------------------------------------------------------------- workloads


def chain_inputs(n_ops, seed=0):
    """x (4, 4) and per-step constants: b for add, w for mul.  Values stay small so tanh' stays near 1
    and the backward signal never underflows to subnormal floats (which would time the FPU, not the engine)."""
    rng = np.random.default_rng(seed)
    x = (0.1 * rng.standard_normal((4, 4))).astype(np.float32)
    b = (0.01 * rng.standard_normal((4, 4))).astype(np.float32)
    w = (1 + 0.01 * rng.standard_normal((4, 4))).astype(np.float32)
    return x, b, w, n_ops


def chain_tg(x, b, w, n_ops):
    x, b, w = (tg.tensor(a, requires_grad=True) for a in (x, b, w))
    h = x
    for i in range(n_ops):
        k = i % 3
        h = h + b if k == 0 else h * w if k == 1 else h.tanh()
    h.sum().backward()
    return x.grad.data


def chain_torch(x, b, w, n_ops):
    x, b, w = (torch.tensor(a, requires_grad=True) for a in (x, b, w))
    h = x
    for i in range(n_ops):
        k = i % 3
        h = h + b if k == 0 else h * w if k == 1 else h.tanh()
    h.sum().backward()
    return x.grad.numpy()


def chain_numpy(x, b, w, n_ops):
    """The same chain with its backward written by hand: keep what each step's derivative needs."""
    saved, h = [], x
    for i in range(n_ops):
        k = i % 3
        if k == 0:
            h = h + b
        elif k == 1:
            saved.append(h)  # d(h*w)/dw needs h
            h = h * w
        else:
            h = np.tanh(h)
            saved.append(h)  # d tanh / dh = 1 - tanh²
    g = np.ones_like(h)
    gb, gw = np.zeros_like(b), np.zeros_like(w)
    for i in reversed(range(n_ops)):
        k = i % 3
        if k == 0:
            gb += g
        elif k == 1:
            h_in = saved.pop()
            gw += g * h_in
            g = g * w
        else:
            t = saved.pop()
            g = g * (1 - t * t)
    return g


def lstm_inputs(steps, batch, hidden, seed=0):
    rng = np.random.default_rng(seed)
    s = 1 / np.sqrt(hidden)
    xs = rng.standard_normal((steps, batch, hidden)).astype(np.float32)
    W = rng.uniform(-s, s, (hidden, 4 * hidden)).astype(np.float32)  # input -> gates (i, f, g, o)
    U = rng.uniform(-s, s, (hidden, 4 * hidden)).astype(np.float32)  # hidden -> gates
    bias = np.zeros(4 * hidden, np.float32)
    return xs, W, U, bias


def lstm_tg(xs, W, U, bias):
    W, U, bias = (tg.tensor(a, requires_grad=True) for a in (W, U, bias))
    T, N, H = xs.shape
    h = c = tg.zeros(N, H)
    loss = 0
    for t in range(T):
        z = tg.tensor(xs[t]) @ W + h @ U + bias
        i, f, g, o = z.chunk(4, dim=1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        loss = loss + (h * h).mean()
    (loss / T).backward()
    return W.grad.data


def lstm_torch(xs, W, U, bias):
    W, U, bias = (torch.tensor(a, requires_grad=True) for a in (W, U, bias))
    T, N, H = xs.shape
    h = c = torch.zeros(N, H)
    loss = 0
    for t in range(T):
        z = torch.from_numpy(xs[t]) @ W + h @ U + bias
        i, f, g, o = z.chunk(4, dim=1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        loss = loss + (h * h).mean()
    (loss / T).backward()
    return W.grad.numpy()


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm_numpy(xs, W, U, bias):
    """The LSTM with backpropagation through time written out by hand."""
    T, N, H = xs.shape
    h = c = np.zeros((N, H), np.float32)
    cache = []
    for t in range(T):
        z = xs[t] @ W + h @ U + bias
        i, f, g, o = _sigmoid(z[:, :H]), _sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), _sigmoid(z[:, 3 * H:])
        c_prev, h_prev = c, h
        c = f * c + i * g
        tc = np.tanh(c)
        h = o * tc
        cache.append((h_prev, c_prev, i, f, g, o, tc))
    dW, dU, db = np.zeros_like(W), np.zeros_like(U), np.zeros_like(bias)
    dh_next = np.zeros((N, H), np.float32)
    dc_next = np.zeros((N, H), np.float32)
    scale = np.float32(2 / (T * N * H))
    for t in reversed(range(T)):
        h_prev, c_prev, i, f, g, o, tc = cache[t]
        h = o * tc
        dh = dh_next + scale * h  # d/dh of mean(h²)/T, plus what flows back from step t+1
        do = dh * tc
        dc = dc_next + dh * o * (1 - tc * tc)
        di, df, dg = dc * g, dc * c_prev, dc * i
        dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)], axis=1)
        dW += xs[t].T @ dz
        dU += h_prev.T @ dz
        db += dz.sum(0)
        dh_next = dz @ U.T
        dc_next = dc * f
    return dW


# --------------------------------------------------------------------------- timing


def median_times(fns, args, repeats):
    """Median wall time of each function over ``repeats`` rounds.

    The functions take turns within each round, so a burst of load from other
    processes hits all of them alike; the median ignores the worst rounds but
    still counts regular costs such as the garbage collections an engine's
    allocations trigger.
    """
    times = {name: [] for name in fns}
    for f in fns.values():
        f(*args)  # warm up caches and lazy imports
    for _ in range(repeats):
        for name, f in fns.items():
            t0 = time.perf_counter()
            f(*args)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def check_agreement(name, results):
    ref = results["numpy"]
    for k, v in results.items():
        if not np.allclose(v, ref, rtol=1e-3, atol=1e-5):
            raise AssertionError(f"{name}: {k} disagrees with numpy by {np.abs(v - ref).max():.2e}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ops", type=int, default=1000, help="length of the add/mul/tanh chain (default 1000)")
    p.add_argument("--steps", type=int, default=100, help="LSTM time steps (default 100)")
    p.add_argument("--batch", type=int, default=32, help="LSTM batch size (default 32)")
    p.add_argument("--hidden", type=int, default=128, help="LSTM input and hidden size (default 128)")
    p.add_argument("--repeats", type=int, default=15, help="timed runs per entry; the median is reported (default 15)")
    p.add_argument("--no-freeze", action="store_true", help="skip gc.freeze(), to see what it changes")
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    # Importing torch creates several hundred thousand Python objects.  Python's cyclic garbage collector
    # walks all of them at every full collection, and an engine that allocates a few objects per op
    # triggers such collections regularly: that cost belongs to torch's import, not to either engine.
    # gc.freeze() moves every object alive now out of the collector's view, so both run as they would alone.
    if not args.no_freeze:
        gc.freeze()

    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
          f"tinygrad_seq {tg.__version__}; one thread each; median of {args.repeats} runs")
    if args.no_freeze:
        print(f"gc.freeze() skipped: full collections re-scan all {len(gc.get_objects()):,} objects of the imports")
    else:
        print(f"gc.freeze() called after the imports: the {gc.get_freeze_count():,} objects alive then (mostly "
              "torch's) are not re-scanned by every full garbage collection, so neither engine pays for the other")
    print()

    workloads = {
        f"chain of {args.ops} add/mul/tanh, 4x4 f32": (
            chain_inputs(args.ops), {"tinygrad_seq": chain_tg, "torch": chain_torch, "numpy": chain_numpy},
            args.ops, "us/op",
        ),
        f"LSTM {args.steps} steps, batch {args.batch}, hidden {args.hidden}": (
            lstm_inputs(args.steps, args.batch, args.hidden),
            {"tinygrad_seq": lstm_tg, "torch": lstm_torch, "numpy": lstm_numpy}, args.steps, "us/step",
        ),
    }
    header = f"{'workload (forward + backward)':44s} {'unit':>8s} {'tinygrad_seq':>13s} {'torch':>9s} {'numpy':>9s}" \
             f" {'tg/torch':>9s} {'tg/numpy':>9s}"
    print(header)
    print("-" * len(header))
    for name, (inputs, fns, count, unit) in workloads.items():
        check_agreement(name, {k: f(*inputs) for k, f in fns.items()})
        us = {k: t / count * 1e6 for k, t in median_times(fns, inputs, args.repeats).items()}
        print(f"{name:44s} {unit:>8s} {us['tinygrad_seq']:13.1f} {us['torch']:9.1f} {us['numpy']:9.1f}"
              f" {us['tinygrad_seq'] / us['torch']:9.2f} {us['tinygrad_seq'] / us['numpy']:9.2f}")


if __name__ == "__main__":
    main()
