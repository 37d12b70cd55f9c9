"""Real-time recurrent learning (Williams & Zipser 1989): the gradient carried forward in time.

BPTT stores the whole forward pass and walks it backwards.  RTRL stores
nothing from the past: alongside h(t) it carries the sensitivities
S(t) = ∂h(t)/∂θ (one H × P matrix per sequence, P = number of recurrent
parameters) and updates them with the chain rule *forwards*:

    S(t) = D(t) [ Wᵀ S(t−1) + ∂a(t)/∂θ |_(h(t−1) fixed) ]          D(t) = diag(φ'(a(t))), S(0) = 0
    ∇θ L = Σ_t (∂L(t)/∂h(t))ᵀ S(t)                                 ∂L(t)/∂h(t) = V ∇o(t) L (the direct part only)

(column-vector form, as in the lecture; the code holds S per sequence with the
row-form parameters of notation.py).  For the vanilla RNN the immediate term
is sparse: ∂a_j/∂U_dk = [j = k] x_d, ∂a_j/∂W_lk = [j = k] h_l(t−1), ∂a_j/∂b_k = [j = k].

The two give the same gradient (the sum of the same products, bracketed the
other way), but the costs differ:

    per step and sequence    BPTT                     RTRL
    time                     O(H² + HD)               O(H · P) = O(H⁴)        (Wᵀ S: H × H times H × P)
    memory                   O(H) per step, O(TH)     O(H · P) = O(H³), independent of T

RTRL suits online learning of small networks over unbounded time; BPTT wins
for anything else.  ``measure_cost`` times both; benchmarks/bench_rtrl.py prints the table.

``rtrl`` works for any cell (RNN, LSTM, GRU, variants): it reads the one-step
Jacobians ∂s(t)/∂s(t−1) and ∂s(t)/∂θ off the cell's one-step backward, one
unit vector at a time, and carries ∂s(t)/∂θ forward; what makes it RTRL is
that no past state is kept.  ``rnn_rtrl`` is the vanilla RNN written out.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from . import rnn
from .unroll import Cell, check_inputs, one_hot, softmax

RECURRENT = ("U", "W", "b")


def rnn_rtrl(x, y, p, h0=None, nonlinearity="tanh"):
    """Forward-mode gradient of the vanilla RNN's loss; returns (L, {'U', 'W', 'b', 'V', 'c'}).

    x: (T, N, D), y: (T, N), h0: (N, H) or None; p as in ``rnn.rnn_forward``.
    Sensitivities, per sequence n (j: the unit of h, then the parameter's own indices):
    SU (N, H, D, H) = ∂h_j/∂U_dk, SW (N, H, H, H) = ∂h_j/∂W_lk, Sb (N, H, H) = ∂h_j/∂b_k.
    """
    x, y = check_inputs(x, y, p, "bptt.rnn_rtrl")
    T, N, D = x.shape
    U, W, b, V, c = (p[k] for k in ("U", "W", "b", "V", "c"))
    H, C = W.shape[0], V.shape[1]
    h = np.zeros((N, H)) if h0 is None else np.asarray(h0, dtype=np.float64)
    SU, SW, Sb = np.zeros((N, H, D, H)), np.zeros((N, H, H, H)), np.zeros((N, H, H))
    eye = np.eye(H)
    grads = {k: np.zeros_like(p[k]) for k in ("U", "W", "b", "V", "c")}
    loss = 0.0
    for t in range(T):
        h_prev = h
        h = rnn.phi(x[t] @ U + h_prev @ W + b, nonlinearity)
        d = rnn.dphi(h, nonlinearity)[:, :, None]  # D(t), applied to the unit axis j
        # carried part Wᵀ S(t−1) (a matmul over the unit axis), plus the immediate part
        SU = d[..., None] * (_carry(W, SU) + eye[None, :, None, :] * x[t][:, None, :, None])
        SW = d[..., None] * (_carry(W, SW) + eye[None, :, None, :] * h_prev[:, None, :, None])
        Sb = d * (_carry(W, Sb) + eye[None])
        # the loss at t and its direct error on h(t): e(t) = V ∇o(t) L
        yhat = softmax(h @ V + c)
        loss -= float(np.log(yhat[np.arange(N), y[t]]).sum())
        do = yhat - one_hot(y[t], C)
        e = do @ V.T
        grads["U"] += np.einsum("nj,njdk->dk", e, SU)
        grads["W"] += np.einsum("nj,njlk->lk", e, SW)
        grads["b"] += np.einsum("nj,njk->k", e, Sb)
        grads["V"] += h.T @ do
        grads["c"] += do.sum(axis=0)
    return loss, grads


def _carry(W, S):
    """Σ_l W_lj S[n, l, ...]: how the sensitivities of h(t−1) reach a(t) (row form of Wᵀ S)."""
    N, H = S.shape[:2]
    return np.einsum("lj,nlq->njq", W, S.reshape(N, H, -1)).reshape(S.shape)


def rtrl(cell: Cell, x, y, p, state0=None):
    """Forward-mode gradient of any cell's loss, one sequence at a time; returns (L, {name: gradient}).

    For each sequence: J(t) = ∂s(t)/∂θ (S × P, s the stacked state (h[, c]))
    is carried forward as J(t) = A(t) J(t−1) + B(t), with A(t) = ∂s(t)/∂s(t−1)
    and B(t) = ∂s(t)/∂θ at fixed s(t−1) read off the cell's one-step backward.
    """
    x, y = check_inputs(x, y, p, f"bptt.rtrl ({cell.name})")
    T, N, _ = x.shape
    H, C = p["W"].shape[0], p["V"].shape[1]
    names = [k for k in p if k not in ("V", "c")]
    sizes = [p[k].size for k in names]
    S = len(cell.state_names) * H
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    loss = 0.0
    for n in range(N):
        state = tuple(np.zeros((1, H)) if state0 is None else np.asarray(s[n:n + 1], dtype=np.float64)
                      for s in (state0 or cell.state_names))
        J = np.zeros((S, sum(sizes)))
        for t in range(T):
            state, step = cell.step_forward(x[t, n:n + 1], state, p)
            A, B = _step_jacobians(cell, step, state, names, H)
            J = A @ J + B
            yhat = softmax(state[0] @ p["V"] + p["c"])[0]
            loss -= float(np.log(yhat[y[t, n]]))
            do = yhat - one_hot(y[t, n], C)
            e = np.zeros(S)
            e[:H] = p["V"] @ do  # only h feeds the readout; c's error is zero
            g = e @ J
            for k, piece in zip(names, np.split(g, np.cumsum(sizes)[:-1])):
                grads[k] += piece.reshape(p[k].shape)
            grads["V"] += np.outer(state[0][0], do)
            grads["c"] += do
    return loss, grads


def _step_jacobians(cell, step, state, names, H):
    """A = ∂s(t)/∂s(t−1) (S × S) and B = ∂s(t)/∂θ (S × P) for one sequence, row by row from the backward."""
    S = len(state) * H
    A, B = np.zeros((S, S)), []
    for u in range(S):
        unit = np.zeros((1, S))
        unit[0, u] = 1.0
        dstate = tuple(unit[:, k * H:(k + 1) * H] for k in range(len(state)))
        dprev, _, dp, _ = cell.step_backward(dstate, step)
        A[u] = np.concatenate([d[0] for d in dprev])
        B.append(np.concatenate([dp[k].ravel() if k in dp else np.zeros(0) for k in names]))
    return A, np.array(B)


# --------------------------------------------------------------------------- cost


@dataclasses.dataclass
class CostRow:
    hidden: int
    params: int  # P, recurrent parameters (U, W, b)
    bptt_ms: float  # one forward + backward over the sequence
    rtrl_ms: float
    bptt_flops: int  # multiply-adds per step and sequence, counted from the formulas
    rtrl_flops: int
    bptt_floats: int  # floats kept for the gradient: T·H (states) for BPTT
    rtrl_floats: int  # H·P (sensitivities) for RTRL

    @property
    def ratio(self) -> float:
        return self.rtrl_ms / self.bptt_ms


@dataclasses.dataclass
class CostTable:
    rows: list
    T: int
    N: int
    D: int
    C: int

    def __str__(self):
        head = (f"RTRL vs BPTT, vanilla RNN, T={self.T} steps, N={self.N}, D={self.D}, C={self.C} "
                "(time: best of repeats, one forward + gradient)")
        cols = f"{'H':>5}{'P':>8}{'BPTT ms':>10}{'RTRL ms':>10}{'ratio':>8}{'BPTT madd':>12}{'RTRL madd':>12}" \
               f"{'BPTT mem':>10}{'RTRL mem':>10}"
        lines = [head, cols]
        for r in self.rows:
            lines.append(f"{r.hidden:>5}{r.params:>8}{r.bptt_ms:>10.2f}{r.rtrl_ms:>10.2f}{r.ratio:>8.1f}"
                         f"{r.bptt_flops:>12.3g}{r.rtrl_flops:>12.3g}{r.bptt_floats:>10.3g}{r.rtrl_floats:>10.3g}")
        lines.append("madd: multiply-adds per step and sequence; mem: floats kept for the gradient "
                     "(BPTT: T·H states; RTRL: H·P sensitivities)")
        if len(self.rows) >= 2:
            a, b = self.rows[-2], self.rows[-1]
            k = np.log(b.hidden / a.hidden)
            lines.append(f"from H={a.hidden} to H={b.hidden}: RTRL time ×{b.rtrl_ms / a.rtrl_ms:.1f} "
                         f"(~H^{np.log(b.rtrl_ms / a.rtrl_ms) / k:.1f}), BPTT time ×{b.bptt_ms / a.bptt_ms:.1f} "
                         f"(~H^{np.log(b.bptt_ms / a.bptt_ms) / k:.1f}; small H: Python overhead dominates)")
        return "\n".join(lines)


def measure_cost(hidden_sizes=(4, 8, 16, 32), T=20, N=1, D=8, C=8, repeats=3, seed=0) -> CostTable:
    """Time BPTT (rnn_forward + rnn_backward) and RTRL (rnn_rtrl) for growing hidden sizes (same gradient)."""
    rng = np.random.default_rng(seed)
    rows = []
    for H in hidden_sizes:
        p = dict(U=rng.standard_normal((D, H)) / np.sqrt(D), W=rng.standard_normal((H, H)) / np.sqrt(H),
                 b=np.zeros(H), V=rng.standard_normal((H, C)) / np.sqrt(H), c=np.zeros(C))
        x, y = rng.standard_normal((T, N, D)), rng.integers(0, C, (T, N))
        bptt_s = _best(lambda: rnn.rnn_backward(rnn.rnn_forward(x, y, p)), repeats)  # noqa: B023
        rtrl_s = _best(lambda: rnn_rtrl(x, y, p), repeats)  # noqa: B023
        P = D * H + H * H + H
        rows.append(CostRow(
            hidden=H, params=P, bptt_ms=1e3 * bptt_s, rtrl_ms=1e3 * rtrl_s,
            bptt_flops=3 * (D * H + H * H) + 3 * H * C,  # forward, ∇h and ∇θ: three products of each matrix
            rtrl_flops=H * H * P + H * P + 2 * H * C,  # Wᵀ S, then e(t)ᵀ S, plus the readout
            bptt_floats=T * H, rtrl_floats=H * P,
        ))
    return CostTable(rows, T, N, D, C)


def _best(fn, repeats):
    best = float("inf")
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
