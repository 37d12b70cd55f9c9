"""Truncated BPTT in analytic form: the same backward loop, cut after k2 steps.

Williams & Peng's BPTT(k2; k1): every k1 steps, the losses of those k1 steps
are backpropagated through the last k2 ≥ k1 steps and no further.  Update j
covers the window of 0-based steps

    [start, stop) = [j·k1 − (k2 − k1), (j+1)·k1)      clipped to [0, T)
    losses counted on [loss_start, stop) = [j·k1, (j+1)·k1)

which is the convention of ``tinygrad_seq.train.tbptt_windows`` (the engine's
truncated training helper); tests/test_bptt.py checks that the two give the
same gradients.  The forward values are those of the full forward pass (the
state is carried from window to window, only its gradient is cut), so one
``forward`` cache serves every window.  In one window:

    ∇h(t) L_j = [what step t+1 sends back, if t+1 < stop] + [V ∇o(t) L, if t ≥ loss_start]
    nothing is sent back past ``start``: the detached state has no gradient

With k1 = k2 = k this is the usual chunked TBPTT; with k2 ≥ k1·⌈T/k1⌉ (which is
T when k1 divides T) every window reaches the start and the summed gradient is
exactly full BPTT.  (The last window counts its loss from the last multiple of
k1, so when k1 does not divide T it needs up to k1 − 1 more steps of look-back.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .unroll import Cache, readout_backward


class Window(NamedTuple):
    """One update: steps [start, stop) are backpropagated, the losses of [loss_start, stop) counted."""

    start: int
    loss_start: int
    stop: int


def windows(T: int, k1: int, k2: int | None = None) -> list[Window]:
    """The windows of BPTT(k2; k1) over T steps (k2 defaults to k1)."""
    k2 = k1 if k2 is None else k2
    for name, k in (("T", T), ("k1", k1), ("k2", k2)):
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k <= 0:
            raise ValueError(f"bptt.truncated: {name} must be a positive integer, got {k!r}")
    if k2 < k1:
        raise ValueError(f"bptt.truncated: k2 ({k2}, steps backpropagated) must be >= k1 ({k1}, steps per update)")
    return [Window(max(s - (k2 - k1), 0), s, min(s + k1, T)) for s in range(0, T, k1)]


@dataclasses.dataclass
class TruncatedGradients:
    """What truncated BPTT computes.

    params:     Σ over windows of each window's parameter gradient (what accumulates in .grad
                when no optimizer step happens between windows)
    per_window: [{name: gradient}] one dict per window (what each optimizer step would see)
    windows:    the Windows
    dh:         [(stop − start, N, H)] per window, ∇h(t) L_j for t in [start, stop)
    """

    params: dict
    per_window: list
    windows: list
    dh: list


def truncated_backward(cache: Cache, k1: int, k2: int | None = None,
                       step_backward: Callable | None = None) -> TruncatedGradients:
    """BPTT(k2; k1) from a full forward ``cache`` (from ``unroll.forward`` or ``rnn_forward`` ...)."""
    step_backward = step_backward or cache.cell.step_backward
    p = cache.params
    h = cache.h
    T = len(h)
    do, _, _, dh_direct = readout_backward(h, cache.y, cache.yhat, p["V"])
    total = {k: np.zeros_like(v) for k, v in p.items()}
    per_window, dhs = [], []
    wins = windows(T, k1, k2)
    for w in wins:
        grads = {k: np.zeros_like(v) for k, v in p.items()}
        # the readout sees only the counted steps
        grads["V"] = np.einsum("tnh,tnc->hc", h[w.loss_start:w.stop], do[w.loss_start:w.stop])
        grads["c"] = do[w.loss_start:w.stop].sum(axis=(0, 1))
        dstate = tuple(np.zeros_like(s) for s in cache.state0)
        dh = np.zeros((w.stop - w.start,) + h.shape[1:])
        for t in reversed(range(w.start, w.stop)):
            if t >= w.loss_start:
                dstate = (dstate[0] + dh_direct[t],) + dstate[1:]
            dh[t - w.start] = dstate[0]
            dstate, _, dp, _ = step_backward(dstate, cache.steps[t])
            for k, v in dp.items():
                grads[k] += v
        # ``dstate`` now holds the gradient of the state at ``start``: the cut drops it
        for k in total:
            total[k] += grads[k]
        per_window.append(grads)
        dhs.append(dh)
    return TruncatedGradients(total, per_window, wins, dhs)
