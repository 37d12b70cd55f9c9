"""Stacked recurrent layers: the lecture's forward phase with two hidden layers h⁽¹⁾, h⁽²⁾, and BPTT through it.

Forward, rows = sequences (layer l's U⁽ˡ⁾, W⁽ˡ⁾, b⁽ˡ⁾ are the keys 'U1', 'W1', 'b1', 'U2' ... of
notation.py; for the vanilla RNN the cell is h = tanh(x U + h(t−1) W + b)):

    h⁽¹⁾(t) = cell(x(t),    h⁽¹⁾(t−1); U⁽¹⁾, W⁽¹⁾, b⁽¹⁾)          x(t): (N, D)     h⁽¹⁾(t): (N, H)
    h⁽²⁾(t) = cell(h⁽¹⁾(t), h⁽²⁾(t−1); U⁽²⁾, W⁽²⁾, b⁽²⁾)          U⁽²⁾: (H, G·H)   h⁽²⁾(t): (N, H)
    o(t) = h⁽²⁾(t) V + c,   ŷ(t) = softmax(o(t)),   L = Σ_t Σ_n −log ŷ(t)[n, y(t)[n]]

Backward.  Every h⁽ˡ⁾(t) feeds two things: h⁽ˡ⁾(t+1) along time, and what sits on top of it at
the same t (the readout for the top layer, layer l+1 for the others).  So each layer runs the
ordinary one-layer BPTT loop (``unroll.through_time``), from the top layer down; only the
"direct" gradient, the one that does not come along time, changes:

    top layer:   ∇h⁽²⁾(t) L = [what h⁽²⁾(t+1) sends back] + V ∇o(t) L
    below it:    ∇h⁽¹⁾(t) L = [what h⁽¹⁾(t+1) sends back] + U⁽²⁾ ∇a⁽²⁾(t) L      (= ∇x(t) of layer 2)

In column vectors, for the vanilla RNN (D⁽ˡ⁾(t) = diag(1 − h⁽ˡ⁾(t)²), ``rnn.stacked_rnn_backward``):

    ∇h⁽²⁾(t) L = W⁽²⁾ D⁽²⁾(t+1) ∇h⁽²⁾(t+1) L + V ∇o(t) L
    ∇h⁽¹⁾(t) L = W⁽¹⁾ D⁽¹⁾(t+1) ∇h⁽¹⁾(t+1) L + U⁽²⁾ D⁽²⁾(t) ∇h⁽²⁾(t) L
    ∇U⁽²⁾ = Σ_t h⁽¹⁾(t) ∇a⁽²⁾(t)ᵀ,   ∇U⁽¹⁾ = Σ_t x(t) ∇a⁽¹⁾(t)ᵀ,   W⁽ˡ⁾ and b⁽ˡ⁾ as for one layer

A gradient from the loss at step T reaches h⁽¹⁾(t) along many paths (up at any step between t and
T, along time in either layer): the two loops above add them all up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from . import unroll
from .notation import layer_params, stack_params
from .unroll import Cell, Gradients


@dataclasses.dataclass
class Layer:
    """One layer of the stack after the forward pass: its cell, parameters, input and what its steps kept."""

    cell: Cell
    params: dict  # {'U', 'W', 'b', ...} of this layer
    x: np.ndarray  # (T, N, D_l): x(t) for layer 1, h⁽ˡ⁻¹⁾(t) above it
    state0: tuple  # (h⁽ˡ⁾(0),) or (h⁽ˡ⁾(0), c⁽ˡ⁾(0)), each (N, H)
    states: list  # states[t - 1] = the state at time t
    steps: list  # steps[t - 1] = the cache of step t

    @property
    def h(self) -> np.ndarray:
        """h⁽ˡ⁾(1..T), (T, N, H)."""
        return np.stack([s[0] for s in self.states])


@dataclasses.dataclass
class StackedCache:
    """The forward pass of a stack: ``layers[l − 1]`` is layer l; o, ŷ and L are read off the top layer."""

    layers: list
    params: dict  # flat: 'U1', 'W1', 'b1', 'U2', ..., 'V', 'c'
    x: np.ndarray  # (T, N, D)
    y: np.ndarray  # (T, N)
    o: np.ndarray  # (T, N, C)
    yhat: np.ndarray  # (T, N, C)
    loss: float

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def h(self) -> np.ndarray:
        """The top layer's h(1..T), the one the readout reads."""
        return self.layers[-1].h


@dataclasses.dataclass
class StackedGradients:
    """BPTT through a stack: ``params`` in the flat names, ``layers[l − 1]`` layer l's ``unroll.Gradients``.

    Each layer's Gradients holds its ∇h⁽ˡ⁾(t) L (dh), ∇c⁽ˡ⁾(t) L (dc, LSTM), gate gradients, ∇ of its
    input (dx: the ∇h⁽ˡ⁻¹⁾(t) L that it sends down) and of its initial state (dstate0).
    """

    params: dict
    layers: list
    do: np.ndarray  # (T, N, C): ∇o(t) L = ŷ(t) − onehot(y(t))


def count_layers(p: dict) -> int:
    """How many layers a flat parameter dict holds ('U1', 'U2', ... ; 1 for the one-layer names 'U', 'W')."""
    if "U" in p:
        return 1
    L = 0
    while f"U{L + 1}" in p:
        L += 1
    return L


def forward(cells, x, y, p: dict, state0=None) -> StackedCache:
    """Run the stack over x (T, N, D) and score the top layer.

    cells: one ``Cell`` for every layer, or a list of them; p: the flat dict 'U1' ... 'V', 'c';
    state0: None (zeros everywhere) or one initial state per layer, [(h⁽¹⁾(0),), (h⁽²⁾(0),)] (LSTM: (h, c)).
    """
    L = count_layers(p)
    if L < 2 or "U" in p:
        raise ValueError(f"bptt.stacked.forward: expected the stacked names 'U1', 'U2', ..., got {sorted(p)}")
    cells = list(cells) if isinstance(cells, (list, tuple)) else [cells] * L
    if len(cells) != L:
        raise ValueError(f"bptt.stacked.forward: {len(cells)} cells for {L} layers")
    if state0 is not None and len(state0) != L:
        raise ValueError(f"bptt.stacked.forward: {len(state0)} initial states for {L} layers")
    x, y = unroll.check_inputs(x, y, dict(U=p["U1"], V=p["V"]), f"bptt.stacked.forward ({cells[0].name})")
    layers, below = [], x
    for k, cell in enumerate(cells):
        q = layer_params(p, k + 1)
        who = f"bptt.stacked.forward ({cell.name}, layer {k + 1})"
        if below.shape[2] != q["U"].shape[0]:
            raise ValueError(f"{who}: reads {below.shape[2]} features but U{k + 1} has shape {q['U'].shape}")
        s0, states, steps = unroll.run_layer(cell, below, q, None if state0 is None else state0[k], who)
        layers.append(Layer(cell, q, below, s0, states, steps))
        below = layers[-1].h
    o, yhat, loss = unroll.readout_forward(below, y, p["V"], p["c"])
    return StackedCache(layers, p, x, y, o, yhat, loss)


def backward(cache: StackedCache, step_backward: Callable | list | None = None) -> StackedGradients:
    """BPTT through the stack, top layer first (module docstring).

    ``step_backward``: a one-step backward to use in every layer instead of the cells' own, or a list
    of them, one per layer (None entries keep the cell's): to check a derivation of your own.
    """
    L = cache.num_layers
    own = step_backward if isinstance(step_backward, (list, tuple)) else [step_backward] * L
    p = cache.params
    do, dV, dc, direct = unroll.readout_backward(cache.h, cache.y, cache.yhat, p["V"])
    per_layer = [None] * L
    for k in reversed(range(L)):  # from the top down: layer k+1's ∇x(t) is the direct part of layer k's ∇h(t)
        layer = cache.layers[k]
        per_layer[k] = unroll.through_time(own[k] or layer.cell.step_backward, layer.steps, layer.state0, direct,
                                           layer.params)
        direct = per_layer[k].dx
    params = stack_params([g.params for g in per_layer], {"V": dV, "c": dc})
    return StackedGradients(params, per_layer, do)


def loss_only(cells, x, y, p: dict, state0=None) -> float:
    """L for the given parameters (finite differences call this many times)."""
    return forward(cells, x, y, p, state0).loss


def as_layers(grads) -> tuple[list, np.ndarray]:
    """([Gradients per layer], ∇o L) of a one-layer ``unroll.Gradients`` or a ``StackedGradients``."""
    if isinstance(grads, StackedGradients):
        return grads.layers, grads.do
    if isinstance(grads, Gradients):
        return [grads], grads.do
    raise TypeError(f"bptt: a backward must return unroll.Gradients or stacked.StackedGradients, got {type(grads)}")
