"""The deep-transition RNN (Pascanu et al. 2014) and its backward pass through time, in the lecture's notation.

The transition h(t−1) → h(t) is an MLP of L layers.  Forward, for one sequence in the lecture's
column vectors (left) and for a batch of N sequences as rows (right, what the code computes):

    a_1(t) = b_1 + W_1ᵀ h(t−1) + Uᵀ x(t)          a_1(t) = x(t) U + h(t−1) W_1 + b_1           (N, S)
    a_k(t) = b_k + W_kᵀ z_{k−1}(t)                a_k(t) = z_{k−1}(t) W_k + b_k                 k = 2 … L
             [+ W_sᵀ h(t−1) when k = L]                    [+ h(t−1) W_s]                         the shortcut
    z_k(t) = φ(a_k(t)),   h(t) = z_L(t)                                                          (N, H)
    o(t) = c + Vᵀ h(t),   ŷ(t) = softmax(o(t)),   L = Σ_t L(t),   L(t) = −log ŷ_{y(t)}(t)

φ = tanh (or relu).  Backward, with D_k(t) = diag(φ'(a_k(t))) = diag(1 − z_k(t)²) for tanh:

    ∇o(t) L   = ŷ(t) − onehot(y(t))
    ∇h(t) L   = V ∇o(t) L + W_1 ∇a_1(t+1) L [+ W_s ∇a_L(t+1) L]      h(t) feeds o(t) and step t+1's layers 1 (and L)
    ∇a_L(t) L = D_L(t) ∇h(t) L
    ∇a_k(t) L = D_k(t) W_{k+1} ∇a_{k+1}(t) L,     k = L−1 … 1        back down the layers of one step
    ∇U = Σ_t x(t) ∇a_1(t)ᵀ       ∇W_1 = Σ_t h(t−1) ∇a_1(t)ᵀ       ∇b_1 = Σ_t ∇a_1(t)
    ∇W_k = Σ_t z_{k−1}(t) ∇a_k(t)ᵀ                                 ∇b_k = Σ_t ∇a_k(t)
    ∇W_s = Σ_t h(t−1) ∇a_L(t)ᵀ    ∇V = Σ_t h(t) ∇o(t)ᵀ              ∇c = Σ_t ∇o(t) L

(∇h(T) L has no term from step T+1; ∇h(0) L, the initial state's, has no V term.)  Read the
second and fourth lines together: one step back in time is

    ∂h(t)/∂h(t−1) = D_L W_Lᵀ D_{L−1} W_{L−1}ᵀ ⋯ D_1 W_1ᵀ  [+ D_L W_sᵀ]

L factors D W per step without the shortcut, so a gradient travelling k steps back crosses
k·L of them and vanishes L times faster (in the exponent) than in the plain RNN; the shortcut
adds a term with a single factor, the plain RNN's path.

The one mapping to ``nn.DeepTransitionRNN`` (S = transition_size) and its ``nn.Linear`` readout:

    U   = weight_ih_l0ᵀ  (D, S)         W_1 = weight_hh_l0ᵀ  (H, S)         b_1 = bias_ih_l0 + bias_hh_l0  (S,)
    W_k = weight_transition_kᵀ  (S, S), the last (S, H)                     b_k = bias_transition_k
    W_s = weight_shortcutᵀ  (H, H)      V   = readout.weightᵀ  (H, C)       c   = readout.bias  (C,)

``compare(rnn, readout, x, y)`` runs the module through the engine and this file through
numpy on the same float64 weights and reports, per parameter and per time step, how far apart
they are (and central finite differences of a few weights).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from . import unroll
from .rnn import NONLINEARITIES, dphi, phi
from .unroll import Gradients

__all__ = ["Cache", "params_of", "grads_of", "forward", "backward", "loss_only", "compare", "Report", "Row"]


@dataclasses.dataclass
class Cache:
    """What the forward pass keeps: z[k−1] = z_k(1..T) (T, N, ·), so z[-1] = h(1..T); h0 = h(0)."""

    params: dict
    x: np.ndarray  # (T, N, D)
    y: np.ndarray  # (T, N)
    h0: np.ndarray  # (N, H)
    z: list  # L arrays (T, N, S_k): the output of every layer at every step
    o: np.ndarray  # (T, N, C)
    yhat: np.ndarray  # (T, N, C)
    loss: float
    layers: int
    shortcut: bool
    nonlinearity: str

    @property
    def h(self) -> np.ndarray:
        """h(1..T), (T, N, H)."""
        return self.z[-1]


def layers_of(p: dict) -> int:
    """L, the number of layers of the transition: W_1 and W_2 … W_L."""
    return 1 + sum(1 for k in p if k.startswith("W_") and k[2:].isdigit() and int(k[2:]) >= 2)


def params_of(rnn, readout) -> dict:
    """The lecture's parameters (float64 copies) of an ``nn.DeepTransitionRNN`` and an ``nn.Linear`` readout."""
    a = {k: v.astype(np.float64) for k, v in rnn.state_dict().items()}
    S = rnn.transition_size
    p = {"U": a["weight_ih_l0"].T, "W_1": a["weight_hh_l0"].T,
         "b_1": a["bias_ih_l0"] + a["bias_hh_l0"] if rnn.bias else np.zeros(S)}
    for k in range(2, rnn.transition_layers + 1):
        W = a[f"weight_transition_{k}"].T
        p[f"W_{k}"], p[f"b_{k}"] = W, a[f"bias_transition_{k}"] if rnn.bias else np.zeros(W.shape[1])
    if rnn.shortcut:
        p["W_s"] = a["weight_shortcut"].T
    p["V"] = readout.weight.data.astype(np.float64).T
    p["c"] = readout.bias.data.astype(np.float64) if readout.bias is not None else np.zeros(readout.out_features)
    return p


# --------------------------------------------------------------------------- forward and backward


def forward(x, y, p: dict, h0=None, nonlinearity: str = "tanh") -> Cache:
    """Run the deep transition over x (T, N, D) from h0 (N, H) (zeros if None), the readout and the loss.

    p: {'U': (D, S), 'W_1': (H, S), 'b_1': (S,), 'W_k', 'b_k' for k = 2 … L (the last W_L: (S, H)),
    optionally 'W_s': (H, H), 'V': (H, C), 'c': (C,)}.
    """
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"bptt.deep: nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    x, y = unroll.check_inputs(x, y, p, "bptt.deep.forward")
    T, N, _ = x.shape
    L, H, shortcut = layers_of(p), p["V"].shape[0], "W_s" in p
    h0 = np.zeros((N, H)) if h0 is None else np.asarray(h0, dtype=np.float64).reshape(N, H)
    z = [[] for _ in range(L)]
    h = h0
    for t in range(T):
        a = x[t] @ p["U"] + h @ p["W_1"] + p["b_1"]  # a_1(t)
        zk = phi(a, nonlinearity)
        z[0].append(zk)
        for k in range(2, L + 1):
            a = zk @ p[f"W_{k}"] + p[f"b_{k}"]  # a_k(t)
            if k == L and shortcut:
                a = a + h @ p["W_s"]
            zk = phi(a, nonlinearity)
            z[k - 1].append(zk)
        h = zk
    z = [np.stack(zs) for zs in z]
    o, yhat, loss = unroll.readout_forward(z[-1], y, p["V"], p["c"])
    return Cache(p, x, y, h0, z, o, yhat, loss, L, shortcut, nonlinearity)


def backward(cache: Cache) -> Gradients:
    """BPTT for the deep transition, one formula of the module docstring per line.

    Returns ``unroll.Gradients``: ``.params`` (every key of the parameters), ``.dh`` = ∇h(t) L
    (T, N, H), ``.do`` = ∇o(t) L, ``.gates['a_k']`` = ∇a_k(t) L (T, N, S_k), ``.dx`` = ∇x(t) L and
    ``.dh0`` = ∇h(0) L.
    """
    p, x, z, L, nl = cache.params, cache.x, cache.z, cache.layers, cache.nonlinearity
    T = len(x)
    h = z[-1]
    h_prev = np.concatenate([cache.h0[None], h[:-1]])  # h_prev[t-1] = h(t−1)
    d = [dphi(zk, nl) for zk in z]  # d[k-1][t-1] = the diagonal of D_k(t)

    do, grads_V, grads_c, dh_direct = unroll.readout_backward(h, cache.y, cache.yhat, p["V"])  # ∇o = ŷ − y
    dh = np.zeros_like(h)
    da = [np.zeros_like(zk) for zk in z]  # da[k-1][t-1] = ∇a_k(t) L
    from_next = np.zeros_like(h[0])  # what step t+1 sends back to h(t): nothing after the last step
    for t in reversed(range(T)):
        dh[t] = dh_direct[t] + from_next  # ∇h(t) L = V ∇o(t) L + W_1 ∇a_1(t+1) L [+ W_s ∇a_L(t+1) L]
        da[L - 1][t] = d[L - 1][t] * dh[t]  # ∇a_L(t) L = D_L(t) ∇h(t) L
        for k in range(L - 1, 0, -1):
            da[k - 1][t] = d[k - 1][t] * (da[k][t] @ p[f"W_{k + 1}"].T)  # ∇a_k = D_k W_{k+1} ∇a_{k+1}
        from_next = da[0][t] @ p["W_1"].T
        if cache.shortcut:
            from_next = from_next + da[L - 1][t] @ p["W_s"].T

    grads = {
        "U": np.einsum("tnd,tns->ds", x, da[0]),  # Σ_t x(t) ∇a_1(t)ᵀ
        "W_1": np.einsum("tnh,tns->hs", h_prev, da[0]),  # Σ_t h(t−1) ∇a_1(t)ᵀ
        "b_1": da[0].sum(axis=(0, 1)),  # Σ_t ∇a_1(t)
    }
    for k in range(2, L + 1):
        grads[f"W_{k}"] = np.einsum("tni,tnj->ij", z[k - 2], da[k - 1])  # Σ_t z_{k−1}(t) ∇a_k(t)ᵀ
        grads[f"b_{k}"] = da[k - 1].sum(axis=(0, 1))
    if cache.shortcut:
        grads["W_s"] = np.einsum("tni,tnj->ij", h_prev, da[L - 1])  # Σ_t h(t−1) ∇a_L(t)ᵀ
    grads["V"], grads["c"] = grads_V, grads_c  # Σ_t h(t) ∇o(t)ᵀ,  Σ_t ∇o(t) L
    gates = {f"a_{k}": da[k - 1] for k in range(1, L + 1)}
    return Gradients(params=grads, dh=dh, dc=None, do=do, gates=gates, dx=da[0] @ p["U"].T, dstate0=(from_next,))


def loss_only(x, y, p: dict, h0=None, nonlinearity: str = "tanh") -> float:
    """L for the given parameters (the finite differences call this)."""
    return forward(x, y, p, h0, nonlinearity).loss


# --------------------------------------------------------------------------- against the engine


@dataclasses.dataclass
class Row:
    """One compared quantity: a parameter gradient (t None) or ∇h(t) L at one step."""

    label: str
    t: int | None
    rel_error: float
    ok: bool


@dataclasses.dataclass
class Report:
    """Analytic against autodiff (rows, in the order the backward pass computes them) and finite differences."""

    model: str
    rows: list
    fd: list  # (parameter, index, analytic, numeric, rel_error)
    tol: float
    fd_tol: float

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows) and all(e <= self.fd_tol for *_, e in self.fd)

    @property
    def max_rel_error(self) -> float:
        return max(r.rel_error for r in self.rows)

    @property
    def first_disagreement(self) -> Row | None:
        return next((r for r in self.rows if not r.ok), None)

    def __str__(self) -> str:
        lines = [f"{self.model}: analytic BPTT (bptt/deep.py) against autodiff (the engine), relative errors"]
        lines += [f"  {r.label:<14s} {r.rel_error:9.1e}  {'ok' if r.ok else 'DISAGREE'}" for r in self.rows]
        for name, index, analytic, numeric, err in self.fd:
            lines.append(f"  finite differences {name}{list(index)}: analytic {analytic:.6e}, numeric {numeric:.6e}, "
                         f"rel. error {err:.1e}")
        bad = self.first_disagreement
        lines.append("verdict: " + (f"OK, agree to {self.max_rel_error:.1e}" if self.ok else
                                    f"DISAGREE, first at {bad.label if bad else 'the finite differences'}"))
        return "\n".join(lines)


def _rel(a, b) -> float:
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0))
    return 0.0 if scale == 0 else float(np.abs(a - b).max() / scale)


def compare(rnn, readout, x, y, h0=None, *, backward_fn=None, fd_samples=4, eps=1e-5, tol=1e-9, fd_tol=1e-6,
            seed=0) -> Report:
    """Analytic BPTT against the engine's autodiff for an ``nn.DeepTransitionRNN`` and an ``nn.Linear`` readout.

    x: (T, N, D) floats; y: (T, N) integer classes; h0: (N, H) or None.  The engine side sums the
    cross-entropy over every step and sequence, as the lecture's L.  ``backward_fn`` replaces this
    file's ``backward`` (to check a derivation of your own).  Runs on float64 copies of the modules.
    """
    import tinygrad_seq as tg
    from tinygrad_seq import functional as F

    rnn, readout = copy.deepcopy(rnn).double(), copy.deepcopy(readout).double()
    p = params_of(rnn, readout)
    x, y = unroll.check_inputs(x, y, p, "bptt.deep.compare")
    T, N, _ = x.shape
    H, C = rnn.hidden_size, p["V"].shape[1]
    cache = forward(x, y, p, h0, rnn.nonlinearity)
    mine = (backward_fn or backward)(cache)

    output, _ = rnn(tg.tensor(x), None if h0 is None else tg.tensor(np.asarray(h0, np.float64).reshape(1, N, H)))
    hs = list(output.inputs)  # the h(t) that the layer stacked into its output
    loss = F.cross_entropy(readout(output).reshape(-1, C), y.reshape(-1), reduction="sum")
    dh_engine = tg.grad(loss, hs, retain_graph=True)
    loss.backward()
    engine = grads_of(rnn, readout)

    rows = []
    for t in reversed(range(T)):
        err = _rel(mine.dh[t], dh_engine[t].data)
        rows.append(Row(f"∇h({t + 1}) L", t + 1, err, err <= tol))
    for name in mine.params:
        if engine[name] is None:  # a bias the modules do not have: its analytic gradient is not used
            continue
        err = _rel(mine.params[name], engine[name])
        rows.append(Row(f"∇{name}", None, err, err <= tol))

    rng, fd = np.random.default_rng(seed), []
    names = [k for k in p if engine[k] is not None]  # not a bias the modules lack: it sits at 0, maybe on a kink
    for _ in range(fd_samples):
        name = names[rng.integers(len(names))]
        index = tuple(int(rng.integers(n)) for n in p[name].shape)
        bumped = []
        for sign in (1, -1):
            q = {k: v.copy() for k, v in p.items()}
            q[name][index] += sign * eps
            bumped.append(loss_only(x, y, q, h0, rnn.nonlinearity))
        numeric, analytic = (bumped[0] - bumped[1]) / (2 * eps), float(mine.params[name][index])
        # central differences at eps = 1e-5 are good to about 1e-10 (round-off in L / eps): gradients below 1e-3
        # are compared absolutely, to fd_tol · 1e-3 (a 3e-7 gradient came out 1.1e-10 off, on round-off alone)
        fd.append((name, index, analytic, numeric, abs(analytic - numeric) / max(abs(numeric), abs(analytic), 1e-3)))
    kind = "DT(S)-RNN" if rnn.shortcut else "DT-RNN"
    return Report(f"{kind}, L = {rnn.transition_layers}, T = {T}, N = {N}", rows, fd, tol, fd_tol)


def grads_of(rnn, readout) -> dict:
    """The engine's gradients (after ``backward()``) under the lecture's names, as ``params_of`` maps the weights.

    b_1 = bias_ih_l0 + bias_hh_l0, so ∂L/∂b_1 is the gradient of either one (they are equal), not their sum.
    """
    g = {n: q.grad.data for n, q in rnn.named_parameters()}
    out = {"U": g["weight_ih_l0"].T, "W_1": g["weight_hh_l0"].T, "b_1": g.get("bias_ih_l0")}
    for k in range(2, rnn.transition_layers + 1):
        out[f"W_{k}"], out[f"b_{k}"] = g[f"weight_transition_{k}"].T, g.get(f"bias_transition_{k}")
    if rnn.shortcut:
        out["W_s"] = g["weight_shortcut"].T
    out["V"] = readout.weight.grad.data.T
    out["c"] = None if readout.bias is None else readout.bias.grad.data
    return out
