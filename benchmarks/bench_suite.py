"""The performance suite: tinygrad_seq next to PyTorch eager, torch.nn's fused modules and a numpy floor.

Every workload is forward + backward, float32, the same shapes and threads for all, in one process:

    W1  per-op overhead: 1,000 add/mul/tanh on 4×4 tensors
    W2  vanilla-RNN char-LM step, op by op: vocabulary 65, hidden 256, batch 32, T 64, cross-entropy
    W3  the same with an LSTM op by op; and nn.LSTM / nn.GRU / nn.RNN (65 → 256, T 64, B 32) as layers
    W4  one causal self-attention block + a 65-way cross-entropy (B 16, T 128, d 128)
    W5  peak memory of W3's nn.LSTM char-LM step at T = 64 and 512 (tracemalloc; with and without checkpointing)
    W6  a hidden-8 RNN unrolled 20,000 steps

Columns: ``ours`` (op by op through the engine), ``torch`` (eager, op by op, the same code), ``ours.nn`` and
``torch.nn`` (the fused layer where one exists: ours with cell='sequence'), ``numpy`` (a hand-written forward
and analytic backward with the input projection and weight gradients batched: the floor of a numpy engine).
Times are medians of interleaved runs (A, B, C, A, B, C, ...) so that a slow moment of a shared machine hits
all alike; ratios are ours / torch.  The BLAS, its kernel and the threads are printed (threadpoolctl).

    python benchmarks/bench_suite.py                   # 1 thread, full size; prints a table, then JSON
    python benchmarks/bench_suite.py --threads 2 --json suite.json
    python benchmarks/bench_suite.py --quick           # small sizes, few repeats: checks that it runs

This is a measuring tool, never a test: numbers from a busy machine say nothing.
"""

from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, choices=(1, 2), help="BLAS and torch threads (default 1)")
    p.add_argument("--quick", action="store_true", help="small sizes and 3 repeats: a smoke run")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per column (default 11; 3 with --quick)")
    p.add_argument("--only", default="", help="comma-separated workloads to run, e.g. W1,W3 (default: all)")
    p.add_argument("--json", default=None, help="also write the results to this file")
    p.add_argument("--no-freeze", action="store_true", help="skip gc.freeze() after the imports (see bench_ops.py)")
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else parse_args([])
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads its BLAS
    os.environ[_var] = str(ARGS.threads)

import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

import tinygrad_seq as tg  # noqa: E402
from tinygrad_seq import functional as F  # noqa: E402
from tinygrad_seq import nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_ops import chain_inputs, chain_numpy, chain_tg, chain_torch  # noqa: E402

TF = torch.nn.functional

# --------------------------------------------------------------------------- timing


def interleaved(columns, repeats):
    """{name: median seconds} of the callables in ``columns``, run in turn (one warm-up each)."""
    for run in columns.values():
        run()
    times = {name: [] for name in columns}
    for r in range(repeats):
        names = list(columns)
        names = names[r % len(names):] + names[:r % len(names)]  # rotate who goes first
        for name in names:
            gc.collect()
            t0 = time.perf_counter()
            columns[name]()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def peak_bytes(run):
    """Peak bytes that numpy allocated while ``run()`` ran (tracemalloc sees numpy, not torch)."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def rand(rng, *shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def uniform(rng, shape, H):
    s = 1 / np.sqrt(H)
    return rng.uniform(-s, s, shape).astype(np.float32)


def both(arrays):
    """The same arrays as tinygrad_seq and torch leaf tensors that require grad."""
    return ([tg.tensor(a, requires_grad=True) for a in arrays], [torch.tensor(a, requires_grad=True) for a in arrays])


# --------------------------------------------------------------------------- W2/W3: char-LM steps, op by op


def charlm_data(T, B, V, H, gates, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, (T + 1, B))
    onehot = np.eye(V, dtype=np.float32)[ids[:-1]]  # (T, B, V)
    params = [uniform(rng, (V, gates * H), H), uniform(rng, (H, gates * H), H), np.zeros(gates * H, np.float32),
              uniform(rng, (H, V), H), np.zeros(V, np.float32)]
    return onehot, ids[1:], params


def charlm_opbyop(lib, kind, onehot, targets, params):
    """One training step op by op; ``lib`` is tinygrad_seq or torch (the code is the same for both)."""
    W_x, W_h, b, W_y, c = params
    T, B, _ = onehot.shape
    H = W_h.shape[0]
    h = lib.zeros(B, H)
    cell = lib.zeros(B, H)
    logits = []
    for t in range(T):
        a = lib.tensor(onehot[t]) @ W_x + h @ W_h + b
        if kind == "rnn":
            h = a.tanh()
        else:
            i, f, g, o = a.chunk(4, 1)
            cell = f.sigmoid() * cell + i.sigmoid() * g.tanh()
            h = o.sigmoid() * cell.tanh()
        logits.append(h @ W_y + c)
    y = lib.stack(logits).reshape(T * B, -1)
    ce = F.cross_entropy if lib is tg else TF.cross_entropy
    ce(y, lib.tensor(targets.reshape(-1))).backward()


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def charlm_numpy(kind, onehot, targets, params):
    """The floor: forward and the analytic backward, input projection and weight gradients over all steps."""
    W_x, W_h, b, W_y, c = params
    T, B, V = onehot.shape
    H = W_h.shape[0]
    X = onehot.reshape(T * B, V)
    A = (X @ W_x + b).reshape(T, B, -1)
    Hs = np.zeros((T + 1, B, H), np.float32)
    Cs = np.zeros((T + 1, B, H), np.float32)
    for t in range(T):
        a = A[t]
        a += Hs[t] @ W_h
        if kind == "rnn":
            np.tanh(a, out=a)
            Hs[t + 1] = a
        else:
            a[:, :2 * H] = sigmoid(a[:, :2 * H])
            a[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])
            a[:, 3 * H:] = sigmoid(a[:, 3 * H:])
            Cs[t + 1] = a[:, H:2 * H] * Cs[t] + a[:, :H] * a[:, 2 * H:3 * H]
            Hs[t + 1] = a[:, 3 * H:] * np.tanh(Cs[t + 1])
    Y = Hs[1:].reshape(T * B, H) @ W_y + c
    P = np.exp(Y - Y.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    P[np.arange(T * B), targets.reshape(-1)] -= 1
    dY = P / (T * B)
    dW_y, dc = Hs[1:].reshape(T * B, H).T @ dY, dY.sum(0)
    dH = (dY @ W_y.T).reshape(T, B, H)
    dA = np.empty_like(A)
    dh, dcell = np.zeros((B, H), np.float32), np.zeros((B, H), np.float32)
    for t in range(T - 1, -1, -1):
        g = dH[t] + dh
        if kind == "rnn":
            dA[t] = g * (1 - A[t] * A[t])
        else:
            i, f, gg, o = A[t][:, :H], A[t][:, H:2 * H], A[t][:, 2 * H:3 * H], A[t][:, 3 * H:]
            tc = np.tanh(Cs[t + 1])
            dc = dcell + g * o * (1 - tc * tc)
            dA[t] = np.concatenate([dc * gg * i * (1 - i), dc * Cs[t] * f * (1 - f), dc * i * (1 - gg * gg),
                                    g * tc * o * (1 - o)], 1)
            dcell = dc * f
        dh = dA[t] @ W_h.T
    dA2 = dA.reshape(T * B, -1)
    return X.T @ dA2, Hs[:-1].reshape(T * B, H).T @ dA2, dA2.sum(0), dW_y, dc


def charlm_fused(lib_nn, kind, onehot, targets, model, head):
    out, _ = model(lib_nn.tensor(onehot))
    y = head(out).reshape(-1, head.weight.shape[0])
    ce = F.cross_entropy if lib_nn is tg else TF.cross_entropy
    ce(y, lib_nn.tensor(targets.reshape(-1))).backward()


def w2_w3(kind, T, B, V, H, repeats):
    gates = 1 if kind == "rnn" else 4
    onehot, targets, params = charlm_data(T, B, V, H, gates)
    ours, theirs = both(params)
    tg_model = (nn.RNN if kind == "rnn" else nn.LSTM)(V, H, cell="sequence")
    tg_head = nn.Linear(H, V)
    t_model = (torch.nn.RNN if kind == "rnn" else torch.nn.LSTM)(V, H)
    t_head = torch.nn.Linear(H, V)
    t_model.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in tg_model.state_dict().items()})
    return interleaved({
        "ours": lambda: charlm_opbyop(tg, kind, onehot, targets, ours),
        "torch": lambda: charlm_opbyop(torch, kind, onehot, targets, theirs),
        "ours.nn": lambda: charlm_fused(tg, kind, onehot, targets, tg_model, tg_head),
        "torch.nn": lambda: charlm_fused(torch, kind, onehot, targets, t_model, t_head),
        "numpy": lambda: charlm_numpy(kind, onehot, targets, params),
    }, repeats)


# --------------------------------------------------------------------------- W3 layers, W5 memory


def layer_step(model, x):
    out, _ = model(x)
    (out * out).mean().backward()


def w3_layers(T, B, D, H, repeats):
    rng = np.random.default_rng(0)
    x = rand(rng, T, B, D)
    rows = {}
    for name in ("LSTM", "GRU", "RNN"):
        seq = getattr(nn, name)(D, H, cell="sequence")
        step = getattr(nn, name)(D, H, cell="fused")
        theirs = getattr(torch.nn, name)(D, H)
        theirs.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in seq.state_dict().items()})
        columns = {"ours.nn": lambda m=seq: layer_step(m, tg.tensor(x)),
                   "ours.fused-steps": lambda m=step: layer_step(m, tg.tensor(x)),
                   "torch.nn": lambda m=theirs: layer_step(m, torch.tensor(x))}
        if name == "LSTM":
            columns["numpy"] = lambda m=seq: lstm_layer_numpy(x, m)
        rows[f"nn.{name}"] = interleaved(columns, repeats)
    return rows


def lstm_layer_numpy(x, model):
    """The floor for nn.LSTM + mean(out²): forward, analytic backward, batched products."""
    W_ih, W_hh = model.weight_ih_l0.data, model.weight_hh_l0.data
    b = model.bias_ih_l0.data + model.bias_hh_l0.data
    T, B, D = x.shape
    H = W_hh.shape[1]
    A = (x.reshape(T * B, D) @ W_ih.T + b).reshape(T, B, 4 * H)
    Hs = np.zeros((T + 1, B, H), np.float32)
    Cs = np.zeros((T + 1, B, H), np.float32)
    for t in range(T):
        a = A[t]
        a += Hs[t] @ W_hh.T
        a[:, :2 * H] = sigmoid(a[:, :2 * H])
        a[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])
        a[:, 3 * H:] = sigmoid(a[:, 3 * H:])
        Cs[t + 1] = a[:, H:2 * H] * Cs[t] + a[:, :H] * a[:, 2 * H:3 * H]
        Hs[t + 1] = a[:, 3 * H:] * np.tanh(Cs[t + 1])
    dH = Hs[1:] * (2 / Hs[1:].size)
    dA = np.empty_like(A)
    dh, dcell = np.zeros((B, H), np.float32), np.zeros((B, H), np.float32)
    for t in range(T - 1, -1, -1):
        g = dH[t] + dh
        i, f, gg, o = A[t][:, :H], A[t][:, H:2 * H], A[t][:, 2 * H:3 * H], A[t][:, 3 * H:]
        tc = np.tanh(Cs[t + 1])
        dc = dcell + g * o * (1 - tc * tc)
        dA[t] = np.concatenate([dc * gg * i * (1 - i), dc * Cs[t] * f * (1 - f), dc * i * (1 - gg * gg),
                                g * tc * o * (1 - o)], 1)
        dcell = dc * f
        dh = dA[t] @ W_hh
    dA2 = dA.reshape(T * B, -1)
    return dA2.T @ x.reshape(T * B, D), dA2.T @ Hs[:-1].reshape(T * B, H), dA2.sum(0), dA2 @ W_ih


def w5_memory(Ts, B, V, H, repeats):
    return {f"T={T}": w5_row(T, B, V, H, repeats) for T in Ts}


def w5_row(T, B, V, H, repeats):
    """W3's nn.LSTM char-LM step (readout and cross-entropy included) at length T: peak bytes and time."""
    onehot, targets, params = charlm_data(T, B, V, H, 4)
    k = max(1, int(round(np.sqrt(T))))
    full = nn.LSTM(V, H, cell="sequence")
    ck = nn.LSTM(V, H, cell="sequence", grad_checkpoint_every=k)
    ck.load_state_dict(full.state_dict())
    head = nn.Linear(H, V)
    step = {"full": lambda: charlm_fused(tg, "lstm", onehot, targets, full, head),
            "checkpoint": lambda: charlm_fused(tg, "lstm", onehot, targets, ck, head)}
    row = {"ours.nn": peak_bytes(step["full"]),
           f"ours.nn checkpoint k={k}": peak_bytes(step["checkpoint"]),
           "numpy": peak_bytes(lambda: charlm_numpy("lstm", onehot, targets, params))}
    times = interleaved(step, repeats)
    row["checkpoint time / full time"] = times["checkpoint"] / times["full"]
    return row


# --------------------------------------------------------------------------- W4: causal attention block


def attention_opbyop(lib, X, targets, params):
    """q, k, v projections, causal softmax(q kᵀ/√d) v, output projection, 65-way cross-entropy."""
    Wq, Wk, Wv, Wo, Wy = params
    B, T, d = X.shape
    x = lib.tensor(X)
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    mask = lib.tensor(np.triu(np.full((T, T), -np.inf, np.float32), 1))
    s = q @ k.transpose(1, 2) * (1 / np.sqrt(d)) + mask
    p = s.softmax(-1) if lib is tg else s.softmax(dim=-1)
    y = ((p @ v) @ Wo @ Wy).reshape(B * T, -1)
    (F.cross_entropy if lib is tg else TF.cross_entropy)(y, lib.tensor(targets.reshape(-1))).backward()


def attention_sdpa(lib, X, targets, params):
    Wq, Wk, Wv, Wo, Wy = params
    B, T, d = X.shape
    x = lib.tensor(X)
    sdpa = F.scaled_dot_product_attention if lib is tg else TF.scaled_dot_product_attention
    y = (sdpa(x @ Wq, x @ Wk, x @ Wv, is_causal=True) @ Wo @ Wy).reshape(B * T, -1)
    (F.cross_entropy if lib is tg else TF.cross_entropy)(y, lib.tensor(targets.reshape(-1))).backward()


def attention_numpy(X, targets, params):
    Wq, Wk, Wv, Wo, Wy = params
    B, T, d = X.shape
    scale = float(1 / np.sqrt(d))  # a Python float: a numpy float64 scalar would make S float64 (NEP 50)
    Q, K, Vv = X @ Wq, X @ Wk, X @ Wv
    S = Q @ K.transpose(0, 2, 1) * scale + np.triu(np.full((T, T), -np.inf, np.float32), 1)
    P = np.exp(S - S.max(-1, keepdims=True))
    P /= P.sum(-1, keepdims=True)
    A = P @ Vv
    O = A @ Wo
    Y = (O @ Wy).reshape(B * T, -1)
    G = np.exp(Y - Y.max(1, keepdims=True))
    G /= G.sum(1, keepdims=True)
    G[np.arange(B * T), targets.reshape(-1)] -= 1
    dY = (G / (B * T)).reshape(B, T, -1)
    dWy = O.reshape(B * T, -1).T @ dY.reshape(B * T, -1)
    dO = dY @ Wy.T
    dWo = A.reshape(B * T, -1).T @ dO.reshape(B * T, -1)
    dA = dO @ Wo.T
    dP = dA @ Vv.transpose(0, 2, 1)
    dV = P.transpose(0, 2, 1) @ dA
    dS = P * (dP - (dP * P).sum(-1, keepdims=True)) * scale
    dQ, dK = dS @ K, dS.transpose(0, 2, 1) @ Q
    X2 = X.reshape(B * T, d)
    return [X2.T @ g.reshape(B * T, d) for g in (dQ, dK, dV)] + [dWo, dWy]


def w4(B, T, d, V, repeats):
    rng = np.random.default_rng(0)
    X = rand(rng, B, T, d)
    targets = rng.integers(0, V, (B, T))
    params = [uniform(rng, (d, d), d) for _ in range(4)] + [uniform(rng, (d, V), d)]
    ours, theirs = both(params)
    return interleaved({
        "ours": lambda: attention_opbyop(tg, X, targets, ours),
        "torch": lambda: attention_opbyop(torch, X, targets, theirs),
        "ours.nn": lambda: attention_sdpa(tg, X, targets, ours),
        "torch.nn": lambda: attention_sdpa(torch, X, targets, theirs),
        "numpy": lambda: attention_numpy(X, targets, params),
    }, repeats)


# --------------------------------------------------------------------------- W6: a long thin unroll


def long_rnn_opbyop(lib, xs, params):
    W_x, W_h, b = params
    h = lib.zeros(1, W_h.shape[0])
    for t in range(xs.shape[0]):
        h = (lib.tensor(xs[t]) @ W_x + h @ W_h + b).tanh()
    (h * h).sum().backward()


def long_rnn_numpy(xs, params):
    W_x, W_h, b = params
    T, H = xs.shape[0], W_h.shape[0]
    A = (xs.reshape(T, -1) @ W_x + b).reshape(T, 1, H)
    Hs = np.zeros((T + 1, 1, H), np.float32)
    for t in range(T):
        Hs[t + 1] = np.tanh(A[t] + Hs[t] @ W_h)
    dh = 2 * Hs[T]
    dA = np.empty_like(A)
    for t in range(T - 1, -1, -1):
        dA[t] = dh * (1 - Hs[t + 1] * Hs[t + 1])
        dh = dA[t] @ W_h.T
    dA2 = dA.reshape(T, H)
    return xs.reshape(T, -1).T @ dA2, Hs[:-1].reshape(T, H).T @ dA2, dA2.sum(0)


def long_rnn_fused(lib_nn, model, xs):
    _, h = model(lib_nn.tensor(xs))
    (h * h).sum().backward()


def w6(T, H, repeats):
    rng = np.random.default_rng(0)
    xs = rand(rng, T, 1, H, scale=0.5)
    params = [uniform(rng, (H, H), H), uniform(rng, (H, H), H), np.zeros(H, np.float32)]
    ours, theirs = both(params)
    tg_model = nn.RNN(H, H, cell="sequence")
    t_model = torch.nn.RNN(H, H)
    t_model.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in tg_model.state_dict().items()})
    return interleaved({
        "ours": lambda: long_rnn_opbyop(tg, xs, ours),
        "torch": lambda: long_rnn_opbyop(torch, xs, theirs),
        "ours.nn": lambda: long_rnn_fused(tg, tg_model, xs),
        "torch.nn": lambda: long_rnn_fused(torch, t_model, xs),
        "numpy": lambda: long_rnn_numpy(xs, params),
    }, repeats)


# --------------------------------------------------------------------------- W1


def w1(n_ops, repeats):
    inputs = chain_inputs(n_ops)
    return interleaved({"ours": lambda: chain_tg(*inputs), "torch": lambda: chain_torch(*inputs),
                        "numpy": lambda: chain_numpy(*inputs)}, repeats)


# --------------------------------------------------------------------------- report


def environment():
    blas = [{k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "filepath")}
            for info in threadpool_info()]
    return {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "threads": ARGS.threads, "torch_threads": torch.get_num_threads(), "blas": blas,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}


def print_time_row(name, row):
    cells = "  ".join(f"{k} {v * 1e3:9.2f} ms" for k, v in row.items())
    ratios = []
    if "ours" in row and "torch" in row:
        ratios.append(f"ours/torch {row['ours'] / row['torch']:.2f}×")
    if "ours.nn" in row and "torch.nn" in row:
        ratios.append(f"ours.nn/torch.nn {row['ours.nn'] / row['torch.nn']:.2f}×")
    if "ours.nn" in row and "numpy" in row:
        ratios.append(f"ours.nn/numpy {row['ours.nn'] / row['numpy']:.2f}×")
    print(f"{name:<14} {cells}\n{'':<14} {'   '.join(ratios)}")


def main():
    q, repeats = ARGS.quick, ARGS.repeats or (3 if ARGS.quick else 11)
    only = {w.strip().upper() for w in ARGS.only.split(",") if w.strip()}
    torch.set_num_threads(ARGS.threads)
    if not ARGS.no_freeze:  # torch's import leaves ~150,000 objects that every full collection would re-scan
        gc.freeze()  # (that cost belongs to importing torch here, not to either engine: see bench_ops.py)
    env = environment()
    print(f"numpy {env['numpy']}, torch {env['torch']}, {env['machine']}, {ARGS.threads} thread(s), "
          f"{repeats} interleaved runs per column, float32" + (" (QUICK: sizes cut, do not quote)" if q else ""))
    for b in env["blas"]:
        print(f"  {b['internal_api']} {b['version']} kernel {b['architecture']}, {b['num_threads']} thread(s)")
    frozen = f"  gc.freeze() after the imports: {gc.get_freeze_count():,} objects (mostly torch's) out of its view"
    print("  gc.freeze() skipped" if ARGS.no_freeze else frozen)
    T, T6 = (8, 500) if q else (64, 20000)
    plan = {
        "W1": lambda: {"1,000 ops 4×4": w1(150 if q else 1000, repeats)},
        "W2": lambda: {"RNN char-LM": w2_w3("rnn", T, 32, 65, 256, repeats)},
        "W3": lambda: {"LSTM char-LM": w2_w3("lstm", T, 32, 65, 256, repeats), **w3_layers(T, 32, 65, 256, repeats)},
        "W4": lambda: {"causal attn": w4(4 if q else 16, 32 if q else 128, 128, 65, repeats)},
        "W5": lambda: w5_memory((16, 64) if q else (64, 512), 32, 65, 256, max(3, repeats // 3)),
        "W6": lambda: {f"RNN h8 T={T6}": w6(T6, 8, max(3, repeats // 3))},
    }
    results = {"environment": env, "quick": q, "repeats": repeats}
    with threadpool_limits(ARGS.threads):
        for w, run in plan.items():
            if only and w not in only:
                continue
            rows = run()
            results[w] = rows
            print(f"\n{w}")
            for name, row in rows.items():
                if w == "W5":
                    ratio = row.pop("checkpoint time / full time")
                    mib = "  ".join(f"{k} {v / 2**20:8.1f} MiB" for k, v in row.items())
                    vals = list(row.values())
                    print(f"{name:<14} {mib}\n{'':<14} ours/numpy {vals[0] / vals[2]:.2f}×   "
                          f"checkpoint cuts {vals[0] / vals[1]:.2f}×   at {ratio:.2f}× the time")
                    row["checkpoint time / full time"] = ratio
                else:
                    print_time_row(name, row)
    text = json.dumps(results, indent=1, default=str)
    print("\n" + text)
    if ARGS.json:
        with open(ARGS.json, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
