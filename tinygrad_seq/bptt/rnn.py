"""The vanilla RNN and its backward pass through time, exactly as the lecture derives them.

Forward, for one sequence in the lecture's column vectors (left) and for a
batch of N sequences as rows (right, what the code computes; notation.py
explains the transposes and the mapping to ``nn.RNN``):

    a(t) = b + Wᵀ h(t−1) + Uᵀ x(t)            a(t) = x(t) U + h(t−1) W + b        (N, H)
    h(t) = tanh(a(t))                          h(t) = tanh(a(t))                   (N, H)
    o(t) = c + Vᵀ h(t)                         o(t) = h(t) V + c                   (N, C)
    ŷ(t) = softmax(o(t)),   L = Σ_t L(t),   L(t) = −log ŷ_{y(t)}(t)

Backward (the chain rule, organised by time):

    ∇o(t) L = ŷ(t) − onehot(y(t))                                   (softmax + cross-entropy)
    ∇h(T) L = V ∇o(T) L                                             (h(T) feeds only o(T))
    ∇h(t) L = W diag(1 − h(t+1)²) ∇h(t+1) L + V ∇o(t) L             (h(t) feeds o(t) and h(t+1))
    ∇a(t) L = diag(1 − h(t)²) ∇h(t) L                               (tanh' = 1 − tanh²)
    ∇c = Σ_t ∇o(t) L          ∇V = Σ_t h(t) (∇o(t) L)ᵀ
    ∇b = Σ_t ∇a(t) L          ∇W = Σ_t h(t−1) (∇a(t) L)ᵀ          ∇U = Σ_t x(t) (∇a(t) L)ᵀ

In rows the products flip: ``dh[t] = (dh[t+1] * (1 − h[t+1]²)) @ Wᵀ + do[t] @ Vᵀ``
and ``dW = Σ_t h(t−1)ᵀ @ da(t)``.

Side by side with the engine: the one-step part of this derivation (one
``∇a = (1 − h²) ∇h``, then three matrix products) is ``rnn_step_backward`` below
and is also the backward rule of the fused cell ``tinygrad_seq.nn.fused.RNNStep``.
There the weights keep PyTorch's layout, w_hh = Wᵀ, so its ``da @ w_hh`` is our
``da @ Wᵀ`` (∇h(t−1)) and its ``da.T @ h`` is our ``(h(t−1)ᵀ da)ᵀ`` (∇W, transposed);
its x_proj(t) = x(t) U + b is computed for all steps before the loop.

Two stacked layers h⁽¹⁾, h⁽²⁾ (the lecture's forward phase; ``nn.RNN(num_layers=2)``):
``stacked_rnn_forward`` and ``stacked_rnn_backward`` at the end of this file, derived in stacked.py.

Besides tanh, ``nonlinearity`` may be 'relu' (as ``nn.RNN``; φ' = [a > 0]) or
'identity' (the linear RNN of the lecture's eigenvalue argument; φ' = 1).
"""

from __future__ import annotations

import numpy as np

from . import stacked, unroll
from .stacked import StackedCache, StackedGradients
from .unroll import Cache, Cell, Gradients

NONLINEARITIES = ("tanh", "relu", "identity")


def phi(a: np.ndarray, nonlinearity: str) -> np.ndarray:
    """The activation φ: tanh, relu or identity."""
    if nonlinearity == "tanh":
        return np.tanh(a)
    if nonlinearity == "relu":
        return np.maximum(a, 0.0)
    if nonlinearity == "identity":
        return a.copy()
    raise ValueError(f"bptt RNN: nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")


def dphi(h: np.ndarray, nonlinearity: str) -> np.ndarray:
    """φ'(a) written with h = φ(a): 1 − h² for tanh, [h > 0] for relu, 1 for the identity."""
    if nonlinearity == "tanh":
        return 1.0 - h * h
    if nonlinearity == "relu":
        return (h > 0).astype(h.dtype)
    return np.ones_like(h)


# --------------------------------------------------------------------------- one step


def rnn_step_forward(x, h_prev, p, nonlinearity="tanh"):
    """h(t) = φ(x(t) U + h(t−1) W + b).

    x: (N, D), h_prev: (N, H), p: {'U': (D, H), 'W': (H, H), 'b': (H,)} → h: (N, H), cache.
    """
    a = x @ p["U"] + h_prev @ p["W"] + p["b"]
    h = phi(a, nonlinearity)
    return h, dict(x=x, h_prev=h_prev, h=h, p=p, nonlinearity=nonlinearity)


def rnn_step_backward(dh, cache):
    """From dh = ∇h(t) L (N, H): ∇a(t) = φ'(a(t)) ⊙ dh, then the step's share of ∇U, ∇W, ∇b.

    Returns dx: (N, D), dh_prev: (N, H) (the part of ∇h(t−1) L that goes through
    h(t)), dp: {'U', 'W', 'b'}, da: (N, H).
    """
    x, h_prev, h, p, nonlinearity = (cache[k] for k in ("x", "h_prev", "h", "p", "nonlinearity"))
    da = dh * dphi(h, nonlinearity)
    dp = {"U": x.T @ da, "W": h_prev.T @ da, "b": da.sum(axis=0)}
    return da @ p["U"].T, da @ p["W"].T, dp, da


def cell(nonlinearity: str = "tanh") -> Cell:
    """The RNN step as a ``Cell`` for the generic drivers (truncated BPTT, RTRL, compare)."""
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"bptt RNN: nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")

    def step_forward(x, state, p):
        h, cache = rnn_step_forward(x, state[0], p, nonlinearity)
        return (h,), cache

    def step_backward(dstate, cache):
        dx, dh_prev, dp, da = rnn_step_backward(dstate[0], cache)
        return (dh_prev,), dx, dp, {"a": da}

    name = "RNN" if nonlinearity == "tanh" else f"RNN ({nonlinearity})"
    return Cell("rnn", name, step_forward, step_backward, ("h",), {"nonlinearity": nonlinearity})


# --------------------------------------------------------------------------- the whole sequence


def rnn_forward(x, y, p, h0=None, nonlinearity="tanh") -> Cache:
    """Run the RNN, the readout and the loss over a batch of sequences.

    x: (T, N, D) inputs, y: (T, N) integer targets in [0, C), h0: (N, H) or None (zeros),
    p: {'U': (D, H), 'W': (H, H), 'b': (H,), 'V': (H, C), 'c': (C,)}.
    Returns the cache (h: (T, N, H), o and ŷ: (T, N, C), the loss L).
    """
    return unroll.forward(cell(nonlinearity), x, y, p, None if h0 is None else (h0,))


def rnn_backward(cache: Cache) -> Gradients:
    """BPTT for the vanilla RNN, one lecture formula per line (row form: batch along axis 1).

    Returns every parameter gradient (``.params``: U, W, b, V, c), every ∇h(t) L
    (``.dh``, (T, N, H)), every ∇o(t) L (``.do``), every ∇a(t) L (``.gates['a']``)
    and ∇h(0) L (``.dh0``).
    """
    p, x, y = cache.params, cache.x, cache.y
    U, W, V = p["U"], p["W"], p["V"]
    nl = cache.cell.options["nonlinearity"]
    T = len(x)
    h = cache.h  # h[t-1] = h(t)
    h_prev = np.concatenate([cache.state0[0][None], h[:-1]])  # h_prev[t-1] = h(t−1)
    d = dphi(h, nl)  # d[t-1] = the diagonal of D(t) = diag(1 − h(t)²)

    do = cache.yhat - unroll.one_hot(y, V.shape[1])  # ∇o(t) L = ŷ(t) − y(t)
    dh = np.zeros_like(h)
    dh[T - 1] = do[T - 1] @ V.T  # ∇h(T) L = V ∇o(T) L
    for t in reversed(range(T - 1)):
        dh[t] = (dh[t + 1] * d[t + 1]) @ W.T + do[t] @ V.T  # ∇h(t) L = W D(t+1) ∇h(t+1) L + V ∇o(t) L
    da = dh * d  # ∇a(t) L = D(t) ∇h(t) L

    grads = {
        "c": do.sum(axis=(0, 1)),  # Σ_t ∇o(t) L
        "b": da.sum(axis=(0, 1)),  # Σ_t ∇a(t) L
        "V": np.einsum("tnh,tnc->hc", h, do),  # Σ_t h(t) ∇o(t)ᵀ
        "W": np.einsum("tni,tnj->ij", h_prev, da),  # Σ_t h(t−1) ∇a(t)ᵀ
        "U": np.einsum("tnd,tnj->dj", x, da),  # Σ_t x(t) ∇a(t)ᵀ
    }
    dh0 = da[0] @ W.T  # ∇h(0) L = W D(1) ∇h(1) L
    return Gradients(params=grads, dh=dh, dc=None, do=do, gates={"a": da}, dx=da @ U.T, dstate0=(dh0,))


# --------------------------------------------------------------------------- two (or more) stacked layers


def stacked_rnn_forward(x, y, p, h0=None, nonlinearity="tanh") -> StackedCache:
    """The lecture's forward phase with stacked hidden layers h⁽¹⁾, h⁽²⁾, ... and the readout on the top one.

    x: (T, N, D), y: (T, N); p: {'U1': (D, H), 'W1': (H, H), 'b1': (H,), 'U2': (H, H), 'W2', 'b2', ...,
    'V': (H, C), 'c': (C,)}; h0: None or one (N, H) initial state per layer.  See stacked.py.
    """
    return stacked.forward(cell(nonlinearity), x, y, p, None if h0 is None else [(h,) for h in h0])


def stacked_rnn_backward(cache: StackedCache) -> StackedGradients:
    """BPTT through stacked vanilla RNN layers, one lecture formula per line (rows: batch along axis 1).

    Top layer first; each layer's recursion is the one-layer one, with the part of ∇h⁽ˡ⁾(t) L that
    does not come along time being V ∇o(t) L for the top layer and U⁽ˡ⁺¹⁾ ∇a⁽ˡ⁺¹⁾(t) L below it.
    """
    p, T = cache.params, len(cache.x)
    V = p["V"]
    do = cache.yhat - unroll.one_hot(cache.y, V.shape[1])  # ∇o(t) L = ŷ(t) − y(t)
    direct = do @ V.T  # V ∇o(t) L: what reaches the top layer from the readout
    grads = {"c": do.sum(axis=(0, 1)), "V": np.einsum("tnh,tnc->hc", cache.h, do)}
    per_layer = [None] * cache.num_layers
    for k in reversed(range(cache.num_layers)):  # l = k + 1 from the top down
        layer, l = cache.layers[k], k + 1
        U, W = p[f"U{l}"], p[f"W{l}"]
        h = layer.h  # h⁽ˡ⁾(1..T)
        h_prev = np.concatenate([layer.state0[0][None], h[:-1]])  # h⁽ˡ⁾(t−1)
        d = dphi(h, layer.cell.options["nonlinearity"])  # the diagonals of D⁽ˡ⁾(t)
        dh = np.zeros_like(h)
        dh[T - 1] = direct[T - 1]
        for t in reversed(range(T - 1)):
            dh[t] = (dh[t + 1] * d[t + 1]) @ W.T + direct[t]  # ∇h⁽ˡ⁾(t) = W⁽ˡ⁾ D⁽ˡ⁾(t+1) ∇h⁽ˡ⁾(t+1) + direct
        da = dh * d  # ∇a⁽ˡ⁾(t) L = D⁽ˡ⁾(t) ∇h⁽ˡ⁾(t) L
        mine = {
            "U": np.einsum("tnd,tnj->dj", layer.x, da),  # Σ_t h⁽ˡ⁻¹⁾(t) ∇a⁽ˡ⁾(t)ᵀ  (x(t) for l = 1)
            "W": np.einsum("tni,tnj->ij", h_prev, da),  # Σ_t h⁽ˡ⁾(t−1) ∇a⁽ˡ⁾(t)ᵀ
            "b": da.sum(axis=(0, 1)),  # Σ_t ∇a⁽ˡ⁾(t)
        }
        grads |= {f"{name}{l}": g for name, g in mine.items()}
        dx = da @ U.T  # U⁽ˡ⁾ ∇a⁽ˡ⁾(t) L: the direct part of ∇h⁽ˡ⁻¹⁾(t) L in the layer below
        per_layer[k] = Gradients(params=mine, dh=dh, dc=None, do=None, gates={"a": da}, dx=dx, dstate0=(da[0] @ W.T,))
        direct = dx
    return StackedGradients(params=grads, layers=per_layer, do=do)
