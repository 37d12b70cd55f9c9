"""Unrolling one step into a sequence: the readout, the loss, and the BPTT loop shared by every cell.

A recurrent layer is a ``Cell``: a one-step forward that returns a cache and a
one-step backward that reads it (the CS231n way).  This module runs a cell
over T steps, puts the lecture's readout and loss on top,

    o(t) = h(t) V + c            ŷ(t) = softmax(o(t))            L = Σ_t Σ_n −log ŷ(t)[n, y(t)[n]]

and runs the backward pass through time:

    ∇o(t) L = ŷ(t) − onehot(y(t))
    ∇h(t) L = [what step t+1 sends back] + ∇o(t) L Vᵀ          (nothing comes back to h(T))
    ∇V = Σ_t h(t)ᵀ ∇o(t) L,   ∇c = Σ_t Σ_n ∇o(t) L,   ∇U, ∇W, ∇b: Σ_t of what each step's backward returns

Shapes (batch of N sequences, one per row; see notation.py for the mapping to PyTorch):

    x: (T, N, D) inputs          y: (T, N) integer targets in [0, C)
    h: (T, N, H) hidden states   o: (T, N, C) scores

Arrays over time are indexed from 0: ``h[t - 1]`` is the lecture's h(t), and
h(0), the initial state, is kept apart as ``h0``.  The loss is a *sum* over
time steps and sequences, as in the lecture (PyTorch's default averages).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Cell:
    """One step of a recurrent layer as a forward/backward pair, in a form every driver can call.

    step_forward(x, state, p) -> (state', cache)        x: (N, D); state: tuple of (N, H) arrays
    step_backward(dstate', cache) -> (dstate, dx, dp, dlocal)

    ``state`` is ``(h,)`` or ``(h, c)``; ``dp`` maps parameter names to this
    step's share of their gradient; ``dlocal`` maps each gate to ∂L/∂(its
    pre-activation) at this step, (N, H), and for the LSTM 'cell' to the total ∇c(t) L.
    """

    kind: str  # key into notation.GATES: 'rnn', 'lstm', 'gru', 'lstm_coupled'
    name: str  # for reports: 'RNN', 'LSTM (peephole)', ...
    step_forward: Callable
    step_backward: Callable
    state_names: tuple = ("h",)
    options: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Cache:
    """What the forward pass keeps for the backward pass (and for Jacobians, RTRL, plots)."""

    cell: Cell
    params: dict
    x: np.ndarray  # (T, N, D)
    y: np.ndarray  # (T, N)
    state0: tuple  # (h(0),) or (h(0), c(0)), each (N, H)
    states: list  # states[t - 1] = state at time t
    steps: list  # steps[t - 1] = the cache of step t
    o: np.ndarray  # (T, N, C)
    yhat: np.ndarray  # (T, N, C)
    loss: float

    @property
    def h(self) -> np.ndarray:
        """All hidden states h(1..T), (T, N, H)."""
        return np.stack([s[0] for s in self.states])


@dataclasses.dataclass
class Gradients:
    """Everything the backward pass computes, in the lecture's names.

    params: {'U', 'W', 'b', 'V', 'c', ...} → ∂L/∂θ (same shapes as the parameters)
    dh:     (T, N, H)  dh[t-1] = ∇h(t) L, the *total* gradient (through every later step)
    dc:     (T, N, H)  ∇c(t) L for the LSTM's cell state, else None
    do:     (T, N, C)  do[t-1] = ∇o(t) L = ŷ(t) − onehot(y(t)); None for a layer under another layer
    gates:  {gate: (T, N, H)} ∂L/∂(pre-activation of the gate) at each step
    dx:     (T, N, D)  ∇x(t) L (what a layer below would receive)
    dstate0: ∇ of the initial state, (∇h(0) L,) or (∇h(0) L, ∇c(0) L)
    """

    params: dict
    dh: np.ndarray
    dc: Any
    do: np.ndarray
    gates: dict
    dx: np.ndarray
    dstate0: tuple

    @property
    def dh0(self) -> np.ndarray:
        return self.dstate0[0]


# --------------------------------------------------------------------------- readout and loss


def softmax(o: np.ndarray) -> np.ndarray:
    """ŷ = e^o / Σ e^o along the last axis, shifted by the max so it never overflows."""
    e = np.exp(o - o.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(a: np.ndarray) -> np.ndarray:
    """σ(a) = 1 / (1 + e^−a), written so that e^(...) never overflows."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0, e) / (1.0 + e)


def one_hot(y: np.ndarray, C: int) -> np.ndarray:
    """(…) integers → (…, C) float64 rows of zeros with a one at y."""
    return np.eye(C)[y]


def readout_forward(h: np.ndarray, y: np.ndarray, V: np.ndarray, c: np.ndarray):
    """o(t) = h(t) V + c, ŷ(t) = softmax(o(t)), L = Σ −log ŷ_{y}.  h: (T, N, H), y: (T, N) → o, ŷ: (T, N, C), L."""
    o = h @ V + c
    shifted = o - o.max(axis=-1, keepdims=True)
    log_yhat = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # log ŷ without log(0) when ŷ underflows
    picked = np.take_along_axis(log_yhat, y[..., None], axis=-1)
    return o, np.exp(log_yhat), float(-picked.sum())


def readout_backward(h: np.ndarray, y: np.ndarray, yhat: np.ndarray, V: np.ndarray):
    """The readout's backward: ∇o = ŷ − onehot(y); ∇V = Σ_t h(t)ᵀ ∇o(t); ∇c = Σ ∇o; ∇h (direct part) = ∇o Vᵀ."""
    do = yhat - one_hot(y, yhat.shape[-1])
    dV = np.einsum("tnh,tnc->hc", h, do)
    dc = do.sum(axis=(0, 1))
    return do, dV, dc, do @ V.T


# --------------------------------------------------------------------------- the unrolled layer


def check_inputs(x, y, p, who: str):
    """Shapes and dtypes of x (T, N, D) and y (T, N) against U (D, ·) and V (·, C), with a clear message."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if x.ndim != 3:
        raise ValueError(f"{who}: x must have shape (T, N, D), got {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{who}: x of shape {x.shape} holds no time step or no sequence")
    if y.shape != x.shape[:2]:
        raise ValueError(f"{who}: y must have shape (T, N) = {x.shape[:2]} to match x {x.shape}, got {y.shape}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"{who}: y must hold integer class indices, got dtype {y.dtype}")
    D, C = p["U"].shape[0], p["V"].shape[1]
    if x.shape[2] != D:
        raise ValueError(f"{who}: x has {x.shape[2]} features (shape {x.shape}) but U has shape {p['U'].shape}")
    if y.size and (y.min() < 0 or y.max() >= C):
        raise IndexError(f"{who}: targets must lie in [0, {C}) (V has shape {p['V'].shape}); got {y.min()}..{y.max()}")
    return x, y


def run_layer(cell: Cell, x: np.ndarray, p: dict, state0=None, who: str | None = None):
    """Run ``cell`` over x (T, N, D) from ``state0`` (zeros if None): (state0, states, steps), no readout.

    ``states[t - 1]`` is the state at time t, ``steps[t - 1]`` the cache of step t.  A stack of layers
    (stacked.py) calls this once per layer, each reading the h(1..T) of the layer below as its x.
    """
    who = who or f"bptt.forward ({cell.name})"
    T, N, _ = x.shape
    H = p["W"].shape[0]
    if state0 is None:
        state0 = tuple(np.zeros((N, H)) for _ in cell.state_names)
    state0 = tuple(np.asarray(s, dtype=np.float64) for s in state0)
    for name, s in zip(cell.state_names, state0):
        if s.shape != (N, H):
            raise ValueError(f"{who}: initial {name} must have shape {(N, H)}, got {s.shape}")
    states, steps, state = [], [], state0
    for t in range(T):
        state, step = cell.step_forward(x[t], state, p)
        states.append(state)
        steps.append(step)
    return state0, states, steps


def forward(cell: Cell, x, y, p: dict, state0=None) -> Cache:
    """Run ``cell`` over x (T, N, D) from ``state0`` (zeros if None), then the readout and the loss."""
    x, y = check_inputs(x, y, p, f"bptt.forward ({cell.name})")
    state0, states, steps = run_layer(cell, x, p, state0)
    h = np.stack([s[0] for s in states])
    o, yhat, loss = readout_forward(h, y, p["V"], p["c"])
    return Cache(cell, p, x, y, state0, states, steps, o, yhat, loss)


def backward(cache: Cache, step_backward: Callable | None = None) -> Gradients:
    """Backpropagation through time: every parameter gradient, every ∇h(t) L, ∇o(t) L and gate gradient.

    ``step_backward`` replaces the cell's own one-step backward (to check a
    derivation of your own: ``bptt.compare`` shows where it goes wrong).
    """
    p = cache.params
    do, dV, dc, dh_direct = readout_backward(cache.h, cache.y, cache.yhat, p["V"])
    layer = through_time(step_backward or cache.cell.step_backward, cache.steps, cache.state0, dh_direct, p)
    grads = {k: np.zeros_like(v) for k, v in p.items()} | layer.params
    grads["V"], grads["c"] = dV, dc
    return dataclasses.replace(layer, params=grads, do=do)


def through_time(step_backward: Callable, steps: list, state0: tuple, dh_direct: np.ndarray, p: dict) -> Gradients:
    """The BPTT loop of one layer, from the gradient that reaches each h(t) from outside the recurrence.

    dh_direct: (T, N, H), ∂L/∂h(t) through everything but h(t+1): V ∇o(t) L below a readout, or
    ∇a(t) of the layer above times its U (stacked.py).  p: the layer's parameters (only their
    shapes are read, to start the sums).  Returns ``Gradients`` with the layer's parameter
    gradients, ∇h(t) L, ∇c(t) L, the gates and ∇x(t) L; ``do`` is None (no readout here).
    """
    T = len(steps)
    grads = {k: np.zeros_like(v) for k, v in p.items() if k not in ("V", "c")}
    dh, dcell = np.zeros_like(dh_direct), np.zeros_like(dh_direct)
    gates, dx = {}, [None] * T
    dstate = tuple(np.zeros_like(s) for s in state0)  # nothing flows back into h(T) from after T
    for t in reversed(range(T)):
        # ∇h(t) L = (what step t+1 sent back) + (the direct part, e.g. V ∇o(t) L from L(t))
        dstate = (dstate[0] + dh_direct[t],) + dstate[1:]
        dh[t] = dstate[0]
        dstate, dx[t], dp, dlocal = step_backward(dstate, steps[t])
        for k, v in dp.items():
            grads[k] = grads[k] + v if k in grads else v
        for g, v in dlocal.items():
            if g == "cell":  # the LSTM's total ∇c(t) L, known only inside the step
                dcell[t] = v
            else:
                gates.setdefault(g, np.zeros_like(dh_direct))[t] = v
    return Gradients(params=grads, dh=dh, dc=dcell if len(state0) > 1 else None, do=None, gates=gates,
                     dx=np.stack(dx), dstate0=dstate)


def loss_only(cell: Cell, x, y, p: dict, state0=None) -> float:
    """L for the given parameters (finite differences call this many times)."""
    return forward(cell, x, y, p, state0).loss
