"""Fused recurrent cells: one graph node per time step, whose backward is the analytic formula.

The cells in rnn.py can run in two modes (``cell='composite'`` or ``'fused'``):

* composite: the step is written op by op (matmul, add, sigmoid, ...).  The
  graph shows every gate and a student can follow the chain rule through it.
* fused: the whole step is one ``Function`` below.  Its ``forward`` computes
  the cell in numpy and keeps the gate values; its ``backward`` is the
  one-step backpropagation formula written out by hand.  Far fewer nodes, so
  far less Python per step, and the same numbers to float64 round-off
  (tests/test_rnn.py checks values and every gradient).

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

from ..ops import concat, sigmoid, tanh  # helpers that take arrays or Tensors, as every rule does
from ..tensor import Function, Tensor

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
        a = x_proj + h @ w_hh.T
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
        i, f, g, o = self.gates(x_proj, h, w_hh)
        c_new = f * c + i * g
        tc = np.tanh(c_new)
        self.saved = i, f, g, o, tc
        return np.stack([o * tc, c_new])

    @staticmethod
    def gates(x_proj, h, w_hh):
        a = x_proj + h @ w_hh.T
        n = a.shape[-1] // 4
        return sigmoid(a[:, :n]), sigmoid(a[:, n:2 * n]), tanh(a[:, 2 * n:3 * n]), sigmoid(a[:, 3 * n:])

    def backward(self, grad, x_proj, h, c, w_hh, out):
        if isinstance(grad, Tensor):  # create_graph: recompute the gates as functions of the inputs
            i, f, g, o = self.gates(x_proj, h, w_hh)
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
        r = sigmoid(x_proj[:, :k] + s[:, :k])
        z = sigmoid(x_proj[:, k:2 * k] + s[:, k:2 * k])
        s_n = s[:, 2 * k:]
        return r, z, tanh(x_proj[:, 2 * k:] + r * s_n), s_n

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
