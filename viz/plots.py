"""The lecture's plots, with matplotlib: each function returns a Figure (the caller saves or shows it).

    gradient_flow(curves)                ‖∂L/∂h(t)‖ over t for several models side by side (vanishing gradients)
    jacobian_norms(norms, bound)         ‖∂h(T)/∂h(t)‖ with the bound ∏ σmax(D(k)) σmax(W)
    eigenvalues(W)                       the eigenvalues of W against the unit circle
    spectral_radius(rhos)                eigenvalues and ‖h(t)‖ = ‖(Wᵀ)ᵗ h(0)‖ for chosen spectral radii
    attention(weights, source, target)   an alignment matrix with the tokens on the axes
    training_curves(series)              loss (or bits per character) against the step
    gate_activations(gates)              a heatmap per LSTM gate, units × time

and two helpers that read the numbers off a graph: ``hidden_gradient_norms``
and ``gate_values``.  Time steps are numbered as the graphs and the lecture number them,
t = 1 … T (the layers of ``nn`` count their scopes from 0; the plots shift them by one), with
h(0) the state before t = 1: a plot that shows h(0) labels its tick "h(0)", never "0".
matplotlib runs with whatever backend is set (Agg when
there is no display); figures are closed by the caller (``plt.close(fig)``).
"""

from __future__ import annotations

import fnmatch
import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

import tinygrad_seq as tg

from .graph import time_step, trace

LSTM_GATES = ("input_gate", "forget_gate", "cell_candidate", "output_gate")


def _figure(ncols=1, nrows=1, width=4.2, height=3.2, **kw):
    # Figure() directly (not pyplot): no global state, nothing left open, works with any backend
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


class _StepLocator(MaxNLocator):
    """Whole-number ticks from ``first`` on: the margin matplotlib leaves before t = 1 gets no tick "0"."""

    def __init__(self, first):
        super().__init__(integer=True, min_n_ticks=3)
        self.first = first

    def tick_values(self, vmin, vmax):
        ticks = super().tick_values(vmin, vmax)
        return ticks[ticks >= self.first]


def _steps_axis(axis, initial_state=False):
    """Whole-number ticks on a time axis, none before t = 1; with ``initial_state`` also a tick at 0 that
    reads "h(0)" (the state before t = 1), so that no time step is ever labelled 0."""
    axis.set_major_locator(_StepLocator(0 if initial_state else 1))
    if initial_state:
        axis.set_major_formatter(FuncFormatter(lambda v, _: "h(0)" if v == 0 else f"{v:g}"))


def _heatmap_steps(axis, T):
    """Ticks of a heatmap whose columns (or rows) are steps 1 … T, drawn with extent (0.5, T + 0.5): every
    step up to 8 of them, else t = 1 and every k-th step (at most 7 labels, which fit a narrow panel)."""
    k = max(1, math.ceil(T / 6)) if T > 8 else 1
    ticks = sorted({1, *range(k, T + 1, k)})
    axis.set_ticks(ticks, [str(t) for t in ticks])


# --------------------------------------------------------------------------- reading numbers off a graph


def _named_steps(root, name, scope=None):
    """{sequence path: {t: tensor}} for the tensors whose name matches ``name`` (a pattern: "h(*)")
    made inside time steps, t numbered as drawn: from 1 (a sequence whose scopes count from 0, as
    the layers of ``nn`` do, is shifted by one, as in the graphs)."""
    order, _ = trace([root], constants=False)
    found = {}
    for t in order:
        st = time_step(t.scope)
        wanted = t.name is not None and fnmatch.fnmatchcase(t.name, name)
        if wanted and st and (scope is None or t.scope.startswith(scope)):
            found.setdefault(st[0].rpartition("/")[0], {})[st[1]] = t
    for seq, steps in found.items():
        if min(steps) == 0:
            found[seq] = {t + 1: v for t, v in steps.items()}
    return found


def hidden_gradient_norms(loss, name="h", scope=None) -> tuple[np.ndarray, np.ndarray]:
    """(t values, ‖∂L/∂h(t)‖) for the tensors named ``name`` (or matching it, "h(*)") in the time steps of ``loss``.

    t = 1 … T, as the graphs number the steps (``nn``'s scope ``t=0`` is step 1).

    The total derivative: through the readout at step t and through every later
    step.  Computed with ``tinygrad_seq.grad`` (the graph must still be alive:
    call this before ``backward()``, or after ``backward(retain_graph=True)``).
    With several layers or directions, ``scope`` picks one (e.g. ``"LSTM/l0"``);
    by default the last one found.
    """
    found = _named_steps(loss, name, scope)
    if not found:
        raise ValueError(f"hidden_gradient_norms: no tensor named {name!r} inside a time-step scope (t=…)")
    steps = found[list(found)[-1]]
    ts = sorted(steps)
    grads = tg.grad(loss, [steps[t] for t in ts], retain_graph=True, allow_unused=True)
    norms = [0.0 if g is None else float(np.linalg.norm(g.data)) for g in grads]
    return np.array(ts), np.array(norms)


def gate_values(root, gates=LSTM_GATES, scope=None, batch_index=0) -> dict:
    """{gate: (T, H) values over time} for one sequence of the batch, read from the named gate tensors.

    Row k holds step t = k + 1 (``gate_activations`` draws it in the column labelled k + 1)."""
    out = {}
    for gate in gates:
        found = _named_steps(root, gate, scope)
        if not found:
            continue
        steps = found[list(found)[-1]]
        rows = []
        for t in sorted(steps):
            d = steps[t].data
            rows.append(d.reshape(-1, d.shape[-1])[batch_index] if d.ndim > 1 else d)
        out[gate] = np.stack(rows)
    if not out:
        raise ValueError(f"gate_values: none of the tensors {list(gates)} found inside time-step scopes")
    return out


# --------------------------------------------------------------------------- vanishing and exploding gradients


def gradient_flow(curves: dict, title="‖∂L/∂h(t)‖: how much the loss at the end reaches step t") -> Figure:
    """One panel per model: ‖∂L/∂h(t)‖ against t on a log scale.

    curves: {model name: norms} or {model name: (t values, norms)}, e.g. from ``hidden_gradient_norms``;
    plain norms are steps t = 1 … T.
    """
    fig, axes = _figure(ncols=len(curves), sharey=True, width=3.6)
    for ax, (name, curve) in zip(axes[0], curves.items()):
        ts, norms = curve if isinstance(curve, tuple) else (np.arange(1, len(curve) + 1), curve)
        norms = np.asarray(norms, dtype=float)
        ax.semilogy(ts, np.maximum(norms, 1e-300), marker="o", markersize=3, linewidth=1.5, label=name)
        ax.set_title(name)
        ax.set_xlabel("time step t (1 … T)")
        _steps_axis(ax.xaxis)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("‖∂L/∂h(t)‖")
    fig.suptitle(title)
    return fig


def jacobian_norms(norms, bound=None, title="‖∂h(T)/∂h(t)‖ and the lecture's bound") -> Figure:
    """‖∂h(T)/∂h(t)‖₂ for t = 0 … T (log scale), with the bound ∏_{k=t+1}^{T} σmax(D(k)) σmax(W) if given.

    norms, bound: (T + 1,) arrays, e.g. ``tinygrad_seq.bptt.jacobian.jacobian_norms`` and ``jacobian_bound``:
    entry t is h(t) after step t = 1 … T, and entry 0 the initial state h(0) (its tick reads "h(0)").
    """
    norms = np.asarray(norms, dtype=float)
    ts = np.arange(len(norms))
    fig, axes = _figure(width=5.5, height=3.6)
    ax = axes[0][0]
    ax.semilogy(ts, np.maximum(norms, 1e-300), marker="o", markersize=3, label="‖∂h(T)/∂h(t)‖₂")
    if bound is not None:
        ax.semilogy(ts, np.maximum(np.asarray(bound, dtype=float), 1e-300), linestyle="--",
                    label="∏ σmax(D(k)) σmax(W)")
    ax.set_xlabel("time step t (1 … T; h(0) the initial state)")
    _steps_axis(ax.xaxis, initial_state=True)
    ax.set_ylabel("spectral norm")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


def _unit_circle(ax):
    theta = np.linspace(0, 2 * np.pi, 256)
    ax.plot(np.cos(theta), np.sin(theta), color="0.5", linewidth=1, label="|λ| = 1")
    ax.axhline(0, color="0.85", linewidth=0.8)
    ax.axvline(0, color="0.85", linewidth=0.8)
    ax.set_aspect("equal")
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")


def eigenvalues(W, title=None) -> Figure:
    """The eigenvalues of W in the complex plane, against the unit circle (|λ| > 1 explodes, < 1 vanishes)."""
    lam = np.linalg.eigvals(np.asarray(W, dtype=float))
    rho = float(np.abs(lam).max())
    fig, axes = _figure(width=4.2, height=4.2)
    ax = axes[0][0]
    _unit_circle(ax)
    ax.scatter(lam.real, lam.imag, s=22, zorder=3, label="eigenvalues of W")
    lim = max(1.15, rho * 1.1)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_title(title or f"eigenvalues of W, spectral radius ρ = {rho:.3g}")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def spectral_radius(rhos=(0.8, 1.0, 1.2), H=16, T=40, seed=0) -> Figure:
    """For W with each spectral radius ρ: its eigenvalues on the unit circle, and ‖h(t)‖ = ‖(Wᵀ)ᵗ h(0)‖.

    The linear recurrence h(t) = Wᵀ h(t−1) (the lecture's argument): along each
    eigenvector h is multiplied by λᵗ, so ‖h(t)‖ decays for ρ < 1 and explodes for ρ > 1.
    """
    from tinygrad_seq.bptt.jacobian import with_spectral_radius

    rng = np.random.default_rng(seed)
    h0 = rng.standard_normal(H)
    h0 /= np.linalg.norm(h0)
    fig, axes = _figure(ncols=2, width=4.4, height=4.0)
    circle, curves = axes[0]
    _unit_circle(circle)
    for rho in rhos:
        W = with_spectral_radius(H, rho, rng, symmetric=False)
        lam = np.linalg.eigvals(W)
        circle.scatter(lam.real, lam.imag, s=16, zorder=3, label=f"ρ = {rho:g}")
        h, norms = h0.copy(), [1.0]
        for _ in range(T):
            h = W.T @ h
            norms.append(float(np.linalg.norm(h)))
        curves.semilogy(np.arange(T + 1), norms, label=f"ρ = {rho:g}")
    lim = max(1.15, max(rhos) * 1.1)
    circle.set_xlim(-lim, lim)
    circle.set_ylim(-lim, lim)
    circle.set_title("eigenvalues of W")
    circle.legend(fontsize=8, loc="upper right")
    curves.set_xlabel("time step t (h(0) the initial state)")
    _steps_axis(curves.xaxis, initial_state=True)
    curves.set_ylabel("‖h(t)‖ = ‖(Wᵀ)ᵗ h(0)‖")
    curves.set_title("the linear recurrence h(t) = Wᵀ h(t−1)")
    curves.grid(True, which="both", alpha=0.3)
    curves.legend(fontsize=8)
    return fig


# --------------------------------------------------------------------------- attention, training, gates


def attention(weights, source=None, target=None, title="attention alignment α(t, i)") -> Figure:
    """An alignment matrix (T target steps × S source positions) as a heatmap, tokens on the axes.

    weights: (T, S) array or Tensor (e.g. one example of ``Attention.last_weights``);
    source: S tokens (x axis), target: T tokens (y axis); without tokens the positions are numbered
    from 1, as the lecture's α(t, i): i = 1 … S, t = 1 … T.
    """
    w = np.asarray(getattr(weights, "data", weights), dtype=float)
    if w.ndim != 2:
        raise ValueError(f"attention: weights must be (T, S), got shape {w.shape}")
    T, S = w.shape
    for what, tokens, n in (("source", source, S), ("target", target, T)):
        if tokens is not None and len(tokens) != n:
            raise ValueError(f"attention: {len(tokens)} {what} tokens for {n} {what} positions (weights {w.shape})")
    fig, axes = _figure(width=max(3.5, 0.55 * S + 1.8), height=max(3.0, 0.5 * T + 1.4))
    ax = axes[0][0]
    im = ax.imshow(w, cmap="Greys", vmin=0.0, vmax=max(1e-12, float(w.max())), aspect="auto")
    ax.set_xticks(range(S), [str(s) for s in source] if source is not None else [str(i + 1) for i in range(S)],
                  rotation=45 if source is not None else 0, ha="right" if source is not None else "center")
    ax.set_yticks(range(T), [str(s) for s in target] if target is not None else [str(t + 1) for t in range(T)])
    if T * S <= 120:  # small enough to print every weight in its cell
        for i in range(T):
            for j in range(S):
                ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if w[i, j] > 0.5 * w.max() else "black")
    ax.set_xlabel("source" if source is not None else "source position i (1 … S)")
    ax.set_ylabel("target" if target is not None else "target step t (1 … T)")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def training_curves(series: dict, ylabel="loss", bits_per_character=False, smooth=0,
                    title="training curves") -> Figure:
    """Curves against the training step.

    series: {label: values} or {label: (steps, values)}; plain values are steps 1 … N (the loss of
    the first update is step 1).  ``bits_per_character``
    converts a mean cross-entropy in nats to bits (÷ ln 2).  ``smooth``: a
    moving-average window drawn over the raw curve (0 = none).
    """
    fig, axes = _figure(width=5.5, height=3.6)
    ax = axes[0][0]
    for label, s in series.items():
        steps, values = s if isinstance(s, tuple) else (np.arange(1, len(s) + 1), s)
        values = np.asarray(values, dtype=float) / (math.log(2) if bits_per_character else 1.0)
        if smooth and smooth > 1 and len(values) >= smooth:
            line, = ax.plot(steps, values, alpha=0.3)
            kernel = np.ones(smooth) / smooth
            ax.plot(np.asarray(steps)[smooth - 1:], np.convolve(values, kernel, "valid"), color=line.get_color(),
                    label=label)
        else:
            ax.plot(steps, values, label=label)
    ax.set_xlabel("training step")
    _steps_axis(ax.xaxis)
    ax.set_ylabel("bits per character" if bits_per_character else ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def gate_activations(gates: dict, title="LSTM gate activations") -> Figure:
    """A heatmap per gate: units (rows) × time (columns), values in [0, 1] (tanh gates in [−1, 1]).

    gates: {gate name: (T, H) array}, e.g. from ``gate_values(loss)``: row k is step t = k + 1, drawn in the
    column labelled k + 1 (the image spans t = 0.5 … T + 0.5).
    """
    fig, axes = _figure(ncols=len(gates), width=3.2, height=3.2)
    for ax, (name, values) in zip(axes[0], gates.items()):
        v = np.asarray(values, dtype=float)
        signed = v.min() < 0
        T, H = v.shape
        im = ax.imshow(v.T, aspect="auto", cmap="RdBu_r" if signed else "viridis",
                       vmin=-1 if signed else 0, vmax=1, interpolation="nearest",
                       extent=(0.5, T + 0.5, H - 0.5, -0.5))
        ax.set_title(name)
        ax.set_xlabel("time step t")
        _heatmap_steps(ax.xaxis, T)
        ax.set_ylabel("unit")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(title)
    return fig
