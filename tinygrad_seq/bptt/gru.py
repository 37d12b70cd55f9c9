"""The GRU, one step forward and back, in PyTorch's convention (gates r, z, n).

Forward, rows = sequences (notation.py: U = weight_ih_l0ᵀ, W = weight_hh_l0ᵀ;
the r and z blocks of b are bias_ih + bias_hh, the n block of b is bias_ih
alone and b_hn is the n block of bias_hh, because r sits between them):

    r = σ(x U_r + h(t−1) W_r + b_r)                                   reset gate
    z = σ(x U_z + h(t−1) W_z + b_z)                                   update gate
    n = tanh(x U_n + b_n + r ⊙ (h(t−1) W_n + b_hn))                   candidate
    h(t) = (1 − z) ⊙ n + z ⊙ h(t−1)                                   a convex mix: z keeps the past

Backward of one step, from ∇h(t) L:

    ∇n = ∇h ⊙ (1 − z)            ∇z = ∇h ⊙ (h(t−1) − n)          ∇h(t−1) [direct] = ∇h ⊙ z
    ∇a_n = ∇n ⊙ (1 − n²)         (a_n: the whole argument of tanh)
    ∇r = ∇a_n ⊙ (h(t−1) W_n + b_hn)          ∇(h(t−1) W_n + b_hn) = ∇a_n ⊙ r
    ∇a_r = ∇r ⊙ r(1 − r)         ∇a_z = ∇z ⊙ z(1 − z)
    input side:  ∇x-part [∇a_r | ∇a_z | ∇a_n]       → ∇U += xᵀ(·), ∇b += Σ_n(·), ∇x = (·) Uᵀ
    hidden side: ∇h-part [∇a_r | ∇a_z | ∇a_n ⊙ r]   → ∇W += h(t−1)ᵀ(·), ∇b_hn += Σ_n ∇a_n ⊙ r,
                                                       ∇h(t−1) += (·) Wᵀ

Side by side with the engine: this one-step rule is the backward of the fused
cell ``tinygrad_seq.nn.fused.GRUStep``; its s_n is our h(t−1) W_n + b_hn (``hn``
below), its δs our hidden-side [∇a_r | ∇a_z | ∇a_n ⊙ r], and w_hh = Wᵀ.
"""

from __future__ import annotations

import numpy as np

from . import unroll
from .notation import gate_slices
from .unroll import Cache, Cell, Gradients, sigmoid


def gru_step_forward(x, h_prev, p):
    """One GRU step.  x: (N, D), h_prev: (N, H), p: {'U': (D, 3H), 'W': (H, 3H), 'b': (3H,), 'b_hn': (H,)}."""
    s = gate_slices("gru", h_prev.shape[1])
    ax = x @ p["U"] + p["b"]  # the input side of every gate
    ah = h_prev @ p["W"]  # the hidden side
    r = sigmoid(ax[:, s["r"]] + ah[:, s["r"]])
    z = sigmoid(ax[:, s["z"]] + ah[:, s["z"]])
    hn = ah[:, s["n"]] + p["b_hn"]  # h(t−1) W_n + b_hn, which r scales
    n = np.tanh(ax[:, s["n"]] + r * hn)
    h = (1 - z) * n + z * h_prev
    return h, dict(x=x, h_prev=h_prev, r=r, z=z, n=n, hn=hn, p=p)


def gru_step_backward(dh, cache):
    """One GRU step backward from dh = ∇h(t) L (N, H).

    Returns dx (N, D), dh_prev (N, H) (the part of ∇h(t−1) L through this step),
    dp (this step's share of ∇U, ∇W, ∇b, ∇b_hn) and dgates {'r', 'z', 'n'}: ∇ of each pre-activation.
    """
    x, h_prev, r, z, n, hn, p = (cache[k] for k in ("x", "h_prev", "r", "z", "n", "hn", "p"))
    da_n = dh * (1 - z) * (1 - n * n)
    da_z = dh * (h_prev - n) * z * (1 - z)
    da_r = da_n * hn * r * (1 - r)
    dhn = da_n * r
    dax = np.concatenate([da_r, da_z, da_n], axis=1)
    dah = np.concatenate([da_r, da_z, dhn], axis=1)
    dp = {"U": x.T @ dax, "b": dax.sum(axis=0), "W": h_prev.T @ dah, "b_hn": dhn.sum(axis=0)}
    dh_prev = dh * z + dah @ p["W"].T
    return dax @ p["U"].T, dh_prev, dp, {"r": da_r, "z": da_z, "n": da_n}


def cell() -> Cell:
    """The GRU step as a ``Cell``."""

    def step_forward(x, state, p):
        h, cache = gru_step_forward(x, state[0], p)
        return (h,), cache

    def step_backward(dstate, cache):
        dx, dh_prev, dp, dgates = gru_step_backward(dstate[0], cache)
        return (dh_prev,), dx, dp, dgates

    return Cell("gru", "GRU", step_forward, step_backward, ("h",), {})


def gru_forward(x, y, p, h0=None) -> Cache:
    """The GRU over x (T, N, D), the readout and the loss; returns the cache."""
    return unroll.forward(cell(), x, y, p, None if h0 is None else (h0,))


def gru_backward(cache: Cache) -> Gradients:
    """BPTT through the GRU: parameter gradients, ∇h(t) L, ∇o(t) L and ∇a(t) L of the gates r, z, n."""
    return unroll.backward(cache)
