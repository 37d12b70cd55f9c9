"""The LSTM, one step forward and back, in PyTorch's gate order (i, f, g, o); peephole and coupled variants.

Forward, for a batch of N sequences as rows (notation.py: U = weight_ih_l0ᵀ,
W = weight_hh_l0ᵀ, b = bias_ih_l0 + bias_hh_l0, gate k in columns k·H:(k+1)·H):

    a(t) = x(t) U + h(t−1) W + b = [a_i | a_f | a_g | a_o]          (N, 4H)
    i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)            input, forget, candidate, output
    c(t) = f ⊙ c(t−1) + i ⊙ g                                       the cell state: a sum, not a product
    h(t) = o ⊙ tanh(c(t))

Backward of one step.  It receives ∇h(t) L (total) and the part of ∇c(t) L
that comes back from step t+1:

    ∇o       = ∇h(t) ⊙ tanh c(t)                     ∇a_o = ∇o ⊙ o(1 − o)
    ∇c(t) L  = [from t+1] + ∇h(t) ⊙ o ⊙ (1 − tanh² c(t))
    ∇i = ∇c(t) ⊙ g     ∇f = ∇c(t) ⊙ c(t−1)     ∇g = ∇c(t) ⊙ i
    ∇a_i = ∇i ⊙ i(1 − i)    ∇a_f = ∇f ⊙ f(1 − f)    ∇a_g = ∇g ⊙ (1 − g²)
    ∇c(t−1) [via step t] = ∇c(t) L ⊙ f               the gradient highway: only a product of forget gates
    ∇h(t−1) [via step t] = ∇a Wᵀ    ∇x(t) = ∇a Uᵀ    ∇U += x(t)ᵀ ∇a    ∇W += h(t−1)ᵀ ∇a    ∇b += Σ_n ∇a

Side by side with the engine: this one-step rule is the backward of the fused
cell ``tinygrad_seq.nn.fused.LSTMStep``, where δc is our total ∇c(t) L, δa our
[∇a_i | ∇a_f | ∇a_g | ∇a_o], and w_hh = Wᵀ (so ``da @ w_hh`` is our ∇a Wᵀ).

Variants (as in ``nn.variants``: PeepholeLSTM, CoupledLSTM):

* **peephole** (Gers & Schmidhuber 2000): the gates also look at the cell,
  through diagonal weights p_i, p_f, p_o of shape (H,):
  ``a_i += p_i ⊙ c(t−1)``, ``a_f += p_f ⊙ c(t−1)``, ``a_o += p_o ⊙ c(t)``.
  Backward adds ``∇a_o ⊙ p_o`` to ∇c(t) L and ``∇a_i ⊙ p_i + ∇a_f ⊙ p_f`` to ∇c(t−1).
* **coupled** input and forget gates: f = 1 − i, so the stacked gates are
  [i | g | o] (3H) and ``c(t) = (1 − i) ⊙ c(t−1) + i ⊙ g``; then ∇i = ∇c(t) ⊙ (g − c(t−1)).
"""

from __future__ import annotations

import numpy as np

from . import unroll
from .notation import gate_slices
from .unroll import Cache, Cell, Gradients, sigmoid


def lstm_step_forward(x, h_prev, c_prev, p, peephole=False, coupled=False):
    """One LSTM step.

    x: (N, D), h_prev, c_prev: (N, H), p: {'U': (D, G·H), 'W': (H, G·H), 'b': (G·H,)
    [, 'p_i', 'p_f', 'p_o': (H,)]} with G = 4 (3 if coupled) → h, c: (N, H), cache.
    """
    H = h_prev.shape[1]
    s = gate_slices("lstm_coupled" if coupled else "lstm", H)
    a = x @ p["U"] + h_prev @ p["W"] + p["b"]
    a_i, a_g, a_o = a[:, s["i"]], a[:, s["g"]], a[:, s["o"]]
    if peephole:
        a_i = a_i + p["p_i"] * c_prev
    i, g = sigmoid(a_i), np.tanh(a_g)
    if coupled:
        f = 1.0 - i
    else:
        a_f = a[:, s["f"]] + (p["p_f"] * c_prev if peephole else 0.0)
        f = sigmoid(a_f)
    c = f * c_prev + i * g
    if peephole:
        a_o = a_o + p["p_o"] * c
    o = sigmoid(a_o)
    tc = np.tanh(c)
    h = o * tc
    cache = dict(x=x, h_prev=h_prev, c_prev=c_prev, i=i, f=f, g=g, o=o, c=c, tc=tc, p=p,
                 peephole=peephole, coupled=coupled)
    return h, c, cache


def lstm_step_backward(dh, dc, cache):
    """One LSTM step backward.

    dh: ∇h(t) L (N, H); dc: the part of ∇c(t) L coming back from step t+1 (N, H).
    Returns dx (N, D), dh_prev (N, H), dc_prev (N, H) (the parts of ∇h(t−1) L,
    ∇c(t−1) L that go through this step), dp (this step's share of ∇U, ∇W, ∇b
    [, ∇p_i, ∇p_f, ∇p_o]) and dlocal: ∇ of each gate's pre-activation and 'cell', the total ∇c(t) L
    (not 'c': in the parameter dicts 'c' is the readout bias of o(t) = h(t) V + c).
    """
    x, h_prev, c_prev, p = cache["x"], cache["h_prev"], cache["c_prev"], cache["p"]
    i, f, g, o, c, tc = (cache[k] for k in ("i", "f", "g", "o", "c", "tc"))
    peephole, coupled = cache["peephole"], cache["coupled"]

    da_o = dh * tc * o * (1 - o)
    dc = dc + dh * o * (1 - tc * tc)  # now the total ∇c(t) L
    if peephole:
        dc = dc + da_o * p["p_o"]
    da_g = dc * i * (1 - g * g)
    if coupled:
        da_i = dc * (g - c_prev) * i * (1 - i)
        gates = {"i": da_i, "g": da_g, "o": da_o}
    else:
        da_i = dc * g * i * (1 - i)
        da_f = dc * c_prev * f * (1 - f)
        gates = {"i": da_i, "f": da_f, "g": da_g, "o": da_o}
    da = np.concatenate(list(gates.values()), axis=1)  # the stacking order is the gate order

    dc_prev = dc * f
    dp = {"U": x.T @ da, "W": h_prev.T @ da, "b": da.sum(axis=0)}
    if peephole:
        dc_prev = dc_prev + da_i * p["p_i"]
        dp["p_i"] = (da_i * c_prev).sum(axis=0)
        dp["p_o"] = (da_o * c).sum(axis=0)
        if not coupled:
            dc_prev = dc_prev + da_f * p["p_f"]
            dp["p_f"] = (da_f * c_prev).sum(axis=0)
    return da @ p["U"].T, da @ p["W"].T, dc_prev, dp, dict(gates, cell=dc)


def cell(peephole: bool = False, coupled: bool = False) -> Cell:
    """The LSTM step (optionally with peepholes and/or coupled gates) as a ``Cell``."""

    def step_forward(x, state, p):
        h, c, cache = lstm_step_forward(x, state[0], state[1], p, peephole, coupled)
        return (h, c), cache

    def step_backward(dstate, cache):
        dx, dh_prev, dc_prev, dp, dlocal = lstm_step_backward(dstate[0], dstate[1], cache)
        return (dh_prev, dc_prev), dx, dp, dlocal

    extras = [k for k, on in (("peephole", peephole), ("coupled", coupled)) if on]
    name = "LSTM" + (f" ({', '.join(extras)})" if extras else "")
    kind = "lstm_coupled" if coupled else "lstm"
    return Cell(kind, name, step_forward, step_backward, ("h", "c"), {"peephole": peephole, "coupled": coupled})


def lstm_forward(x, y, p, h0=None, c0=None, peephole=False, coupled=False) -> Cache:
    """The LSTM over x (T, N, D), the readout o(t) = h(t) V + c and the loss; returns the cache."""
    N, H = np.shape(x)[1], p["W"].shape[0]
    state0 = None
    if h0 is not None or c0 is not None:
        state0 = (np.zeros((N, H)) if h0 is None else h0, np.zeros((N, H)) if c0 is None else c0)
    return unroll.forward(cell(peephole, coupled), x, y, p, state0)


def lstm_backward(cache: Cache) -> Gradients:
    """BPTT through the LSTM: parameter gradients, ∇h(t) L, ∇c(t) L, ∇o(t) L and every gate's ∇a(t) L."""
    return unroll.backward(cache)
