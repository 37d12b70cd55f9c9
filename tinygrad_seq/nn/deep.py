"""Deep recurrent networks, and a recurrence without length-one connections.

An RNN has three transforms that can be made deep (Pascanu, Gulcehre, Cho & Bengio 2014,
"How to construct deep recurrent neural networks"):

    input-to-hidden    x(t) → the recurrent layer    an MLP on x(t) before the layer: no path through time
                                                     gets longer, so it needs no class of its own
    hidden-to-hidden   h(t−1) → h(t)                 DeepTransitionRNN: an MLP inside the recurrence
    hidden-to-output   h(t) → o(t)                   DeepOutputRNN: an MLP between the state and the output

Stacking recurrent layers is the fourth kind of depth (``nn.RNN(num_layers=2)``, ``nn.DeepRNN``), and
``DepthGatedLSTM`` (Yao et al. 2015) joins the memory cells of stacked LSTM layers through a gate.

A deep transition makes every step through time several nonlinear layers long, so gradients
travelling back over k steps cross k·L layers; a *shortcut* from h(t−1) to h(t) that skips the
intermediate layers (``shortcut=True``, Pascanu's DT(S)-RNN) gives them a path one layer per step
again.  ``DilatedRNN`` goes the other way round, the lecture's "removing length-one connections":
its recurrence reads h(t−d) only, so a gradient crosses k/d layers in k steps (Chang et al. 2017
call this a dilated recurrent connection; ``nn.TimeSkipRNN(length_one=False)`` is the same layer
as a variant of the skip connection through time).

Every class takes PyTorch's arguments (``input_size, hidden_size, ..., bias, batch_first``),
time-major input (T, B, input_size) (or (B, T, ·) with ``batch_first``, or unbatched (T, ·)), and
returns ``output, h_n`` like ``nn.RNN`` (``output, (h_n, c_n)`` for the LSTM).  Parameters that
PyTorch has keep PyTorch's names, so each model reduces to ``nn.RNN`` / ``nn.LSTM`` (and a
``nn.Linear`` readout) when its extra part is switched off, with the same state dict (tested).
Each stage of a step is computed in a scope of its own, so a drawing of the unrolled graph shows
the stages inside each time step: ``DeepTransitionRNN/l0/t=3/transition_1``, ``.../t=3/shortcut``,
``.../t=3/h``; ``DeepOutputRNN/l0/t=3/output_1``; ``DepthGatedLSTM/l1/t=3/depth_gate``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import Tensor, rand, scope, stack, tensor, zeros
from .module import Module, Parameter
from .rnn import input_projection, lstm_step, rnn_step

__all__ = ["DeepTransitionRNN", "DeepOutputRNN", "DepthGatedLSTM", "DilatedRNN"]

NONLINEARITIES = ("tanh", "relu")


def _named(t, name):
    t.name = name
    return t


def _uniform(shape, fan_in):
    """U(−1/√fan_in, 1/√fan_in), PyTorch's initialisation of recurrent and linear layers (seeded by manual_seed)."""
    return (rand(*shape).data * 2 - 1) / math.sqrt(fan_in)


def _activation(a, nonlinearity):
    return a.tanh() if nonlinearity == "tanh" else a.relu()


def _check_sizes(owner, **sizes):
    for k, v in sizes.items():
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{owner}: {k} must be a positive integer, got {v!r}")


def _check_nonlinearity(owner, nonlinearity):
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"{owner}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


class _Sequence(Module):
    """What every layer here shares: the input layouts of ``nn.RNN`` and the checked initial state."""

    def _time_major(self, input):
        """input → (x (T, B, D), unbatched): (T, B, D), (B, T, D) with batch_first, or unbatched (T, D)."""
        owner = type(self).__name__
        x = input if isinstance(input, Tensor) else tensor(input)
        shape = x.shape
        if x.ndim not in (2, 3):
            layout = "(batch, seq_len, input_size)" if self.batch_first else "(seq_len, batch, input_size)"
            raise ValueError(f"{owner}: input must be {layout} or unbatched (seq_len, input_size); got shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{owner}: expects input_size={self.input_size} features in the last dim of the input, "
                             f"got {x.shape[-1]} (input shape {x.shape})")
        if x.ndim == 2:
            x, unbatched = x.unsqueeze(1), True
        else:
            x, unbatched = (x.transpose(0, 1) if self.batch_first else x), False
        if x.shape[0] == 0:
            raise ValueError(f"{owner}: the input sequence is empty (input shape {shape}); it needs at least one step")
        return x, unbatched

    def _state(self, what, given, layers, batch, unbatched, dtype, allowed=None):
        """The initial state as a list of ``layers`` tensors (B, H): zeros when None, else checked.

        ``given`` is (layers, B, H), or (layers, H) for an unbatched input; ``allowed`` lists other
        accepted first dims (DilatedRNN takes one state or d of them).
        """
        H = self.hidden_size
        if given is None:
            return [_named(zeros(batch, H, dtype=dtype), what) for _ in range(layers)]
        given = given if isinstance(given, Tensor) else tensor(given)
        firsts = allowed or (layers,)
        shapes = [(n, H) if unbatched else (n, batch, H) for n in firsts]
        if given.shape not in shapes:
            want = " or ".join(str(s) for s in shapes)
            raise ValueError(f"{type(self).__name__}: {what} has shape {given.shape}, expected {want}")
        given = given.unsqueeze(1) if unbatched else given
        return [given[k] for k in range(given.shape[0])]

    @staticmethod
    def _finish(output, states, batch_first, unbatched):
        """(T, B, ·) outputs and a list of (B, H) states → the layouts ``nn.RNN`` returns."""
        if unbatched:
            output = output.squeeze(1)
        elif batch_first:
            output = output.transpose(0, 1)
        h_n = stack(states)
        return output, (h_n.squeeze(1) if unbatched else h_n)


# --------------------------------------------------------------------------- deep transition


class DeepTransitionRNN(_Sequence):
    """An RNN whose hidden-to-hidden transition is an MLP of L layers (Pascanu et al. 2014's DT-RNN).

        z_1(t) = φ(W_ih x(t) + b_ih + W_hh h(t−1) + b_hh)             the first layer reads x(t) and h(t−1)
        z_k(t) = φ(W_k z_{k−1}(t) + b_k),              k = 2 … L−1     intermediate layers
        h(t)   = φ(W_L z_{L−1}(t) + b_L [+ W_s h(t−1)])                the last layer is the new state

    φ = tanh or relu.  With ``shortcut=True`` (the DT(S)-RNN) the last layer also reads h(t−1)
    through W_s, skipping the intermediate layers: the step h(t−1) → h(t) then has a path one
    layer long, as in the plain RNN, beside the L layers long one.  ``transition_layers`` = L
    counts the layers of the transition, ``transition_size`` is the width of z_1 … z_{L−1}
    (default hidden_size).  With L = 1, z_1 = h(t) and this is ``nn.RNN``.

    Parameters (S = transition_size; with L = 1 the first layer has H units):
    ``weight_ih_l0`` (S, D), ``weight_hh_l0`` (S, H), ``bias_ih_l0``, ``bias_hh_l0`` (S,) as ``nn.RNN``
    (U(±1/√S)); ``weight_transition_k`` (S, S), the last (H, S), and ``bias_transition_k`` for
    k = 2 … L (U(±1/√fan_in) as ``nn.Linear``); ``weight_shortcut`` (H, H) with ``shortcut``.
    The lecture's names (U, W, W_k, W_s, b, b_k) and the analytic BPTT are in ``tinygrad_seq/bptt/deep.py``.

    input (T, B, input_size); hx (1, B, H) or None (zeros).  Returns output (T, B, H), the h(t)
    of every step, and h_n (1, B, H).
    """

    def __init__(self, input_size, hidden_size, transition_layers=2, transition_size=None, shortcut=False,
                 nonlinearity="tanh", bias=True, batch_first=False):
        super().__init__()
        owner = type(self).__name__
        transition_size = hidden_size if transition_size is None else transition_size
        _check_sizes(owner, input_size=input_size, hidden_size=hidden_size, transition_layers=transition_layers,
                     transition_size=transition_size)
        _check_nonlinearity(owner, nonlinearity)
        if shortcut and transition_layers == 1:
            raise ValueError(f"{owner}: shortcut=True needs transition_layers >= 2 (with one layer, h(t−1) "
                             f"already feeds h(t) directly)")
        self.input_size, self.hidden_size, self.transition_layers = input_size, hidden_size, transition_layers
        self.transition_size = transition_size if transition_layers > 1 else hidden_size
        self.shortcut, self.nonlinearity, self.bias, self.batch_first = shortcut, nonlinearity, bias, batch_first
        S = self.transition_size
        self.weight_ih_l0 = Parameter(_uniform((S, input_size), S))
        self.weight_hh_l0 = Parameter(_uniform((S, hidden_size), S))
        self.bias_ih_l0 = Parameter(_uniform((S,), S)) if bias else None
        self.bias_hh_l0 = Parameter(_uniform((S,), S)) if bias else None
        for k in range(2, transition_layers + 1):
            out = hidden_size if k == transition_layers else S
            setattr(self, f"weight_transition_{k}", Parameter(_uniform((out, S), S)))
            self.register_parameter(f"bias_transition_{k}", Parameter(_uniform((out,), S)) if bias else None)
        if shortcut:
            self.weight_shortcut = Parameter(_uniform((hidden_size, hidden_size), hidden_size))

    _default_transition_layers = 2  # (for extra_repr)

    def transition(self, x_proj, h):
        """One step h(t−1) → h(t) through the L layers; x_proj (B, S) = W_ih x(t) + b_ih + b_hh, h (B, H)."""
        L, phi = self.transition_layers, self.nonlinearity
        if L == 1:
            return rnn_step(x_proj, h, self.weight_hh_l0, phi)  # exactly nn.RNN's step
        with scope("transition_1"):
            z = _named(_activation(_named(x_proj + h @ self.weight_hh_l0.T, "a_1"), phi), "z_1")
        for k in range(2, L):
            with scope(f"transition_{k}"):
                z = _named(_activation(_named(self._affine(k, z), f"a_{k}"), phi), f"z_{k}")
        if self.shortcut:
            with scope("shortcut"):
                skip = _named(h @ self.weight_shortcut.T, "shortcut")
        with scope("h"):
            a = self._affine(L, z)
            a = _named(a + skip if self.shortcut else a, f"a_{L}")
            return _named(_activation(a, phi), "h")

    def _affine(self, k, z):
        a = z @ getattr(self, f"weight_transition_{k}").T
        b = getattr(self, f"bias_transition_{k}")
        return a if b is None else a + b

    def _emit(self, h):
        """What step t outputs: h(t) here; the deep output in DeepOutputRNN."""
        return h

    def forward(self, input, hx=None):
        x, unbatched = self._time_major(input)
        T, B = x.shape[0], x.shape[1]
        dtype = np.result_type(x.dtype, self.weight_ih_l0.dtype)
        (h,) = self._state("h_0", hx, 1, B, unbatched, dtype)
        bias = None if self.bias_ih_l0 is None else self.bias_ih_l0 + self.bias_hh_l0
        outs = []
        with scope("l0"):
            x_proj = input_projection(x, self.weight_ih_l0, bias)  # W_ih x(t) + b for every t: one matmul
            for t in range(T):
                with scope(f"t={t}"):
                    h = self.transition(x_proj[t], h)
                    outs.append(self._emit(h))
            output = stack(outs)
        return self._finish(output, [h], self.batch_first, unbatched)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.transition_layers != self._default_transition_layers:
            s += f", transition_layers={self.transition_layers}"
        if self.transition_layers > 1 and self.transition_size != self.hidden_size:
            s += f", transition_size={self.transition_size}"
        for k, default in (("shortcut", False), ("nonlinearity", "tanh"), ("bias", True), ("batch_first", False)):
            if getattr(self, k) != default:
                s += f", {k}={getattr(self, k)!r}"
        return s


# --------------------------------------------------------------------------- deep output


class DeepOutputRNN(DeepTransitionRNN):
    """An RNN whose hidden-to-output transform is an MLP of M layers (Pascanu et al. 2014's DO-RNN).

        h(t)   = the recurrence of ``DeepTransitionRNN`` (the plain RNN with transition_layers = 1;
                 Pascanu's DOT-RNN with transition_layers > 1)
        u_1(t) = φ(V_1 h(t) + c_1)
        u_k(t) = φ(V_k u_{k−1}(t) + c_k),             k = 2 … M−1
        o(t)   = V_M u_{M−1}(t) + c_M [+ V_s h(t)]    the output, no nonlinearity (logits or values)

    The output MLP is outside the recurrence: it makes o(t) a richer function of h(t) without
    lengthening any path through time, but every gradient from L(t) crosses its M layers before it
    reaches h(t).  ``output_shortcut=True`` adds V_s h(t), a path around them.  With M = 1,
    o(t) = V_1 h(t) + c_1 is ``nn.Linear`` on the output of ``nn.RNN``.

    Parameters: those of ``DeepTransitionRNN``; ``weight_out_k`` (R, ·), the last (output_size, ·),
    and ``bias_out_k``, k = 1 … M (R = output_hidden_size, default hidden_size; U(±1/√fan_in) as
    ``nn.Linear``); ``weight_out_shortcut`` (output_size, H) with ``output_shortcut``.

    Returns output (T, B, output_size), the o(t) of every step, and h_n (1, B, H).
    """

    _default_transition_layers = 1

    def __init__(self, input_size, hidden_size, output_size, output_layers=2, output_hidden_size=None,
                 output_shortcut=False, transition_layers=1, transition_size=None, shortcut=False,
                 nonlinearity="tanh", bias=True, batch_first=False):
        super().__init__(input_size, hidden_size, transition_layers, transition_size, shortcut, nonlinearity, bias,
                         batch_first)
        owner = type(self).__name__
        output_hidden_size = hidden_size if output_hidden_size is None else output_hidden_size
        _check_sizes(owner, output_size=output_size, output_layers=output_layers,
                     output_hidden_size=output_hidden_size)
        if output_shortcut and output_layers == 1:
            raise ValueError(f"{owner}: output_shortcut=True needs output_layers >= 2 (with one layer, h(t) "
                             f"already feeds o(t) directly)")
        self.output_size, self.output_layers = output_size, output_layers
        self.output_hidden_size = output_hidden_size if output_layers > 1 else None
        self.output_shortcut = output_shortcut
        fan_in = hidden_size
        for k in range(1, output_layers + 1):
            out = output_size if k == output_layers else output_hidden_size
            setattr(self, f"weight_out_{k}", Parameter(_uniform((out, fan_in), fan_in)))
            self.register_parameter(f"bias_out_{k}", Parameter(_uniform((out,), fan_in)) if bias else None)
            fan_in = out
        if output_shortcut:
            self.weight_out_shortcut = Parameter(_uniform((output_size, hidden_size), hidden_size))

    def readout(self, h):
        """o(t) from h(t) (B, H) through the M output layers: (B, output_size)."""
        u, M = h, self.output_layers
        for k in range(1, M):
            with scope(f"output_{k}"):
                u = _named(_activation(self._out_affine(k, u), self.nonlinearity), f"u_{k}")
        if self.output_shortcut:
            with scope("output_shortcut"):
                skip = _named(h @ self.weight_out_shortcut.T, "output_shortcut")
        with scope("o"):
            o = self._out_affine(M, u)
            return _named(o + skip if self.output_shortcut else o, "o")

    def _out_affine(self, k, u):
        a = u @ getattr(self, f"weight_out_{k}").T
        b = getattr(self, f"bias_out_{k}")
        return a if b is None else a + b

    def _emit(self, h):
        return self.readout(h)

    def extra_repr(self):
        head = f"{self.input_size}, {self.hidden_size}"
        s = f"{head}, {self.output_size}" + super().extra_repr()[len(head):] + f", output_layers={self.output_layers}"
        if self.output_layers > 1 and self.output_hidden_size != self.hidden_size:
            s += f", output_hidden_size={self.output_hidden_size}"
        return s + (", output_shortcut=True" if self.output_shortcut else "")


# --------------------------------------------------------------------------- depth-gated LSTM


class DepthGatedLSTM(_Sequence):
    """Stacked LSTM layers whose memory cells are joined across layers by a depth gate (Yao et al. 2015).

    Layer 0 is ``nn.LSTM``'s.  Layer l ≥ 1 reads x^l(t) = h^{l−1}(t) and adds to its cell the cell of
    the layer below, c^{l−1}(t), weighted by the depth gate d:

        [a_i, a_f, a_g, a_o] = W_ih x^l(t) + b_ih + W_hh h^l(t−1) + b_hh       as nn.LSTM (order i, f, g, o)
        d    = σ(W_d x^l(t) + b_d + w_c ⊙ c^l(t−1) + w_l ⊙ c^{l−1}(t))        depth gate
        c^l(t) = f ⊙ c^l(t−1) + i ⊙ g + d ⊙ c^{l−1}(t)
        h^l(t) = o ⊙ tanh(c^l(t))

    The term d ⊙ c^{l−1}(t) is a linear, gated path *up* through the stack, as the forget gate is
    a linear, gated path through time: a gradient reaching c^l(t) passes to the layer below
    multiplied by d alone, instead of through o ⊙ tanh' and W_ih.  With d = 0 (a very negative
    b_d) this is ``nn.LSTM(num_layers=...)`` with the same state dict.  The depth gate looks at
    the cells through diagonal (peephole) weights w_c, w_l, as in the paper; its i, f, g, o
    gates are PyTorch's, without peepholes.

    Parameters: ``nn.LSTM``'s (``weight_ih_l{l}``, ``weight_hh_l{l}``, ``bias_ih_l{l}``, ``bias_hh_l{l}``)
    and, for l ≥ 1, ``weight_ih_depth_l{l}`` (H, H) = W_d, ``weight_cell_depth_l{l}`` (H,) = w_c,
    ``weight_lower_depth_l{l}`` (H,) = w_l and ``bias_depth_l{l}`` (H,) = b_d, all U(±1/√H).

    input (T, B, input_size); hx = (h_0, c_0), each (num_layers, B, H), or None.
    Returns output (T, B, H), the top layer's h(t), and (h_n, c_n), each (num_layers, B, H).
    """

    def __init__(self, input_size, hidden_size, num_layers=2, bias=True, batch_first=False):
        super().__init__()
        _check_sizes(type(self).__name__, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bias, batch_first
        H = hidden_size
        for layer in range(num_layers):
            fan = input_size if layer == 0 else H
            setattr(self, f"weight_ih_l{layer}", Parameter(_uniform((4 * H, fan), H)))
            setattr(self, f"weight_hh_l{layer}", Parameter(_uniform((4 * H, H), H)))
            self.register_parameter(f"bias_ih_l{layer}", Parameter(_uniform((4 * H,), H)) if bias else None)
            self.register_parameter(f"bias_hh_l{layer}", Parameter(_uniform((4 * H,), H)) if bias else None)
            if layer:
                setattr(self, f"weight_ih_depth_l{layer}", Parameter(_uniform((H, H), H)))
                setattr(self, f"weight_cell_depth_l{layer}", Parameter(_uniform((H,), H)))
                setattr(self, f"weight_lower_depth_l{layer}", Parameter(_uniform((H,), H)))
                self.register_parameter(f"bias_depth_l{layer}", Parameter(_uniform((H,), H)) if bias else None)

    def _param(self, name, layer):
        return getattr(self, f"{name}_l{layer}")

    def step(self, layer, x_proj, d_proj, h, c, c_lower):
        """One step of layer l ≥ 1: (h^l(t), c^l(t)) from x_proj (B, 4H), d_proj = W_d x^l(t) + b_d (B, H),
        the layer's h^l(t−1), c^l(t−1) and the lower cell c^{l−1}(t), each (B, H)."""
        H = self.hidden_size
        a = _named(x_proj + h @ self._param("weight_hh", layer).T, "gate_preactivations")
        gates = {}
        for k, (gate, fn) in enumerate((("input_gate", "sigmoid"), ("forget_gate", "sigmoid"),
                                        ("cell_candidate", "tanh"), ("output_gate", "sigmoid"))):
            with scope(gate):
                gates[gate] = _named(getattr(a[:, k * H:(k + 1) * H], fn)(), gate)
        with scope("depth_gate"):
            d = (d_proj + self._param("weight_cell_depth", layer) * c
                 + self._param("weight_lower_depth", layer) * c_lower)
            d = _named(d.sigmoid(), "depth_gate")
        with scope("c"):
            c = _named(gates["forget_gate"] * c + gates["input_gate"] * gates["cell_candidate"] + d * c_lower, "c")
        with scope("h"):
            h = _named(gates["output_gate"] * c.tanh(), "h")
        return h, c

    def forward(self, input, hx=None):
        owner = type(self).__name__
        x, unbatched = self._time_major(input)
        T, B = x.shape[0], x.shape[1]
        dtype = np.result_type(x.dtype, self.weight_ih_l0.dtype)
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"{owner}: the initial state must be a pair (h_0, c_0), got {type(hx).__name__}")
        h0, c0 = (None, None) if hx is None else hx
        h0 = self._state("h_0", h0, self.num_layers, B, unbatched, dtype)
        c0 = self._state("c_0", c0, self.num_layers, B, unbatched, dtype)
        h_n, c_n, cells_below = [], [], None
        for layer in range(self.num_layers):
            with scope(f"l{layer}"):
                b_ih, b_hh = self._param("bias_ih", layer), self._param("bias_hh", layer)
                x_proj = input_projection(x, self._param("weight_ih", layer), None if b_ih is None else b_ih + b_hh)
                if layer:
                    d_proj = _named(input_projection(x, self._param("weight_ih_depth", layer),
                                                     self._param("bias_depth", layer)), "depth_x_proj")
                h, c, outs, cells = h0[layer], c0[layer], [], []
                for t in range(T):
                    with scope(f"t={t}"):
                        if layer == 0:  # no layer below: a plain LSTM step
                            h, c = lstm_step(x_proj[t], h, c, self.weight_hh_l0)
                        else:
                            h, c = self.step(layer, x_proj[t], d_proj[t], h, c, cells_below[t])
                    outs.append(h)
                    cells.append(c)
                x, cells_below = stack(outs), cells
            h_n.append(h)
            c_n.append(c)
        output, h_n = self._finish(x, h_n, self.batch_first, unbatched)
        c_n = stack(c_n)
        return output, (h_n, c_n.squeeze(1) if unbatched else c_n)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        return s + (", bias=False" if not self.bias else "") + (", batch_first=True" if self.batch_first else "")


# --------------------------------------------------------------------------- removing length-one connections


class DilatedRNN(_Sequence):
    """An RNN whose recurrence skips d steps and has no 1-step connection ("removing length-one connections").

        h(t) = φ(W_ih x(t) + b_ih + W_hh h(t−d) + b_hh),    φ = tanh or relu

    The lecture's way to coarse time scales by removing connections: with every length-one
    connection replaced by one of length d, a gradient travels k steps back through about k/d
    Jacobians instead of k.  The price: the states split into d interleaved chains (steps t, t+d,
    t+2d, ... read each other and nothing else), so information moves between chains only through
    the input.  Chang et al. (2017) stack such layers with d = 1, 2, 4, ... (the Dilated RNN) so
    that the lower layers connect the chains.  With d = 1 this is ``nn.RNN`` (same parameters).

    input (T, B, input_size).  hx: (1, B, H), used as h(s) for every s < 0, or (d, B, H), the states
    h(−d) … h(−1).  Returns output (T, B, H) and h_n (d, B, H) = h(T−d) … h(T−1): the states the
    next d steps read, so ``m(x2, h_n)`` continues ``m(x1)`` exactly.
    """

    def __init__(self, input_size, hidden_size, dilation=2, nonlinearity="tanh", bias=True, batch_first=False):
        super().__init__()
        owner = type(self).__name__
        _check_sizes(owner, input_size=input_size, hidden_size=hidden_size, dilation=dilation)
        _check_nonlinearity(owner, nonlinearity)
        self.input_size, self.hidden_size, self.dilation = input_size, hidden_size, dilation
        self.nonlinearity, self.bias, self.batch_first = nonlinearity, bias, batch_first
        H = hidden_size
        self.weight_ih_l0 = Parameter(_uniform((H, input_size), H))
        self.weight_hh_l0 = Parameter(_uniform((H, H), H))
        self.bias_ih_l0 = Parameter(_uniform((H,), H)) if bias else None
        self.bias_hh_l0 = Parameter(_uniform((H,), H)) if bias else None

    def forward(self, input, hx=None):
        x, unbatched = self._time_major(input)
        T, B, d = x.shape[0], x.shape[1], self.dilation
        dtype = np.result_type(x.dtype, self.weight_ih_l0.dtype)
        given = self._state("h_0", hx, 1, B, unbatched, dtype, allowed=(1, d))
        history = given * d if len(given) == 1 else given  # history[k] = h(k − d)
        bias = None if self.bias_ih_l0 is None else self.bias_ih_l0 + self.bias_hh_l0
        with scope("l0"):
            x_proj = input_projection(x, self.weight_ih_l0, bias)
            for t in range(T):
                with scope(f"t={t}"):
                    history.append(rnn_step(x_proj[t], history[t], self.weight_hh_l0, self.nonlinearity))
            output = stack(history[d:])
        return self._finish(output, history[-d:], self.batch_first, unbatched)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}, dilation={self.dilation}"
        for k, default in (("nonlinearity", "tanh"), ("bias", True), ("batch_first", False)):
            if getattr(self, k) != default:
                s += f", {k}={getattr(self, k)!r}"
        return s
