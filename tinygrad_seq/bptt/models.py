"""The same recurrent layers, written op by op on the engine, for autodiff to check the formulas against.

``Recurrent`` is a one-layer, one-direction RNN, LSTM or GRU (or an LSTM with
peepholes or coupled gates) with PyTorch's parameter names and calling
convention.  Each step runs in a scope ``t=1``, ``t=2`` ... and, with
``trace=True``, the layer keeps every h(t), c(t) and gate pre-activation it
made and asks the engine to retain their gradients: after ``backward()`` the
autodiff values of ∇h(t) L, ∇c(t) L and ∇a_gate(t) L can be read and put next
to the analytic ones.  The equations are those of rnn.py, lstm.py and gru.py.

``RecurrentLM`` puts a ``Linear`` readout on a recurrent layer: the lecture's
o(t) = h(t) V + c, scored with L = Σ_t Σ_n −log softmax(o(t))[y(t)].  Its layer
is ``tinygrad_seq.nn.RNN`` / ``LSTM`` / ``GRU`` / ``PeepholeLSTM`` / ``CoupledLSTM``
(this file's ``Recurrent`` with ``use_nn=False``).
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..autograd import scope
from ..creation import stack, zeros
from ..nn import Linear, Module, Parameter
from ..nn.init import uniform
from ..tensor import Tensor
from .notation import GATES, PEEPHOLES, gate_slices, kind_of


class Recurrent(Module):
    """One recurrent layer, op by op: mode 'rnn' | 'lstm' | 'gru', PyTorch's names and shapes.

    Parameters (G gates: 1 for the RNN, 4 for the LSTM, 3 for the GRU or the coupled LSTM):
    ``weight_ih_l0`` (G·H, D), ``weight_hh_l0`` (G·H, H), ``bias_ih_l0``, ``bias_hh_l0`` (G·H,),
    and with peepholes ``weight_peephole_i``, ``_f``, ``_o`` (H,).  Initialised U(±1/√H) as PyTorch.

    forward(x, hx=None): x (T, N, D) (or (N, T, D) with batch_first); hx (1, N, H), or (h0, c0) for
    the LSTM → output (T, N, H), h_n (1, N, H) (LSTM: (h_n, c_n)), as ``torch.nn.RNN`` / ``LSTM`` / ``GRU``.
    """

    def __init__(self, mode, input_size, hidden_size, nonlinearity="tanh", bias=True, batch_first=False,
                 peephole=False, coupled=False, trace=False):
        super().__init__()
        self.kind = kind_of(mode, coupled)
        if peephole and self.kind not in ("lstm", "lstm_coupled"):
            raise ValueError(f"Recurrent: peephole connections exist only for the LSTM, not for {mode!r}")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Recurrent: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.mode, self.input_size, self.hidden_size = mode.lower(), input_size, hidden_size
        self.nonlinearity, self.bias, self.batch_first = nonlinearity, bias, batch_first
        self.peephole, self.coupled, self.trace = peephole, coupled, trace
        self.num_layers, self.bidirectional = 1, False
        GH = len(GATES[self.kind]) * hidden_size
        self.weight_ih_l0 = Parameter(uniform((GH, input_size), hidden_size))
        self.weight_hh_l0 = Parameter(uniform((GH, hidden_size), hidden_size))
        if bias:
            self.bias_ih_l0 = Parameter(uniform((GH,), hidden_size))
            self.bias_hh_l0 = Parameter(uniform((GH,), hidden_size))
        if peephole:
            for name in ("p_i", "p_o") if coupled else ("p_i", "p_f", "p_o"):
                setattr(self, PEEPHOLES[name], Parameter(uniform((hidden_size,), hidden_size)))
        self.steps = []

    def extra_repr(self):
        extras = [f"{k}={getattr(self, k)}" for k in ("peephole", "coupled", "batch_first") if getattr(self, k)]
        return ", ".join([repr(self.mode), str(self.input_size), str(self.hidden_size)] + extras)

    def forward(self, x, hx=None):
        x = x if isinstance(x, Tensor) else Tensor(x)
        if self.batch_first:
            x = x.transpose(0, 1)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"Recurrent ({self.mode}): input must have shape (T, N, {self.input_size}), got {x.shape}")
        T, N, _ = x.shape
        state = self._initial_state(hx, N)
        self.steps = []  # with trace=True: one dict of named tensors per step
        outputs = []
        for t in range(T):
            with scope(f"t={t + 1}"):
                state, named = self._step(x[t], state)
            if self.trace:
                for v in named.values():
                    v.retain_grad()
                self.steps.append(named)
            outputs.append(state[0])
        output = stack(outputs, dim=0)
        if self.batch_first:
            output = output.transpose(0, 1)
        last = tuple(s.unsqueeze(0) for s in state)
        return output, (last if self.kind.startswith("lstm") else last[0])

    def _initial_state(self, hx, N):
        H = self.hidden_size
        n_states = 2 if self.kind.startswith("lstm") else 1
        if hx is None:
            return tuple(zeros(N, H, dtype=self.weight_hh_l0.dtype) for _ in range(n_states))
        hx = tuple(hx) if isinstance(hx, (tuple, list)) else (hx,)
        if len(hx) != n_states:
            raise ValueError(f"Recurrent ({self.mode}): expected {n_states} initial state tensor(s), got {len(hx)}")
        out = []
        for s in hx:
            s = s if isinstance(s, Tensor) else Tensor(s)
            if s.shape == (1, N, H):
                s = s[0]
            if s.shape != (N, H):
                raise ValueError(f"Recurrent ({self.mode}): initial state must have shape (1, {N}, {H}), got {s.shape}")
            out.append(s)
        return tuple(out)

    def _preact(self, x, h):
        """(x W_ihᵀ + b_ih, h W_hhᵀ + b_hh): the input and hidden sides of every gate, (N, G·H) each."""
        gx, gh = x @ self.weight_ih_l0.T, h @ self.weight_hh_l0.T
        if self.bias:
            gx, gh = gx + self.bias_ih_l0, gh + self.bias_hh_l0
        return gx, gh

    def _step(self, x, state):
        s = gate_slices(self.kind, self.hidden_size)
        h_prev = state[0]
        gx, gh = self._preact(x, h_prev)
        if self.kind == "rnn":
            a = gx + gh
            h = a.tanh() if self.nonlinearity == "tanh" else a.relu()
            return (h,), {"a": a, "h": h}
        if self.kind == "gru":
            a_r = gx[:, s["r"]] + gh[:, s["r"]]
            a_z = gx[:, s["z"]] + gh[:, s["z"]]
            r, z = a_r.sigmoid(), a_z.sigmoid()
            a_n = gx[:, s["n"]] + r * gh[:, s["n"]]
            n = a_n.tanh()
            h = (1 - z) * n + z * h_prev
            _name(r=r, z=z, n=n, h=h)
            return (h,), {"r": a_r, "z": a_z, "n": a_n, "h": h}
        c_prev = state[1]
        a = gx + gh
        a_i, a_g, a_o = a[:, s["i"]], a[:, s["g"]], a[:, s["o"]]
        if self.peephole:
            a_i = a_i + self.weight_peephole_i * c_prev
        i, g = a_i.sigmoid(), a_g.tanh()
        named = {"i": a_i}
        if self.coupled:
            f = 1 - i
        else:
            a_f = a[:, s["f"]]
            if self.peephole:
                a_f = a_f + self.weight_peephole_f * c_prev
            f = a_f.sigmoid()
            named["f"] = a_f
        c = f * c_prev + i * g
        if self.peephole:
            a_o = a_o + self.weight_peephole_o * c
        o = a_o.sigmoid()
        h = o * c.tanh()
        _name(input_gate=i, forget_gate=f, cell_candidate=g, output_gate=o, c=c, h=h)
        named.update(g=a_g, o=a_o, h=h, c=c)
        return (h, c), named


def _name(**tensors):
    """Give the tensors of a step readable names (viz shows them: ``t=3/forget_gate``)."""
    for k, v in tensors.items():
        v.name = k


def nn_layer_class(mode, peephole=False, coupled=False):
    """The ``tinygrad_seq.nn`` class for this layer, or None if the library does not have it (yet)."""
    from .. import nn

    if peephole or coupled:
        return getattr(nn, "CoupledLSTM" if coupled else "PeepholeLSTM", None) if mode == "lstm" else None
    return getattr(nn, {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[mode], None)


class RecurrentLM(Module):
    """A recurrent layer and a linear readout: o(t) = h(t) V + c, the lecture's model.

        rnn:     nn.RNN / nn.LSTM / nn.GRU (``num_layers`` stacked: h⁽¹⁾, h⁽²⁾ ...), nn.PeepholeLSTM
                 (peephole=True), nn.CoupledLSTM (coupled=True), or ``Recurrent`` (the op-by-op layer of
                 this file) with use_nn=False
        readout: Linear(hidden_size, output_size)

    forward(x, hx=None) → o (T, N, C) (batch_first: (N, T, C)), read off the top layer;
    ``loss(x, y)`` = Σ_t Σ_n −log softmax(o(t))[y(t)].
    """

    def __init__(self, mode, input_size, hidden_size, output_size, nonlinearity="tanh", peephole=False,
                 coupled=False, batch_first=False, use_nn=True, num_layers=1):
        super().__init__()
        kind_of(mode, coupled)
        mode = mode.lower()
        cls = nn_layer_class(mode, peephole, coupled) if use_nn else None
        if num_layers != 1:
            if cls is None or peephole or coupled:
                raise ValueError(
                    f"RecurrentLM: num_layers={num_layers} needs the library's nn.RNN / nn.LSTM / nn.GRU "
                    "(use_nn=True, no peephole or coupled gates); bptt.Recurrent is one layer"
                )
            kwargs = dict(nonlinearity=nonlinearity) if mode == "rnn" else {}
            self.rnn = cls(input_size, hidden_size, num_layers=num_layers, batch_first=batch_first, **kwargs)
        elif cls is None:
            self.rnn = Recurrent(mode, input_size, hidden_size, nonlinearity=nonlinearity, batch_first=batch_first,
                                 peephole=peephole, coupled=coupled)
        elif coupled:
            self.rnn = cls(input_size, hidden_size, batch_first=batch_first, peephole=peephole)
        elif peephole:
            self.rnn = cls(input_size, hidden_size, batch_first=batch_first)
        elif mode == "rnn":
            self.rnn = cls(input_size, hidden_size, nonlinearity=nonlinearity, batch_first=batch_first)
        else:
            self.rnn = cls(input_size, hidden_size, batch_first=batch_first)
        self.readout = Linear(hidden_size, output_size)

    def forward(self, x, hx=None):
        output, _ = self.rnn(x, hx)
        return self.readout(output)

    def loss(self, x, y, hx=None):
        """The lecture's L: cross-entropy *summed* over time steps and sequences."""
        o = self(x, hx)
        return F.cross_entropy(o.reshape(-1, o.shape[-1]), np.asarray(y).reshape(-1), reduction="sum")

