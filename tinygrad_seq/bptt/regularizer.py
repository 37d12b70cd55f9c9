"""The gradient-flow regularizer of Pascanu, Mikolov & Bengio (2013), computed and differentiated by the engine.

To keep gradients from vanishing, ask every step to pass the error back
without shrinking it: with ∇h(t) L the gradient on h(t),

    Ω = Σ_t Σ_n ( ‖ (∇h(t) L)ᵀ ∂h(t)/∂h(t−1) ‖ / ‖∇h(t) L‖ − 1 )²          t = 1 … T, n = the sequences

The numerator is a vector-Jacobian product, exactly what one step of the
backward pass computes; for the vanilla RNN it is ``(∇h(t) ⊙ (1 − h(t)²)) Wᵀ``
in rows.  Ω depends on the weights through the states, the Jacobians and
the gradients ∇h(t) L themselves, so training on L + λΩ needs the derivative
of a derivative: the engine's ``create_graph=True``.  Each step's product is
taken with ``tg.grad(h(t), h(t−1), grad_outputs=∇h(t) L, create_graph=True)``,
so the same code serves every cell.

Pascanu et al. treat ∇h(t) L as a constant when they differentiate Ω (cheaper,
and it still pushes the Jacobians towards preserving the norm):
``constant_upstream=True`` does the same.  Ω's value is unchanged, but
``Ω.backward()`` then gives their surrogate, not the exact derivative of Ω
(which is what the default computes, and what tests/test_jacobian.py checks
against finite differences).
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..autograd import enable_grad
from ..creation import zeros
from ..tensor import Tensor
from . import rnn, unroll
from .compare import _prepare, _split, describe
from .models import Recurrent


def sharing(rnn_mod) -> Recurrent:
    """An op-by-op ``Recurrent`` that uses the very Parameter objects of ``rnn_mod`` (gradients reach them)."""
    spec = describe(rnn_mod)
    if spec["num_layers"] != 1:
        raise ValueError(
            f"bptt.gradient_flow_regularizer: covers one recurrent layer, got num_layers={spec['num_layers']}"
        )
    ref = Recurrent(spec["mode"], spec["input_size"], spec["hidden_size"], nonlinearity=spec["nonlinearity"],
                    bias=spec["bias"], peephole=spec["peephole"], coupled=spec["coupled"], trace=False)
    for name, p in rnn_mod.named_parameters():
        setattr(ref, name, p)
    return ref


def gradient_flow_regularizer(model, inputs, targets, h0=None, constant_upstream=False):
    """Ω and the loss L for a model and a batch, as engine Tensors (Ω can be differentiated: Ω.backward()).

    model:   a ``RecurrentLM``, a pair (rnn, readout) or a module with .rnn and .readout (one layer, one direction)
    inputs:  (T, N, D) floats or (T, N) token ids; targets (T, N) (batch first if the rnn is); a target
             −100 adds no loss (``F.cross_entropy``'s ignore_index): e.g. a loss at the last step only
    h0:      initial state (N, H), or (h0, c0) for the LSTM; zeros if None
    Returns (Ω, L) with L = Σ_t Σ_n −log softmax(o(t))[y(t)] as in compare().
    """
    rnn_mod, readout = _split(model)
    spec = describe(rnn_mod)
    x, y = _prepare(inputs, targets, spec)
    N, H = x.shape[1], spec["hidden_size"]
    dtype = rnn_mod.weight_hh_l0.dtype
    with enable_grad():
        ref = sharing(rnn_mod)
        n_states = 2 if spec["mode"] == "lstm" else 1
        parts = (None,) * n_states if h0 is None else (tuple(h0) if n_states == 2 else (h0,))
        state0 = tuple(zeros(N, H, dtype=dtype) if s is None else Tensor(np.asarray(s, dtype=dtype)) for s in parts)
        for s in state0:  # h(0) must be in the graph for ∂h(1)/∂h(0)
            s.requires_grad_()
        ref.trace = True
        out, _ = ref(Tensor(x.astype(dtype)), state0)
        o = readout(out)
        L = F.cross_entropy(o.reshape(-1, o.shape[-1]), y.reshape(-1), reduction="sum")
        hs = [state0[0]] + [step["h"] for step in ref.steps]
        from .. import grad  # the package's tg.grad (imported here: the package imports its parts first)

        # ∇h(t) L for t = 1 … T; as constants (no graph of the backward pass) for the cheap surrogate
        upstream = grad(L, hs[1:], create_graph=not constant_upstream, retain_graph=True)
        omega = 0.0
        for t in range(1, len(hs)):
            v = upstream[t - 1]
            vj = one_step_vjp(rnn_mod, spec, hs[t], hs[t - 1], v)
            ratio = _row_norm(vj) / _row_norm(v)
            omega = omega + ((ratio - 1) ** 2).sum()
    return omega, L


def one_step_vjp(rnn_mod, spec, h, h_prev, v):
    """(∇h(t) L)ᵀ ∂h(t)/∂h(t−1) in rows, (N, H), differentiable (create_graph).

    For the vanilla RNN the one-step Jacobian is known, D(t) Wᵀ in columns, so the product is written
    out: ``(v ⊙ φ'(a(t))) @ weight_hh_l0``.  That keeps Ω's cost linear in T: a ``tg.grad(h(t), h(t−1))``
    per step walks the whole graph behind h(t), t steps of it, which makes the sum over t quadratic.
    The other cells take that general route.
    """
    if spec["kind"] == "rnn":
        slope = 1 - h * h if spec["nonlinearity"] == "tanh" else Tensor((h.data > 0).astype(h.dtype))
        return (v * slope) @ rnn_mod.weight_hh_l0
    from .. import grad

    (vj,) = grad(h, h_prev, grad_outputs=v, create_graph=True)
    return vj


def _row_norm(v):
    return (v * v).sum(axis=1).sqrt()


def rnn_omega_numpy(cache: unroll.Cache) -> float:
    """Ω for the vanilla RNN from the analytic formulas (no engine): the check on ``gradient_flow_regularizer``."""
    grads = rnn.rnn_backward(cache)
    d = rnn.dphi(cache.h, cache.cell.options["nonlinearity"])
    vj = (grads.dh * d) @ cache.params["W"].T  # (∇h(t) L)ᵀ D(t) Wᵀ, in rows
    ratio = np.linalg.norm(vj, axis=2) / np.linalg.norm(grads.dh, axis=2)
    return float(((ratio - 1) ** 2).sum())
