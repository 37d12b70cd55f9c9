"""Fused recurrent cells and layers: one graph node per time step, or per whole sequence.

The layers in rnn.py can run in three modes (``cell='composite'``, ``'fused'`` or ``'sequence'``):

* composite: the step is written op by op (matmul, add, sigmoid, ...).  The
  graph shows every gate and a student can follow the chain rule through it.
* fused: the whole step is one ``Function`` below.  Its ``forward`` computes
  the cell in numpy and keeps the gate values; its ``backward`` is the
  one-step backpropagation formula written out by hand.  Far fewer nodes, so
  far less Python per step, and the same numbers to float64 round-off
  (tests/test_rnn.py checks values and every gradient).
* sequence: one layer in one direction, all T steps, is one node
  (``RecurrentLayer`` at the end of this file): the same equations as the
  step cells, with the work that does not depend on the recurrence done once
  for the whole sequence and the gate arrays allocated once, not per step
  (tests/test_fused_sequence.py checks it against the composite graph).

Each cell's input is the *input projection* of its time step, computed for all
steps at once before the loop (one big matmul instead of T small ones):

    RNN, LSTM:  x_proj(t) = W_ih x(t) + b_ih + b_hh      (both biases folded in)
    GRU:        x_proj(t) = W_ih x(t) + b_ih             (b_hn sits inside r ⊙ (...))

so a step only adds the recurrent part ``W_hh h(t−1)``.  ``ops.TimeSteps`` hands the
loop one step of that projection at a time without the quadratic cost of
slicing (see its docstring).

Second derivatives: the engine runs a backward rule on Tensors when
``create_graph=True``.  The rules here recompute the gates from their Tensor
inputs and then apply the same formula with Tensor operators, so the gradient
is itself differentiable; nothing falls back to the composite path.
"""

from __future__ import annotations

import numpy as np

from ..autograd import check_finite, located, state
from ..ops import Select, concat, sigmoid, tanh  # helpers that take arrays or Tensors, as every rule does
from ..tensor import Function, Tensor


def inside(value, what: str, op: str, step: int | None = None):
    """``value``, checked under ``detect_anomaly`` as the ops of a composite cell would check it.

    A fused cell computes inside what a composite cell computes op by op.  An Inf in a pre-activation
    becomes a finite output once a gate saturates (σ(∞) = 1), so checking only the cell's output would
    hide what the composite cell reports; each fused cell checks its pre-activations with this.
    """
    if state.anomaly:
        where = state.scope if step is None else "/".join(filter(None, (state.scope, f"t={step}")))
        check_finite(value, f"{what} inside {located(op, where)}")
    return value


# --------------------------------------------------------------------------- the fused cells


class RNNStep(Function):
    """h(t) = φ(x_proj(t) + W_hh h(t−1)),  φ = tanh or relu.

    Backward, with a = the pre-activation and g = ∂L/∂h(t):
        ∂L/∂a = g ⊙ φ'(a)            (1 − h(t)² for tanh, [a > 0] for relu)
        ∂L/∂x_proj = ∂L/∂a,  ∂L/∂h(t−1) = ∂L/∂a W_hh,  ∂L/∂W_hh = (∂L/∂a)ᵀ h(t−1)
    """

    op = "rnn_cell"

    def forward(self, x_proj, h, w_hh, nonlinearity):
        self.nonlinearity = nonlinearity
        a = inside(x_proj + h @ w_hh.T, "the pre-activation x_proj(t) + W_hh h(t−1)", self.op)
        if nonlinearity == "tanh":
            return np.tanh(a)
        self.mask = a > 0
        return a * self.mask

    def backward(self, g, x_proj, h, w_hh, out):
        if self.nonlinearity == "tanh":
            h_new = tanh(x_proj + h @ w_hh.T) if isinstance(g, Tensor) else out
            da = g * (1 - h_new * h_new)
        else:
            da = g * self.mask  # the mask is locally constant: its derivative is zero
        return da, da @ w_hh, da.T @ h


class LSTMStep(Function):
    """One LSTM step on [h; c], stacked as a (2, B, H) output (a Function has one output).

    Forward (PyTorch's gate order i, f, g, o along the 4H rows of W_hh):
        [a_i, a_f, a_g, a_o] = x_proj(t) + W_hh h(t−1)
        i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o)
        c(t) = f ⊙ c(t−1) + i ⊙ g,   h(t) = o ⊙ tanh(c(t))

    Backward, given ∂L/∂h(t) and ∂L/∂c(t) (the latter from step t+1):
        δc = ∂L/∂c(t) + ∂L/∂h(t) ⊙ o ⊙ (1 − tanh²c(t))      all paths into c(t)
        δo = ∂L/∂h(t) ⊙ tanh c(t),  δi = δc ⊙ g,  δf = δc ⊙ c(t−1),  δg = δc ⊙ i
        δa = [δi ⊙ i(1−i), δf ⊙ f(1−f), δg ⊙ (1−g²), δo ⊙ o(1−o)]
        ∂L/∂c(t−1) = δc ⊙ f      (the "constant error carousel": only a product of forget gates)
        ∂L/∂x_proj = δa,  ∂L/∂h(t−1) = δa W_hh,  ∂L/∂W_hh = δaᵀ h(t−1)
    """

    op = "lstm_cell"

    def forward(self, x_proj, h, c, w_hh):
        a = inside(x_proj + h @ w_hh.T, "the gate pre-activations x_proj(t) + W_hh h(t−1)", self.op)
        i, f, g, o = self.split(a)
        c_new = f * c + i * g
        tc = np.tanh(c_new)
        self.saved = i, f, g, o, tc
        return np.stack([o * tc, c_new])

    @staticmethod
    def split(a):
        """The four gates from their stacked pre-activations a (B, 4H)."""
        n = a.shape[-1] // 4
        return sigmoid(a[:, :n]), sigmoid(a[:, n:2 * n]), tanh(a[:, 2 * n:3 * n]), sigmoid(a[:, 3 * n:])

    def backward(self, grad, x_proj, h, c, w_hh, out):
        if isinstance(grad, Tensor):  # create_graph: recompute the gates as functions of the inputs
            i, f, g, o = self.split(x_proj + h @ w_hh.T)
            tc = tanh(f * c + i * g)
        else:
            i, f, g, o, tc = self.saved
        dh, dc = grad[0], grad[1]
        dc = dc + dh * o * (1 - tc * tc)
        da = concat([dc * g * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g * g), dh * tc * o * (1 - o)], 1)
        return da, da @ w_hh, dc * f, da.T @ h


class GRUStep(Function):
    """One GRU step, PyTorch's form (gate order r, z, n along the 3H rows):

        [s_r, s_z, s_n] = W_hh h(t−1) + b_hh
        r = σ(x_r + s_r),  z = σ(x_z + s_z),  n = tanh(x_n + r ⊙ s_n)
        h(t) = (1 − z) ⊙ n + z ⊙ h(t−1)

    Backward, with g = ∂L/∂h(t):
        δn = g ⊙ (1 − z) ⊙ (1 − n²),   δz = g ⊙ (h(t−1) − n) ⊙ z(1 − z),   δr = δn ⊙ s_n ⊙ r(1 − r)
        ∂L/∂x_proj = [δr, δz, δn],   δs = [δr, δz, δn ⊙ r]
        ∂L/∂h(t−1) = g ⊙ z + δs W_hh,  ∂L/∂W_hh = δsᵀ h(t−1),  ∂L/∂b_hh = Σ_batch δs
    """

    op = "gru_cell"

    def forward(self, x_proj, h, w_hh, b_hh):
        r, z, n, s_n = self.gates(x_proj, h, w_hh, b_hh)
        self.saved = r, z, n, s_n
        return n + z * (h - n)

    @staticmethod
    def gates(x_proj, h, w_hh, b_hh):
        s = h @ w_hh.T
        if b_hh is not None:
            s = s + b_hh
        k = s.shape[-1] // 3
        a_rz = inside(x_proj[:, :2 * k] + s[:, :2 * k], "the r, z pre-activations", "gru_cell")
        r, z = sigmoid(a_rz[:, :k]), sigmoid(a_rz[:, k:])
        s_n = s[:, 2 * k:]
        return r, z, tanh(inside(x_proj[:, 2 * k:] + r * s_n, "the candidate's pre-activation", "gru_cell")), s_n

    def backward(self, g, x_proj, h, w_hh, b_hh, out):
        if isinstance(g, Tensor):
            r, z, n, s_n = self.gates(x_proj, h, w_hh, b_hh)
        else:
            r, z, n, s_n = self.saved
        dn = g * (1 - z) * (1 - n * n)
        dr = dn * s_n * r * (1 - r)
        dz = g * (h - n) * z * (1 - z)
        ds = concat([dr, dz, dn * r], 1)
        db = None if b_hh is None else ds.sum(axis=0)
        return concat([dr, dz, dn], 1), g * z + ds @ w_hh, ds.T @ h, db


# --------------------------------------------------------------------------- one node per layer and direction


def recurrent_layer(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh", reverse=False, keep=None,
                    checkpoint_every=None):
    """Run one layer in one direction over a whole sequence as a single node (``RecurrentLayer``).

    x (T, B, D); h0, c0 (B, H) (c0 None unless LSTM); keep None or a (T, B, 1) bool array (t < length);
    ``reverse`` runs t = T−1 … 0.  Returns Tensors (output (T, B, H), h_n (B, H), c_n (B, H) or None),
    three ``select`` nodes reading the one node's results.
    """
    parts = _Parts()
    handle = RecurrentLayer.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode=mode, nonlinearity=nonlinearity,
                                  reverse=reverse, keep=keep, parts=parts, checkpoint_every=checkpoint_every)
    handle.name = f"{mode.lower()}_layer"
    names = ("output", "h_n", "c_n") if mode == "LSTM" else ("output", "h_n")
    results = []
    for k, name in enumerate(names):
        r = Select.apply(handle, t=k, collector=parts)
        r.name = name
        results.append(r)
    return results[0], results[1], results[2] if mode == "LSTM" else None


class _Parts:
    """The node's results (``values``) and the gradients the ``select`` nodes send back (``grads``)."""

    def __init__(self):
        self.values, self.grads = None, {}


def _sigmoid_(a):
    """σ(a) in place, as ``ops.sigmoid`` computes it: 1/(1 + e^−a)."""
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1
    np.reciprocal(a, out=a)


class RecurrentLayer(Function):
    """A whole recurrent layer in one direction as one node: RNN (tanh/relu), LSTM or GRU.

    The equations are those of the step cells above (``RNNStep``, ``LSTMStep``, ``GRUStep``), for
    t = 1 … T; what changes is where the work is done.  With G gates (1, 4, 3) and S = T·B rows:

    forward
        X_proj = X W_ihᵀ + b                       one (S, D) @ (D, G·H) product for all steps
        for t:  a(t) = X_proj(t) + W_hh h(t−1)     only the recurrent product stays in the loop;
                gates, c(t), h(t) as in the step cell, written in place into (T, B, G·H) and
                (T+1, B, H) arrays allocated once (no (B, G·H) array is made per step)
    backward, the step cell's formulas run from t = T down to 1, giving δa(t) into one (T, B, G·H) array, then
        ∂L/∂W_hh = Σ_t δa(t)ᵀ h(t−1)                one (G·H, S) @ (S, H) product   (GRU: δs instead of δa)
        ∂L/∂W_ih = δAᵀ X,   ∂L/∂b = Σ_{t,b} δa,    ∂L/∂X = δA W_ih                 one product each

    Variable lengths (``keep``: t < length): past its length a sequence keeps h, c and outputs zeros; its δa
    is then zero and the state's gradient passes through unchanged.

    ``checkpoint_every=k``: forward keeps only the state at every k-th step (and the outputs); backward
    recomputes the forward of each k-step segment from its saved state, then runs that segment's backward.
    Peak memory falls from O(T) gate arrays to O(k), for one more forward pass of the loop.

    The backward is numpy only: ``create_graph=True`` (a gradient of a gradient) is refused with a clear
    error; ``cell='fused'`` (step cells whose rules run on Tensors) or ``'composite'`` provide it.
    """

    op = "recurrent_layer"

    def forward(self, x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode, nonlinearity, reverse, keep, parts,
                checkpoint_every):
        T, B, D = x.shape
        H = w_hh.shape[1]
        dtype = np.result_type(x, h0, w_ih, w_hh)
        x = np.ascontiguousarray(x[::-1] if reverse else x)  # reversed: run it forwards, flip the results back
        if reverse:
            keep = None if keep is None else keep[::-1]
        bias = b_ih if mode == "GRU" or b_ih is None else b_ih + b_hh  # GRU keeps b_hh inside r ⊙ (...)
        k = T if checkpoint_every is None else min(int(checkpoint_every), T)
        kernel = _KERNELS[mode](k, B, H, dtype, nonlinearity, None if mode != "GRU" else b_hh)
        self.mode, self.reverse, self.keep, self.parts, self.kernel = mode, reverse, keep, parts, kernel
        self.notkeep = None if keep is None else ~keep
        self.x, self.bias, self.segments = x, bias, [(a, min(a + k, T)) for a in range(0, T, k)]
        out = np.empty((T, B, H), dtype)
        h, c = h0, c0
        self.states = []  # the state entering each segment (all a backward needs to recompute it)
        for a, b in self.segments:
            self.states.append((np.array(h, dtype), None if c is None else np.array(c, dtype)))
            if state.anomaly:  # the kernel checks each step's pre-activations, naming the step as t=…
                kernel.check = lambda t, value, a=a: inside(value, "the pre-activations", self.op,
                                                            T - 1 - (a + t) if reverse else a + t)
            h, c = self._forward_segment(a, b, h, c, w_ih, w_hh, out[a:b])
        kernel.check = None  # a backward recomputes segments unchecked: the forward checked them
        self.loaded = len(self.segments) - 1  # the segment whose gates are in the kernel's arrays now
        parts.values = (out[::-1] if reverse else out, np.array(h), None if c is None else np.array(c))
        return np.zeros((), dtype)

    def _forward_segment(self, a, b, h, c, w_ih, w_hh, out):
        n, kernel = b - a, self.kernel
        proj = kernel.A[:n].reshape(n * kernel.B, -1)
        np.matmul(self.x[a:b].reshape(n * kernel.B, -1), w_ih.T, out=proj)
        if self.bias is not None:
            proj += self.bias
        if kernel.check:
            inside(proj, "the input projection X W_ihᵀ + b", self.op)
        return kernel.forward(n, h, c, w_hh.T, None if self.keep is None else self.keep[a:b],
                              None if self.keep is None else self.notkeep[a:b], out)

    def backward(self, g, x, h0, c0, w_ih, w_hh, b_ih, b_hh, out):
        if isinstance(g, Tensor):
            raise RuntimeError(
                f"{self.mode} with cell='sequence' has a numpy-only backward: create_graph=True (a derivative of "
                "a gradient) is not available. Use cell='fused' or cell='composite' for second derivatives."
            )
        kernel, B, H = self.kernel, self.x.shape[1], w_hh.shape[1]
        got = [None, None, None]
        for i, gi in self.parts.grads.values():  # a result used twice sends two shares
            got[i] = gi if got[i] is None else got[i] + gi
        self.parts.grads = {}
        g_out = None if got[0] is None else np.asarray(got[0], kernel.dtype)  # None: the outputs were not used
        if g_out is not None and self.reverse:
            g_out = g_out[::-1]
        dh = np.zeros((B, H), kernel.dtype) if got[1] is None else np.array(got[1], kernel.dtype)
        dc = None if self.mode != "LSTM" else np.zeros((B, H), kernel.dtype) if got[2] is None else \
            np.array(got[2], kernel.dtype)
        need = self.needs_input_grad
        dx = np.empty(self.x.shape, kernel.dtype) if need[0] else None
        dw_ih, dw_hh = np.zeros_like(w_ih, dtype=kernel.dtype), np.zeros_like(w_hh, dtype=kernel.dtype)
        db = None if b_ih is None else np.zeros(w_ih.shape[0], kernel.dtype)
        db_hh = None if b_hh is None or self.mode != "GRU" else np.zeros(w_ih.shape[0], kernel.dtype)
        scratch = None
        for s in range(len(self.segments) - 1, -1, -1):
            a, b = self.segments[s]
            n = b - a
            if s != self.loaded:  # recompute this segment's gates from the state saved at its start
                if scratch is None:  # (the outputs of a recomputed segment are known already: written here, unread)
                    scratch = np.empty(kernel.S.shape, kernel.dtype)
                self._forward_segment(a, b, *self.states[s], w_ih, w_hh, scratch[:n])
                self.loaded = s
            keep = None if self.keep is None else self.keep[a:b]
            notkeep = None if self.keep is None else self.notkeep[a:b]
            dA, dR, dh, dc = kernel.backward(n, w_hh, keep, notkeep, None if g_out is None else g_out[a:b], dh, dc)
            dA2, dR2 = dA.reshape(n * B, -1), dR.reshape(n * B, -1)
            dw_ih += dA2.T @ self.x[a:b].reshape(n * B, -1)
            dw_hh += dR2.T @ kernel.S[:n].reshape(n * B, H)  # Σ_t δa(t)ᵀ h(t−1), h(t−1) = S[t]
            if db is not None:
                db += dA2.sum(axis=0)
            if db_hh is not None:
                db_hh += dR2.sum(axis=0)
            if dx is not None:
                np.matmul(dA2, w_ih, out=dx[a:b].reshape(n * B, -1))
        if dx is not None and self.reverse:
            dx = dx[::-1]
        if self.mode == "GRU":
            return dx, dh, None, dw_ih, dw_hh, db, db_hh
        return dx, dh, dc, dw_ih, dw_hh, db, db  # b_ih and b_hh enter as one sum: the same gradient


class _Kernel:
    """The arrays of one segment of k steps, allocated once, and its step loops (forward, backward).

    ``A`` (k, B, G·H) receives the input projection and is turned into the gates in place; ``S`` (k+1, B, H)
    holds the states, S[0] = h(start) and S[t+1] = h after step t, so h(t−1) of every step is ``S[:k]``.
    """

    G = 1
    check = None  # under detect_anomaly: check(t, pre-activations) for step t of the segment

    def __init__(self, k, B, H, dtype, nonlinearity, b_hh):
        self.B, self.H, self.dtype, self.nonlinearity, self.b_hh = B, H, dtype, nonlinearity, b_hh
        self.A = np.empty((k, B, self.G * H), dtype)
        self.S = np.empty((k + 1, B, H), dtype)
        self.rec = np.empty((B, self.G * H), dtype)  # W_hh h(t−1) of the current step
        self.u, self.v = np.empty((B, H), dtype), np.empty((B, H), dtype)

    def keep_state(self, t, keep, notkeep, out, *pairs):
        """Past its length a sequence outputs zeros and keeps its state: new[~keep] = old."""
        h = pairs[0][0]
        if keep is None:
            np.copyto(out[t], h)
            return
        np.multiply(h, keep[t], out=out[t])
        for new, old in pairs:
            np.copyto(new, old, where=notkeep[t])

    @staticmethod
    def state_gradient(gh, g_out, t, dh):
        """∂L/∂h(t) into gh: the share of the output at t (if the outputs were used) plus that of step t+1."""
        if g_out is None:
            np.copyto(gh, dh)
        else:
            np.add(g_out[t], dh, out=gh)

    def carry(self, new, old, notkeep, t):
        """The state's gradient passes unchanged through the steps past a sequence's length."""
        if notkeep is not None:
            np.copyto(new, old, where=notkeep[t])


class _RNNKernel(_Kernel):
    """h(t) = φ(a(t)); A holds a(t), then h(t) before the length mask.  Backward: δa = g ⊙ φ'(a)."""

    def forward(self, n, h, c, w_hhT, keep, notkeep, out):
        A, S = self.A, self.S
        S[0] = h
        for t in range(n):
            a = A[t]
            np.matmul(S[t], w_hhT, out=self.rec)
            a += self.rec
            if self.check:
                self.check(t, a)
            if self.nonlinearity == "tanh":
                np.tanh(a, out=a)
            else:
                np.maximum(a, 0, out=a)
            np.copyto(S[t + 1], a)
            self.keep_state(t, keep, notkeep, out, (S[t + 1], S[t]))
        return S[n], None

    def backward(self, n, w_hh, keep, notkeep, g_out, dh, dc):
        A, dA = self.A, np.empty((n, self.B, self.H), self.dtype)
        gh, dh_next = self.u, np.empty_like(dh)
        for t in range(n - 1, -1, -1):
            self.state_gradient(gh, g_out, t, dh)  # ∂L/∂h(t): from the output at t and from step t+1
            if keep is not None:
                gh *= keep[t]
            d, h = dA[t], A[t]
            if self.nonlinearity == "tanh":
                np.multiply(h, h, out=d)
                np.subtract(1, d, out=d)
                d *= gh
            else:
                np.multiply(gh, h > 0, out=d)
            np.matmul(d, w_hh, out=dh_next)
            self.carry(dh_next, dh, notkeep, t)
            dh, dh_next = dh_next, dh
        return dA, dA, dh, None


class _LSTMKernel(_Kernel):
    """The LSTM step of ``LSTMStep``; A holds [i, f, g, o] after the step, C (k+1, B, H) the cell states."""

    G = 4

    def __init__(self, k, B, H, dtype, nonlinearity, b_hh):
        super().__init__(k, B, H, dtype, nonlinearity, b_hh)
        self.C = np.empty((k + 1, B, H), dtype)
        self.TC = np.empty((k, B, H), dtype)  # tanh c(t) before the length mask, for h(t) and its gradient

    def forward(self, n, h, c, w_hhT, keep, notkeep, out):
        A, S, C, TC, H = self.A, self.S, self.C, self.TC, self.H
        S[0], C[0] = h, c
        with np.errstate(over="ignore"):  # e^−a = inf for a ≪ 0 gives the right σ = 0
            for t in range(n):
                a = A[t]
                np.matmul(S[t], w_hhT, out=self.rec)
                a += self.rec
                if self.check:
                    self.check(t, a)
                _sigmoid_(a[:, :2 * H])
                np.tanh(a[:, 2 * H:3 * H], out=a[:, 2 * H:3 * H])
                _sigmoid_(a[:, 3 * H:])
                i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
                np.multiply(f, C[t], out=C[t + 1])  # c(t) = f ⊙ c(t−1) + i ⊙ g
                np.multiply(i, g, out=self.u)
                C[t + 1] += self.u
                np.tanh(C[t + 1], out=TC[t])
                np.multiply(o, TC[t], out=S[t + 1])  # h(t) = o ⊙ tanh c(t)
                self.keep_state(t, keep, notkeep, out, (S[t + 1], S[t]), (C[t + 1], C[t]))
        return S[n], C[n]

    def backward(self, n, w_hh, keep, notkeep, g_out, dh, dc):
        A, C, TC, H = self.A, self.C, self.TC, self.H
        dA = np.empty((n, self.B, 4 * H), self.dtype)
        gh, dcell, v = self.u, np.empty_like(dh), self.v
        dh_next, dc_next = np.empty_like(dh), np.empty_like(dc)
        for t in range(n - 1, -1, -1):
            a, d = A[t], dA[t]
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            di, df, dg, do = d[:, :H], d[:, H:2 * H], d[:, 2 * H:3 * H], d[:, 3 * H:]
            tc = TC[t]
            self.state_gradient(gh, g_out, t, dh)
            if keep is not None:
                gh *= keep[t]
            # δc = ∂L/∂c(t) + ∂L/∂h(t) ⊙ o ⊙ (1 − tanh²c(t))
            np.multiply(tc, tc, out=dcell)
            np.subtract(1, dcell, out=dcell)
            dcell *= o
            dcell *= gh
            if keep is not None:
                np.multiply(dc, keep[t], out=v)
                dcell += v
            else:
                dcell += dc
            np.multiply(gh, tc, out=do)  # δa_o = ∂L/∂h(t) ⊙ tanh c(t) ⊙ o(1 − o)
            do *= o
            np.subtract(1, o, out=v)
            do *= v
            np.multiply(dcell, g, out=di)  # δa_i = δc ⊙ g ⊙ i(1 − i)
            di *= i
            np.subtract(1, i, out=v)
            di *= v
            np.multiply(dcell, C[t], out=df)  # δa_f = δc ⊙ c(t−1) ⊙ f(1 − f)
            df *= f
            np.subtract(1, f, out=v)
            df *= v
            np.multiply(g, g, out=v)  # δa_g = δc ⊙ i ⊙ (1 − g²)
            np.subtract(1, v, out=v)
            v *= i
            np.multiply(dcell, v, out=dg)
            np.multiply(dcell, f, out=dc_next)  # ∂L/∂c(t−1) = δc ⊙ f
            np.matmul(d, w_hh, out=dh_next)  # ∂L/∂h(t−1) = δa W_hh
            self.carry(dc_next, dc, notkeep, t)
            self.carry(dh_next, dh, notkeep, t)
            dh, dh_next, dc, dc_next = dh_next, dh, dc_next, dc
        return dA, dA, dh, dc


class _GRUKernel(_Kernel):
    """The GRU step of ``GRUStep``; A holds [r, z, n] after the step, SN (k, B, H) the s_n = (W_hh h + b_hh)_n."""

    G = 3

    def __init__(self, k, B, H, dtype, nonlinearity, b_hh):
        super().__init__(k, B, H, dtype, nonlinearity, b_hh)
        self.SN = np.empty((k, B, H), dtype)

    def forward(self, n, h, c, w_hhT, keep, notkeep, out):
        A, S, SN, H, s = self.A, self.S, self.SN, self.H, self.rec
        S[0] = h
        with np.errstate(over="ignore"):
            for t in range(n):
                a = A[t]
                np.matmul(S[t], w_hhT, out=s)
                if self.b_hh is not None:
                    s += self.b_hh
                a[:, :2 * H] += s[:, :2 * H]
                if self.check:
                    self.check(t, a[:, :2 * H])
                _sigmoid_(a[:, :2 * H])  # r, z
                r, z, cand = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
                np.copyto(SN[t], s[:, 2 * H:])
                np.multiply(r, SN[t], out=self.u)  # n = tanh(x_n + r ⊙ s_n)
                cand += self.u
                if self.check:
                    self.check(t, cand)
                np.tanh(cand, out=cand)
                np.subtract(S[t], cand, out=S[t + 1])  # h(t) = n + z ⊙ (h(t−1) − n)
                S[t + 1] *= z
                S[t + 1] += cand
                self.keep_state(t, keep, notkeep, out, (S[t + 1], S[t]))
        return S[n], None

    def backward(self, n, w_hh, keep, notkeep, g_out, dh, dc):
        A, S, SN, H = self.A, self.S, self.SN, self.H
        dA = np.empty((n, self.B, 3 * H), self.dtype)
        dR = np.empty_like(dA)  # δs = [δr, δz, δn ⊙ r]: what reaches W_hh h + b_hh
        gh, u, v, dh_next = self.u, self.v, np.empty_like(dh), np.empty_like(dh)
        for t in range(n - 1, -1, -1):
            a, d, ds = A[t], dA[t], dR[t]
            r, z, cand = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
            dr, dz, dn = d[:, :H], d[:, H:2 * H], d[:, 2 * H:]
            self.state_gradient(gh, g_out, t, dh)
            if keep is not None:
                gh *= keep[t]
            np.multiply(cand, cand, out=u)  # δn = g ⊙ (1 − z) ⊙ (1 − n²)
            np.subtract(1, u, out=u)
            np.subtract(1, z, out=v)
            u *= v
            np.multiply(gh, u, out=dn)
            np.multiply(dn, SN[t], out=dr)  # δr = δn ⊙ s_n ⊙ r(1 − r)
            dr *= r
            np.subtract(1, r, out=v)
            dr *= v
            np.subtract(S[t], cand, out=dz)  # δz = g ⊙ (h(t−1) − n) ⊙ z(1 − z)
            dz *= gh
            dz *= z
            np.subtract(1, z, out=v)
            dz *= v
            np.copyto(ds[:, :2 * H], d[:, :2 * H])
            np.multiply(dn, r, out=ds[:, 2 * H:])
            np.matmul(ds, w_hh, out=dh_next)  # ∂L/∂h(t−1) = g ⊙ z + δs W_hh
            np.multiply(gh, z, out=u)
            dh_next += u
            self.carry(dh_next, dh, notkeep, t)
            dh, dh_next = dh_next, dh
        return dA, dR, dh, None


_KERNELS = {"RNN": _RNNKernel, "LSTM": _LSTMKernel, "GRU": _GRUKernel}
