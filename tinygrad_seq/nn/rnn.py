"""Recurrent layers: the cells RNNCell, LSTMCell, GRUCell and the unrolled RNN, LSTM, GRU.

Constructor arguments, parameter names and shapes, gate order, initialisation
and return values are PyTorch's, so a ``torch.nn.LSTM`` state dict loads as it
is and gives the same outputs and gradients (tests/test_rnn_parity.py):

    weight_ih_l{k}[_reverse]   (G·H, input size of layer k)    G = 1 (RNN), 4 (LSTM), 3 (GRU)
    weight_hh_l{k}[_reverse]   (G·H, H)
    bias_ih_l{k}[_reverse]     (G·H,)
    bias_hh_l{k}[_reverse]     (G·H,)

all initialised uniformly on ±1/√H.  The lecture writes the vanilla RNN as
h(t) = tanh(Wᵀ h(t−1) + Uᵀ x(t) + b), so U = ``weight_ih``ᵀ, W = ``weight_hh``ᵀ
and b = ``bias_ih + bias_hh``; ``tinygrad_seq/bptt/notation.py`` is the one
place that maps the two notations, for every cell.

How a layer is unrolled
-----------------------
For each layer and direction the input projection x_proj(t) = W_ih x(t) + b
is computed for all T steps at once (one matmul, in the layer's scope), then a
Python loop runs the recurrent part step by step, each step in its own scope:

    LSTM/l0/x_proj                       one (T, B, 4H) projection
    LSTM/l0/t=3/forget_gate              the gates of step 3 (composite cell)
    LSTM/l0_reverse/t=3/h                the backward direction of a bidirectional layer

so a drawing of the graph reads like the unrolled diagram of the lecture.
Gate tensors carry names (``input_gate``, ``forget_gate``, ``cell_candidate``,
``output_gate``, ``c``, ``h``; GRU ``reset_gate``, ``update_gate``,
``candidate``) that the drawing shows.

``cell='composite'`` (the default) builds each step op by op, so every gate is
visible; ``cell='fused'`` makes each step a single node whose backward is the
analytic formula (fused.py): the same numbers with a fraction of the Python
work per step.  That is 2–3× faster for small layers (H = 32), where Python
dominates, and 10–30% for H = 128, where the three matrix products of each
step dominate (benchmarks/bench_rnn.py).  ``cell='sequence'`` (layers only,
not the one-step cells) makes a whole layer-direction one node
(``fused.RecurrentLayer``): the input projection, the weight gradients and
the input gradient are each one product over all T steps, and the gate arrays
are allocated once.  It is the fastest mode; its backward is numpy only, so it
refuses ``create_graph=True`` (use 'fused' for second derivatives).

Gradient checkpointing over time: ``grad_checkpoint_every=k`` (with
``cell='sequence'``) keeps only every k-th state in forward and recomputes
each k-step segment in backward: the same gradients, with the memory of the
saved gates cut from T steps to k, for one more forward pass.

Sequences of different lengths: pass ``lengths`` (one int per batch element)
instead of PyTorch's PackedSequence.  Steps past an example's length leave its
state unchanged and give zero outputs, so ``h_n`` is the state at its last
real step, and the reverse direction starts at its last real step, exactly as
with a packed sequence.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..autograd import scope
from ..creation import cat, stack, where, zeros
from ..ops import TimeSteps
from ..tensor import as_tensor
from .fused import GRUStep, LSTMStep, RNNStep, recurrent_layer
from .init import uniform
from .module import Module, Parameter, check_sizes

__all__ = [
    "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "RNNBase",
    "rnn_step", "lstm_step", "gru_step", "input_projection",
]

CELL_MODES = ("composite", "fused")  # the one-step cells; the unrolled layers also have "sequence"
LAYER_MODES = CELL_MODES + ("sequence",)
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


# --------------------------------------------------------------------------- one time step, in both modes


def _named(t, name):
    t.name = name
    return t


def _block(a, k, n):
    """Columns k·n … (k+1)·n − 1 of stacked pre-activations (B, G·n): the k-th gate's block."""
    return a[:, k * n:(k + 1) * n]


def input_projection(x, weight_ih, bias=None):
    """x W_ihᵀ + bias for inputs of shape (..., D), as one 2-D matmul: (..., G·H)."""
    lead = x.shape[:-1]
    proj = x.reshape(-1, x.shape[-1]) @ weight_ih.T
    if bias is not None:
        proj = proj + bias
    return _named(proj.reshape(*lead, proj.shape[-1]), "x_proj")


def rnn_step(x_proj, h, weight_hh, nonlinearity="tanh", cell="composite"):
    """Vanilla RNN step: h(t) = φ(a(t)),  a(t) = x_proj(t) + W_hh h(t−1),  φ = tanh or relu.

    x_proj (B, H) is U x(t) + b, computed beforehand; h (B, H).  Returns h(t) (B, H).
    """
    if cell == "fused":
        return _named(RNNStep.apply(x_proj, h, weight_hh, nonlinearity=nonlinearity), "h")
    a = _named(x_proj + h @ weight_hh.T, "a")
    return _named(a.tanh() if nonlinearity == "tanh" else a.relu(), "h")


def lstm_step(x_proj, h, c, weight_hh, cell="composite"):
    """LSTM step (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

        [a_i, a_f, a_g, a_o] = x_proj(t) + W_hh h(t−1)        x_proj (B, 4H), PyTorch's order i, f, g, o
        i = σ(a_i)  input gate,   f = σ(a_f)  forget gate,   g = tanh(a_g)  cell candidate,   o = σ(a_o)  output gate
        c(t) = f ⊙ c(t−1) + i ⊙ g,    h(t) = o ⊙ tanh(c(t))

    h, c (B, H).  Returns (h(t), c(t)).  Each gate is computed in a scope of its own name.
    """
    if cell == "fused":
        hc = LSTMStep.apply(x_proj, h, c, weight_hh)
        return _named(hc[0], "h"), _named(hc[1], "c")
    n = h.shape[-1]
    a = _named(x_proj + h @ weight_hh.T, "gate_preactivations")
    with scope("input_gate"):
        i = _named(_block(a, 0, n).sigmoid(), "input_gate")
    with scope("forget_gate"):
        f = _named(_block(a, 1, n).sigmoid(), "forget_gate")
    with scope("cell_candidate"):
        g = _named(_block(a, 2, n).tanh(), "cell_candidate")
    with scope("output_gate"):
        o = _named(_block(a, 3, n).sigmoid(), "output_gate")
    with scope("c"):
        c = _named(f * c + i * g, "c")
    with scope("h"):
        h = _named(o * c.tanh(), "h")
    return h, c


def gru_step(x_proj, h, weight_hh, bias_hh=None, cell="composite"):
    """GRU step (Cho et al. 2014), PyTorch's form with gate order r, z, n:

        [s_r, s_z, s_n] = W_hh h(t−1) + b_hh                  x_proj (B, 3H) = W_ih x(t) + b_ih
        r = σ(x_r + s_r)  reset gate,   z = σ(x_z + s_z)  update gate
        n = tanh(x_n + r ⊙ s_n)  candidate,   h(t) = (1 − z) ⊙ n + z ⊙ h(t−1)

    h (B, H).  Returns h(t).
    """
    if cell == "fused":
        return _named(GRUStep.apply(x_proj, h, weight_hh, bias_hh), "h")
    k = h.shape[-1]
    s = h @ weight_hh.T
    if bias_hh is not None:
        s = s + bias_hh
    with scope("reset_gate"):
        r = _named((_block(x_proj, 0, k) + _block(s, 0, k)).sigmoid(), "reset_gate")
    with scope("update_gate"):
        z = _named((_block(x_proj, 1, k) + _block(s, 1, k)).sigmoid(), "update_gate")
    with scope("candidate"):
        n = _named((_block(x_proj, 2, k) + r * _block(s, 2, k)).tanh(), "candidate")
    with scope("h"):
        h = _named((1 - z) * n + z * h, "h")
    return h


# --------------------------------------------------------------------------- argument checks shared with variants.py


def check_cell(owner, cell, modes=CELL_MODES):
    if cell not in modes:
        raise ValueError(f"{owner}: cell must be {' or '.join(map(repr, modes))}, got {cell!r}")


def to_time_major(owner, x, input_size, batch_first):
    """Bring the input to (T, B, D); also say whether it was unbatched (T, D).

    Accepts (T, B, D), (B, T, D) with ``batch_first``, or an unbatched (T, D)
    (for which batch_first does not apply, as in PyTorch).
    """
    x = as_tensor(x)
    if x.ndim not in (2, 3):
        layout = "(batch, seq_len, input_size)" if batch_first else "(seq_len, batch, input_size)"
        raise ValueError(f"{owner}: input must be {layout} or unbatched (seq_len, input_size); got shape {x.shape}")
    if x.shape[-1] != input_size:
        raise ValueError(
            f"{owner}: layer 0 expects input_size={input_size} features in the last dim of the input, "
            f"got {x.shape[-1]} (input shape {x.shape})"
        )
    if x.shape[0 if x.ndim == 2 or not batch_first else 1] == 0:
        raise ValueError(f"{owner}: the input sequence is empty (input shape {x.shape}); it needs at least one step")
    if x.ndim == 2:
        return x.unsqueeze(1), True
    return (x.transpose(0, 1) if batch_first else x), False


def from_time_major(out, batch_first, unbatched):
    if unbatched:
        return out.squeeze(1)
    return out.transpose(0, 1) if batch_first else out


def initial_state(owner, what, h, expected, unbatched, dtype, label="h_0"):
    """Check a user-given initial state against ``expected`` (batched shape); zeros named ``label`` when None.

    ``what`` names the argument in error messages; ``label`` ("h_0" or "c_0") is the zero state's name in pictures.
    """
    if h is None:
        h = zeros(*expected, dtype=dtype)
        h.name = label
        return h
    h = as_tensor(h)
    want = expected[:-2] + expected[-1:] if unbatched else expected
    if h.shape != want:
        raise ValueError(f"{owner}: {what} has shape {h.shape}, expected {want}")
    return h.unsqueeze(-2) if unbatched else h


def length_masks(owner, lengths, T, B):
    """Per step t a (B, 1) bool mask: which sequences are still running (t < length)."""
    if lengths is None:
        return None
    lengths = np.asarray(lengths)
    if lengths.shape != (B,) or lengths.dtype.kind not in "iu":
        raise ValueError(f"{owner}: lengths must be {B} integers (one per batch element), got {lengths!r}")
    if lengths.min(initial=0) < 0 or lengths.max(initial=0) > T:
        raise ValueError(f"{owner}: lengths must lie in [0, {T}] (the padded length), got {lengths.tolist()}")
    return (np.arange(T)[:, None] < lengths[None, :])[:, :, None]


# --------------------------------------------------------------------------- cells


class RNNCellBase(Module):
    """Parameters shared by the cells: weight_ih (G·H, D), weight_hh (G·H, H), bias_ih, bias_hh (G·H,)."""

    mode = "RNN"

    def __init__(self, input_size, hidden_size, bias=True, cell="composite"):
        super().__init__()
        owner = type(self).__name__
        check_sizes(owner, input_size=input_size, hidden_size=hidden_size)
        check_cell(owner, cell)
        self.input_size, self.hidden_size, self.bias, self.cell = input_size, hidden_size, bias, cell
        rows = GATES[self.mode] * hidden_size
        self.weight_ih = Parameter(uniform((rows, input_size), hidden_size))
        self.weight_hh = Parameter(uniform((rows, hidden_size), hidden_size))
        if bias:
            self.bias_ih = Parameter(uniform((rows,), hidden_size))
            self.bias_hh = Parameter(uniform((rows,), hidden_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def _prepare(self, input, states):
        """Input (B, D) or unbatched (D,) → (x (B, D), states each (B, H), unbatched).

        states: (argument name for errors, the given state or None, label of a zero state) for each state.
        """
        owner = type(self).__name__
        x = as_tensor(input)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{owner}: input must be (batch, {self.input_size}) or ({self.input_size},), got shape {x.shape}"
            )
        unbatched = x.ndim == 1
        x = x.unsqueeze(0) if unbatched else x
        dtype = np.result_type(x.dtype, self.weight_ih.dtype)
        shape = (x.shape[0], self.hidden_size)
        states = [initial_state(owner, what, h, shape, unbatched, dtype, label) for what, h, label in states]
        return x, states, unbatched

    def _folded_bias(self):
        return None if self.bias_ih is None else self.bias_ih + self.bias_hh

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.cell != "composite":
            s += f", cell={self.cell!r}"
        return s


class RNNCell(RNNCellBase):
    """One step of the vanilla RNN: h' = φ(W_ih x + b_ih + W_hh h + b_hh), φ = tanh or relu.

    input (B, input_size) or (input_size,); hx (B, hidden_size) or None (zeros).  Returns h' (B, hidden_size).
    """

    mode = "RNN"

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", cell="composite"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, cell)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), unbatched = self._prepare(input, [("hx", hx, "h_0")])
        h = rnn_step(input_projection(x, self.weight_ih, self._folded_bias()), h, self.weight_hh,
                     self.nonlinearity, self.cell)
        return h.squeeze(0) if unbatched else h


class LSTMCell(RNNCellBase):
    """One LSTM step (equations in ``lstm_step``); hx = (h, c) or None.  Returns (h', c')."""

    mode = "LSTM"

    def forward(self, input, hx=None):
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"LSTMCell: the state must be a pair (h, c), got {type(hx).__name__}")
        h0, c0 = (None, None) if hx is None else hx
        x, (h, c), unbatched = self._prepare(input, [("hx[0] (h)", h0, "h_0"), ("hx[1] (c)", c0, "c_0")])
        h, c = lstm_step(input_projection(x, self.weight_ih, self._folded_bias()), h, c, self.weight_hh, self.cell)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(RNNCellBase):
    """One GRU step (equations in ``gru_step``); hx (B, H) or None.  Returns h'."""

    mode = "GRU"

    def forward(self, input, hx=None):
        x, (h,), unbatched = self._prepare(input, [("hx", hx, "h_0")])
        h = gru_step(input_projection(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh, self.cell)
        return h.squeeze(0) if unbatched else h


# --------------------------------------------------------------------------- unrolled layers


class RNNBase(Module):
    """The unrolled multi-layer, optionally bidirectional, recurrent layer behind RNN, LSTM and GRU.

    input: (T, B, input_size), (B, T, input_size) with ``batch_first``, or unbatched (T, input_size).
    Returns output (T, B, D·H) (batch first if asked), with D = 2 if bidirectional else 1: the top
    layer's h(t) for every t, both directions concatenated; and h_n (num_layers·D, B, H), the final
    state of each layer and direction (for LSTM, (h_n, c_n)).
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, nonlinearity="tanh", cell="composite", grad_checkpoint_every=None):
        super().__init__()
        owner = type(self).__name__
        check_sizes(owner, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        check_cell(owner, cell, LAYER_MODES)
        if grad_checkpoint_every is not None:
            k = grad_checkpoint_every
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
                raise ValueError(f"{owner}: grad_checkpoint_every must be a positive int (segment length), got {k!r}")
            if cell != "sequence":
                raise ValueError(f"{owner}: grad_checkpoint_every needs cell='sequence' (got cell={cell!r})")
        self.grad_checkpoint_every = grad_checkpoint_every
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"{owner}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(f"{owner}: dropout must be a probability in [0, 1], got {dropout!r}")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, float(dropout), bidirectional
        self.nonlinearity, self.cell = nonlinearity, cell
        rows, dirs = GATES[mode] * hidden_size, 2 if bidirectional else 1
        # registered in PyTorch's order, so parameters() lists them as torch does
        for layer in range(num_layers):
            fan_in = input_size if layer == 0 else hidden_size * dirs
            for suffix in ("", "_reverse")[:dirs]:
                setattr(self, f"weight_ih_l{layer}{suffix}", Parameter(uniform((rows, fan_in), hidden_size)))
                setattr(self, f"weight_hh_l{layer}{suffix}", Parameter(uniform((rows, hidden_size), hidden_size)))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}", Parameter(uniform((rows,), hidden_size)))
                    setattr(self, f"bias_hh_l{layer}{suffix}", Parameter(uniform((rows,), hidden_size)))

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def all_weights(self):
        """[[weight_ih, weight_hh, bias_ih, bias_hh] for each layer and direction], as in PyTorch."""
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if self.bias else ("weight_ih", "weight_hh")
        return [[getattr(self, f"{n}_l{layer}{suffix}") for n in names]
                for layer in range(self.num_layers) for suffix in ("", "_reverse")[:self.num_directions]]

    def forward(self, input, hx=None, lengths=None):
        owner = type(self).__name__
        x, unbatched = to_time_major(owner, input, self.input_size, self.batch_first)
        T, B = x.shape[0], x.shape[1]
        dtype = np.result_type(x.dtype, self.weight_ih_l0.dtype)
        shape = (self.num_layers * self.num_directions, B, self.hidden_size)
        if self.mode == "LSTM":
            if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"{owner}: the initial state must be a pair (h_0, c_0), got {type(hx).__name__}")
            h0, c0 = (None, None) if hx is None else hx
            h0 = initial_state(owner, "h_0", h0, shape, unbatched, dtype)
            c0 = initial_state(owner, "c_0", c0, shape, unbatched, dtype, label="c_0")
        else:
            if isinstance(hx, (tuple, list)):
                raise TypeError(f"{owner}: the initial state is one tensor h_0, not a {type(hx).__name__}")
            h0, c0 = initial_state(owner, "h_0", hx, shape, unbatched, dtype), None
        masks = length_masks(owner, lengths, T, B)

        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:self.num_directions]):
                k = layer * self.num_directions + d
                with scope(f"l{layer}{suffix}"):
                    h, c = _named(h0[k], "h_0"), None if c0 is None else _named(c0[k], "c_0")
                    out, h, c = self._run_direction(x, h, c, f"l{layer}{suffix}", masks, reverse=d == 1)
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            y = outs[0] if len(outs) == 1 else cat(outs, 2)
            x = self._between_layers(layer, x, y)
        output = from_time_major(x, self.batch_first, unbatched)
        h_n = stack(h_n)
        h_n = h_n.squeeze(1) if unbatched else h_n
        if self.mode != "LSTM":
            return output, h_n
        c_n = stack(c_n)
        return output, (h_n, c_n.squeeze(1) if unbatched else c_n)

    def _between_layers(self, layer, x, y):
        """What the next layer reads: the outputs, with dropout after every layer but the last."""
        if self.dropout and self.training and layer < self.num_layers - 1:
            y = F.dropout(y, self.dropout, True)
        return y

    def _run_direction(self, x, h, c, name, masks, reverse):
        """One layer in one direction: x (T, B, D) → (outputs (T, B, H), h(last), c(last) or None)."""
        w_ih, w_hh = getattr(self, f"weight_ih_{name}"), getattr(self, f"weight_hh_{name}")
        b_ih, b_hh = (getattr(self, f"bias_ih_{name}"), getattr(self, f"bias_hh_{name}")) if self.bias else (None, None)
        if self.cell == "sequence":  # the whole direction as one node (fused.RecurrentLayer)
            return recurrent_layer(self.mode, x, h, c, w_ih, w_hh, b_ih, b_hh, self.nonlinearity, reverse, masks,
                                   self.grad_checkpoint_every)
        if self.mode == "GRU":
            steps = TimeSteps(input_projection(x, w_ih, b_ih))
        else:
            steps = TimeSteps(input_projection(x, w_ih, None if b_ih is None else b_ih + b_hh))
        T = len(steps)
        outs = [None] * T
        for t in range(T - 1, -1, -1) if reverse else range(T):
            with scope(f"t={t}"):
                x_t = steps[t]
                if self.mode == "LSTM":
                    h_new, c_new = lstm_step(x_t, h, c, w_hh, self.cell)
                elif self.mode == "GRU":
                    h_new, c_new = gru_step(x_t, h, w_hh, b_hh, self.cell), None
                else:
                    h_new, c_new = rnn_step(x_t, h, w_hh, self.nonlinearity, self.cell), None
                if masks is None:
                    h, c, outs[t] = h_new, c_new, h_new
                else:  # past its length a sequence keeps its state and outputs zeros
                    keep = masks[t]
                    h = where(keep, h_new, h)
                    c = None if c is None else where(keep, c_new, c)
                    outs[t] = where(keep, h_new, 0.0)
        return stack(outs), h, c

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN" and self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        for k, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, k) != default:
                s += f", {k}={getattr(self, k)}"
        if self.cell != "composite":
            s += f", cell={self.cell!r}"
        if self.grad_checkpoint_every is not None:
            s += f", grad_checkpoint_every={self.grad_checkpoint_every}"
        return s


class RNN(RNNBase):
    """The vanilla (Elman) RNN of the lecture, unrolled over time:

        h(t) = φ(W_ih x(t) + b_ih + W_hh h(t−1) + b_hh),   φ = tanh or relu

    Arguments, parameters and return values as ``torch.nn.RNN``: ``output, h_n = rnn(x, h_0)``.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, cell="composite", grad_checkpoint_every=None):
        super().__init__("RNN", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         nonlinearity, cell, grad_checkpoint_every)


class LSTM(RNNBase):
    """The long short-term memory network, unrolled over time (equations in ``lstm_step``).

    Arguments, parameters and return values as ``torch.nn.LSTM`` (without proj_size):
    ``output, (h_n, c_n) = lstm(x, (h_0, c_0))``.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, cell="composite", grad_checkpoint_every=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         "tanh", cell, grad_checkpoint_every)


class GRU(RNNBase):
    """The gated recurrent unit network, unrolled over time (equations in ``gru_step``).

    Arguments, parameters and return values as ``torch.nn.GRU``: ``output, h_n = gru(x, h_0)``.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, cell="composite", grad_checkpoint_every=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         "tanh", cell, grad_checkpoint_every)
