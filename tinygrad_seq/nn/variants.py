"""Variants of the recurrent unit from the lecture, each a small module that states its equations.

    PeepholeLSTM       gates that look at the cell state (Gers & Schmidhuber 2000)
    CoupledLSTM        one gate for writing and forgetting: f = 1 − i
    LeakyRNN           leaky units: h(t) = (1 − α) h(t−1) + α tanh(...)
    TimeSkipRNN        skip connections through time: h(t) also (or only, length_one=False) fed from h(t−d)
    ClockworkRNN       modules updated at different periods (Koutník et al. 2014)
    DeepRNN            stacked layers with optional residual connections between them
    EchoStateNetwork   a fixed random reservoir, only the readout is trained (Jaeger 2001)

All take input (T, B, input_size) (or (B, T, input_size) with ``batch_first``,
or unbatched (T, input_size)) and return ``output, h_n`` like ``nn.RNN``
(``output, (h_n, c_n)`` for the LSTMs), with h_n of shape (1, B, H).  The
recurrent weights keep PyTorch's names (``weight_ih_l0``, ``weight_hh_l0``,
``bias_ih_l0``, ``bias_hh_l0``), so a trained ``nn.RNN`` or ``nn.LSTM`` state dict
loads into the matching variant (``strict=False`` where the variant has more),
and each variant reduces to the plain unit when its extra part is switched off
(tested).  The unrolled graph has the same
scopes as rnn.py: ``LeakyRNN/l0/t=3/h``.
"""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad, scope
from ..creation import default_rng, stack, where
from ..ops import TimeSteps
from ..tensor import Tensor, as_tensor, get_default_dtype
from .init import uniform
from .layers import Linear
from .module import Module, Parameter, check_sizes
from .rnn import (
    RNNBase,
    from_time_major,
    initial_state,
    input_projection,
    to_time_major,
)

__all__ = [
    "PeepholeLSTM", "CoupledLSTM", "LeakyRNN", "TimeSkipRNN", "ClockworkRNN", "DeepRNN", "EchoStateNetwork",
]


def _named(t, name):
    t.name = name
    return t


class _OneLayer(Module):
    """Shared plumbing of the single-layer variants: parameters named as PyTorch's layer 0, the time loop."""

    num_layers, bidirectional = 1, False

    def __init__(self, input_size, hidden_size, gates, bias=True, batch_first=False):
        super().__init__()
        check_sizes(type(self).__name__, input_size=input_size, hidden_size=hidden_size)
        self.input_size, self.hidden_size, self.batch_first = input_size, hidden_size, batch_first
        rows = gates * hidden_size
        self.weight_ih_l0 = Parameter(uniform((rows, input_size), hidden_size))
        self.weight_hh_l0 = Parameter(uniform((rows, hidden_size), hidden_size))
        if bias:
            self.bias_ih_l0 = Parameter(uniform((rows,), hidden_size))
            self.bias_hh_l0 = Parameter(uniform((rows,), hidden_size))
        else:
            self.register_parameter("bias_ih_l0", None)
            self.register_parameter("bias_hh_l0", None)

    def _unroll(self, input, hx, n_states):
        """Run ``self.step(t, x_proj(t), states) -> states`` over time; the first state is h."""
        owner = type(self).__name__
        x, unbatched = to_time_major(owner, input, self.input_size, self.batch_first)
        T, B = x.shape[0], x.shape[1]
        dtype = np.result_type(x.dtype, self.weight_ih_l0.dtype)
        given = [None] * n_states if hx is None else ([hx] if n_states == 1 else list(hx))
        names = ["h_0", "c_0"][:n_states]
        states = [initial_state(owner, n, s, (1, B, self.hidden_size), unbatched, dtype, label=n)[0]
                  for n, s in zip(names, given)]
        bias = None if self.bias_ih_l0 is None else self.bias_ih_l0 + self.bias_hh_l0
        outs = []
        with scope("l0"):
            steps = TimeSteps(input_projection(x, self.weight_ih_l0, bias))
            self._begin(states)
            try:
                for t in range(T):
                    with scope(f"t={t}"):
                        states = self.step(t, steps[t], states)
                        outs.append(states[0])
            finally:
                self._end()
            output = stack(outs)
        output = from_time_major(output, self.batch_first, unbatched)
        finals = [s.unsqueeze(0) for s in states]
        return output, [f.squeeze(1) if unbatched else f for f in finals]

    def _begin(self, states):
        """Called once before the time loop (in the layer's scope): set up what every step shares."""

    def _end(self):
        """Called after the time loop: drop what ``_begin`` set up."""

    def forward(self, input, hx=None):
        output, (h_n,) = self._unroll(input, hx, 1)
        return output, h_n

    def _blocks(self, a, names):
        """Split the stacked pre-activations (B, G·H) into {gate: (B, H)}."""
        n = self.hidden_size
        return {g: a[:, k * n:(k + 1) * n] for k, g in enumerate(names)}

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + (", batch_first=True" if self.batch_first else "")


# --------------------------------------------------------------------------- LSTM variants


class PeepholeLSTM(_OneLayer):
    """LSTM with peephole connections (Gers & Schmidhuber 2000, "Recurrent nets that time and count").

    The gates also see the cell state, through diagonal weights p_i, p_f, p_o (H,):

        [a_i, a_f, a_g, a_o] = W_ih x(t) + b_ih + W_hh h(t−1) + b_hh
        i = σ(a_i + p_i ⊙ c(t−1)),   f = σ(a_f + p_f ⊙ c(t−1)),   g = tanh(a_g)
        c(t) = f ⊙ c(t−1) + i ⊙ g
        o = σ(a_o + p_o ⊙ c(t))              (the output gate looks at the new cell)
        h(t) = o ⊙ tanh(c(t))

    Peepholes let the gates time events precisely from the cell's content, which
    h(t−1) hides when the output gate is closed.  With ``coupled=True`` the forget
    gate is f = 1 − i (see ``CoupledLSTM``) and p_f does not exist.  With all
    p = 0 this is ``nn.LSTM`` (same parameter names for the rest).
    Parameters: weight_ih_l0 (G·H, D), weight_hh_l0 (G·H, H), bias_ih_l0, bias_hh_l0 (G·H,),
    weight_peephole_i, weight_peephole_f, weight_peephole_o (H,); G = 4 (3 if coupled: i, g, o).
    Returns ``output, (h_n, c_n)``.
    """

    mode = "LSTM"

    def __init__(self, input_size, hidden_size, bias=True, batch_first=False, coupled=False, peephole=True):
        super().__init__(input_size, hidden_size, 3 if coupled else 4, bias, batch_first)
        self.coupled, self.peephole = coupled, peephole
        if peephole:
            for gate in ("i", "o") if coupled else ("i", "f", "o"):
                setattr(self, f"weight_peephole_{gate}", Parameter(uniform((hidden_size,), hidden_size)))

    def step(self, t, x_proj, states):
        h, c = states
        a = _named(x_proj + h @ self.weight_hh_l0.T, "gate_preactivations")
        blocks = self._blocks(a, ("i", "g", "o") if self.coupled else ("i", "f", "g", "o"))
        with scope("input_gate"):
            a_i = blocks["i"] + self.weight_peephole_i * c if self.peephole else blocks["i"]
            i = _named(a_i.sigmoid(), "input_gate")
        with scope("forget_gate"):
            if self.coupled:
                f = _named(1 - i, "forget_gate")
            else:
                a_f = blocks["f"] + self.weight_peephole_f * c if self.peephole else blocks["f"]
                f = _named(a_f.sigmoid(), "forget_gate")
        with scope("cell_candidate"):
            g = _named(blocks["g"].tanh(), "cell_candidate")
        with scope("c"):
            c = _named(f * c + i * g, "c")
        with scope("output_gate"):
            a_o = blocks["o"] + self.weight_peephole_o * c if self.peephole else blocks["o"]
            o = _named(a_o.sigmoid(), "output_gate")
        with scope("h"):
            h = _named(o * c.tanh(), "h")
        return [h, c]

    def forward(self, input, hx=None):
        output, (h_n, c_n) = self._unroll(input, hx, 2)
        return output, (h_n, c_n)

    def extra_repr(self):
        return super().extra_repr() + (", coupled=True" if self.coupled else "") + \
            ("" if self.peephole else ", peephole=False")


class CoupledLSTM(PeepholeLSTM):
    """LSTM with coupled input and forget gates ("CIFG", see Greff et al. 2017, "LSTM: A search space odyssey").

        [a_i, a_g, a_o] = W_ih x(t) + b_ih + W_hh h(t−1) + b_hh      (3 gates: i, g, o)
        i = σ(a_i),   f = 1 − i,   g = tanh(a_g),   o = σ(a_o)
        c(t) = (1 − i) ⊙ c(t−1) + i ⊙ g,    h(t) = o ⊙ tanh(c(t))

    The cell forgets exactly as much as it writes: c(t) is a convex combination
    of the old cell and the candidate, as in the GRU's update of h.  A quarter
    fewer parameters than the LSTM, and in Greff et al.'s study no worse.
    ``peephole=True`` adds the peepholes p_i, p_o of ``PeepholeLSTM``.
    Returns ``output, (h_n, c_n)``.
    """

    def __init__(self, input_size, hidden_size, bias=True, batch_first=False, peephole=False):
        super().__init__(input_size, hidden_size, bias, batch_first, coupled=True, peephole=peephole)


# --------------------------------------------------------------------------- RNN variants


class LeakyRNN(_OneLayer):
    """An RNN of leaky units: each unit keeps a fraction of its past (lecture: leaky units, multiple time scales).

        h̃(t) = tanh(W_ih x(t) + b_ih + W_hh h(t−1) + b_hh)
        h(t)  = (1 − α) ⊙ h(t−1) + α ⊙ h̃(t)

    α ∈ (0, 1] per unit: α near 1 is the ordinary RNN, a small α integrates over
    a long window (a time constant of about 1/α steps), and the path through
    (1 − α) lets gradients survive as many steps.  ``alpha`` is a number or an
    array of H values; with ``learn_alpha=True`` it is learned, as
    α = σ(leak_logit) so that it stays in (0, 1).  With α = 1 this is ``nn.RNN``.
    """

    def __init__(self, input_size, hidden_size, alpha=0.5, bias=True, batch_first=False, learn_alpha=False):
        super().__init__(input_size, hidden_size, 1, bias, batch_first)
        alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (hidden_size,))
        if not ((alpha > 0) & (alpha <= 1)).all():
            raise ValueError(f"LeakyRNN: alpha must lie in (0, 1], got {alpha.tolist()}")
        self.learn_alpha = learn_alpha
        if learn_alpha:
            alpha = np.clip(alpha, 1e-6, 1 - 1e-6)
            self.leak_logit = Parameter(np.log(alpha / (1 - alpha)).astype(get_default_dtype()))
        else:
            self.register_buffer("alpha", alpha.astype(get_default_dtype()))

    def leak(self):
        """α (H,): the fixed buffer, or σ(leak_logit) when learned."""
        return self.leak_logit.sigmoid() if self.learn_alpha else self.alpha

    def _begin(self, states):
        self._alpha = _named(self.leak(), "alpha")

    def _end(self):
        self._alpha = None

    def step(self, t, x_proj, states):
        (h,) = states
        alpha = self._alpha
        with scope("candidate"):
            h_tilde = _named((x_proj + h @ self.weight_hh_l0.T).tanh(), "candidate")
        with scope("h"):
            h = _named((1 - alpha) * h + alpha * h_tilde, "h")
        return [h]


class TimeSkipRNN(_OneLayer):
    """An RNN with skip connections through time: h(t) also reads h(t−d) directly.

        h(t) = tanh(W_ih x(t) + b_ih + W_hh h(t−1) + b_hh + W_skip h(t−d))

    The delayed connection is a path d times shorter through time, so a gradient
    from step t reaches step t − k after about k/d multiplications instead of k
    (lecture: skip connections through time; Lin et al. 1996).  Before the
    sequence starts, h(s) for s < 0 is the initial state h_0.  With W_skip = 0
    this is ``nn.RNN``.  ``h_n`` holds h(T−1) only, so a continued sequence starts
    its delayed path from h_n too.  Parameters: those of ``nn.RNN`` plus
    weight_skip_l0 (H, H).

    ``length_one=False`` removes the 1-step connection (the lecture's "removing
    length-one connections"): no weight_hh_l0, and

        h(t) = tanh(W_ih x(t) + b_ih + b_hh + W_skip h(t−d)),

    d interleaved chains that each step d at a time; ``nn.DilatedRNN`` is the same
    layer with W_skip named weight_hh_l0 and h_n holding the last d states.
    """

    def __init__(self, input_size, hidden_size, skip=2, bias=True, batch_first=False, length_one=True):
        super().__init__(input_size, hidden_size, 1, bias, batch_first)
        check_sizes("TimeSkipRNN", skip=skip)
        self.length_one = length_one
        if not length_one:  # unregister weight_hh_l0, then keep the attribute as None (as a missing bias)
            del self.weight_hh_l0
            self.register_parameter("weight_hh_l0", None)
        self.skip = skip
        self.weight_skip_l0 = Parameter(uniform((hidden_size, hidden_size), hidden_size))

    def _begin(self, states):
        self._history = [states[0]]  # h_0 stands for every step before the start

    def _end(self):
        self._history = None

    def step(self, t, x_proj, states):
        (h,) = states
        history = self._history
        h_skip = history[max(len(history) - self.skip, 0)]  # h(t − d), or h_0 while t < d
        with scope("h"):
            a = x_proj + h @ self.weight_hh_l0.T if self.length_one else x_proj
            h = _named((a + h_skip @ self.weight_skip_l0.T).tanh(), "h")
        history.append(h)
        return [h]

    def extra_repr(self):
        return super().extra_repr() + f", skip={self.skip}" + ("" if self.length_one else ", length_one=False")


class ClockworkRNN(_OneLayer):
    """Clockwork RNN (Koutník, Greff, Gomez & Schmidhuber 2014): modules that tick at different periods.

    The H hidden units form g equal modules with periods T_1 < T_2 < ... < T_g
    (default 1, 2, 4, 8, ...).  At step t (counted from 0, so every module
    reads the first input), module k is active when t mod T_k = 0:

        h̃(t) = tanh(W_ih x(t) + b_ih + (W_hh ⊙ M) h(t−1) + b_hh)
        h_k(t) = h̃_k(t) if t mod T_k = 0, else h_k(t−1)

    M is block upper-triangular: module k reads only modules with periods ≥ T_k,
    so slow modules feed fast ones and never the reverse.  Slow modules keep
    their values for T_k steps, a memory with short gradient paths.  (All
    modules are computed at every step and the inactive ones keep their old
    values: the same result, simpler code.)  Entries of weight_hh_l0 outside M
    are zero and get zero gradient.
    """

    def __init__(self, input_size, hidden_size, periods=(1, 2, 4, 8), bias=True, batch_first=False):
        super().__init__(input_size, hidden_size, 1, bias, batch_first)
        periods = tuple(int(p) for p in periods)
        if not periods or hidden_size % len(periods) or any(p <= 0 for p in periods) or list(periods) != sorted(
                set(periods)):
            raise ValueError(
                f"ClockworkRNN: periods must be increasing positive integers whose count divides hidden_size "
                f"({hidden_size}); got {periods}"
            )
        self.periods = periods
        size = hidden_size // len(periods)
        module = np.arange(hidden_size) // size
        self.register_buffer("period_of_unit", np.asarray(periods)[module])
        self.register_buffer("mask_hh", (module[None, :] >= module[:, None]).astype(get_default_dtype()))
        with no_grad():
            self.weight_hh_l0.data = self.weight_hh_l0.data * self.mask_hh.data

    def _begin(self, states):
        self._w_hh = _named(self.weight_hh_l0 * self.mask_hh, "masked_weight_hh")

    def _end(self):
        self._w_hh = None

    def step(self, t, x_proj, states):
        (h,) = states
        active = t % self.period_of_unit.data == 0
        with scope("candidate"):
            h_tilde = _named((x_proj + h @ self._w_hh.T).tanh(), "candidate")
        with scope("h"):
            h = _named(h_tilde if active.all() else where(active, h_tilde, h), "h")
        return [h]

    def extra_repr(self):
        return super().extra_repr() + f", periods={self.periods}"


class DeepRNN(RNNBase):
    """A stack of recurrent layers, optionally with residual connections between them.

    Layer k reads the outputs of layer k − 1.  With ``residual=True`` every layer
    whose input and output have the same size adds its input to its output
    (as in Wu et al. 2016's deep LSTM translator):

        y_k(t) = RNN_k(y_{k−1})(t) + y_{k−1}(t)

    giving gradients a path around each layer, so deep stacks train like shallow
    ones (lecture: deep RNNs, the path-lengthening effect of depth).  ``mode`` is
    'RNN', 'LSTM' or 'GRU'; the other arguments, the parameters and the return
    values are those of ``nn.LSTM`` etc., and with ``residual=False`` DeepRNN is
    exactly that module.
    """

    def __init__(self, input_size, hidden_size, num_layers=2, mode="LSTM", residual=True, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, nonlinearity="tanh", cell="composite"):
        if mode not in ("RNN", "LSTM", "GRU"):
            raise ValueError(f"DeepRNN: mode must be 'RNN', 'LSTM' or 'GRU', got {mode!r}")
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         nonlinearity, cell)
        self.residual = residual

    def _between_layers(self, layer, x, y):
        if self.residual and x.shape == y.shape:
            with scope(f"l{layer}_residual"):
                y = _named(y + x, "residual")
        return super()._between_layers(layer, x, y)

    def extra_repr(self):
        return f"mode={self.mode!r}, " + super().extra_repr() + f", residual={self.residual}"


# --------------------------------------------------------------------------- reservoir computing


class EchoStateNetwork(Module):
    """Echo state network (Jaeger 2001): a fixed random recurrent reservoir and a trained linear readout.

        h(t) = (1 − a) h(t−1) + a tanh(W_in u(t) + W h(t−1) + b)      reservoir (Jaeger's x(n)), fixed
        y(t) = W_out h(t) + b_out                                     readout, the only trained part

    W (N, N) is random with a fraction ``density`` of nonzero entries, rescaled
    so that its spectral radius (largest |eigenvalue|) is ``spectral_radius``;
    below 1 (for a = 1) the reservoir forgets its initial state, the "echo state
    property".  W_in ~ U(−s, s) with s = ``input_scaling``, b ~ U(−β, β) with
    β = ``bias_scaling``; a = ``leak_rate``.  W_in, W and b are buffers (saved in
    the state dict, never trained); the readout is an ``nn.Linear``.

    Training the readout is linear regression on the reservoir states:
    ``fit_ridge`` solves it in closed form, ``fit_gradient_descent`` by gradient
    descent through the engine (or train ``readout`` with any optimizer).
    """

    def __init__(self, input_size, reservoir_size, output_size, spectral_radius=0.9, input_scaling=1.0,
                 leak_rate=1.0, density=1.0, bias_scaling=0.0, batch_first=False):
        super().__init__()
        check_sizes("EchoStateNetwork", input_size=input_size, reservoir_size=reservoir_size,
                    output_size=output_size)
        if not 0 < leak_rate <= 1:
            raise ValueError(f"EchoStateNetwork: leak_rate must lie in (0, 1], got {leak_rate}")
        if not 0 < density <= 1:
            raise ValueError(f"EchoStateNetwork: density must lie in (0, 1], got {density}")
        self.input_size, self.reservoir_size, self.output_size = input_size, reservoir_size, output_size
        self.spectral_radius, self.leak_rate, self.batch_first = spectral_radius, leak_rate, batch_first
        rng, dtype, N = default_rng(), get_default_dtype(), reservoir_size
        W = rng.uniform(-1, 1, (N, N)) * (rng.random((N, N)) < density)
        radius = np.abs(np.linalg.eigvals(W)).max()
        if radius == 0:
            raise ValueError("EchoStateNetwork: the random reservoir came out all zero; raise density")
        self.register_buffer("weight_hh", (W * (spectral_radius / radius)).astype(dtype))
        self.register_buffer("weight_ih", rng.uniform(-input_scaling, input_scaling, (N, input_size)).astype(dtype))
        self.register_buffer("bias", rng.uniform(-bias_scaling, bias_scaling, N).astype(dtype))
        self.readout = Linear(N, output_size)

    def reservoir(self, input, hx=None):
        """The reservoir states: input (T, B, D) → (states (T, B, N), h_n (1, B, N))."""
        x, unbatched = to_time_major("EchoStateNetwork", input, self.input_size, self.batch_first)
        B = x.shape[1]
        dtype = np.result_type(x.dtype, self.weight_ih.dtype)
        h = initial_state("EchoStateNetwork", "h_0", hx, (1, B, self.reservoir_size), unbatched, dtype)[0]
        a, outs = self.leak_rate, []
        with scope("reservoir"):
            steps = TimeSteps(input_projection(x, self.weight_ih, self.bias))
            for t in range(len(steps)):
                with scope(f"t={t}"):
                    h_new = (steps[t] + h @ self.weight_hh.T).tanh()
                    h = _named(h_new if a == 1 else (1 - a) * h + a * h_new, "h")
                    outs.append(h)
        states = stack(outs)
        h_n = h.unsqueeze(0)
        return (states.squeeze(1), h_n.squeeze(1)) if unbatched else (states, h_n)

    def forward(self, input, hx=None):
        """input (T, B, D) → (y (T, B, output_size), h_n (1, B, N)); batch first if asked."""
        states, h_n = self.reservoir(input, hx)
        y = self.readout(states)
        if self.batch_first and y.ndim == 3:
            y = y.transpose(0, 1)
        return y, h_n

    def _design(self, input, target, washout):
        """Reservoir states and targets as rows: X (M, N), Y (M, output_size), after dropping the washout."""
        with no_grad():
            states, _ = self.reservoir(input)
        target = as_tensor(target)
        if self.batch_first and target.ndim == 3:
            target = target.transpose(0, 1)
        if target.shape[:-1] != states.shape[:-1] or target.shape[-1] != self.output_size:
            raise ValueError(
                f"EchoStateNetwork: target of shape {target.shape} does not match the states {states.shape[:-1]} "
                f"with {self.output_size} outputs"
            )
        X = states.data[washout:].reshape(-1, self.reservoir_size)
        Y = target.data[washout:].reshape(-1, self.output_size)
        return X, Y

    def fit_ridge(self, input, target, washout=0, ridge=1e-6):
        """Set the readout in closed form: ridge regression of the targets on the states.

            [W_out b_out] = Y ᵀ X̃ (X̃ᵀ X̃ + λ I)⁻¹,    X̃ = [states, 1] (bias not penalised)

        ``washout`` initial steps are left out while the reservoir forgets h_0.
        Returns the training mean squared error.
        """
        X, Y = self._design(input, target, washout)
        Xb = np.hstack([X, np.ones((len(X), 1))]).astype(np.float64)
        penalty = ridge * np.eye(Xb.shape[1])
        penalty[-1, -1] = 0
        coef = np.linalg.solve(Xb.T @ Xb + penalty, Xb.T @ Y.astype(np.float64))
        with no_grad():
            self.readout.weight.data = coef[:-1].T.astype(self.readout.weight.dtype)
            self.readout.bias.data = coef[-1].astype(self.readout.bias.dtype)
        return float(np.mean((Xb @ coef - Y) ** 2))

    def fit_gradient_descent(self, input, target, washout=0, steps=500, lr=None, momentum=0.9):
        """Train the readout by full-batch gradient descent on the mean squared error (heavy-ball momentum).

        The states are computed once (the reservoir is fixed); each step runs the
        readout forward, ``backward()`` through the engine, and
        v ← μ v − lr ∇,  θ ← θ + v.  The default lr is 1/L, with L the largest
        curvature of the loss, the largest step that is always stable.
        Returns the final mean squared error.
        """
        X, Y = self._design(input, target, washout)
        if lr is None:
            Xb = np.hstack([X, np.ones((len(X), 1))])
            lr = 1.0 / (2 * np.linalg.eigvalsh(Xb.T @ Xb / len(X))[-1])
        X, Y = Tensor(X), Tensor(Y)
        params = list(self.readout.parameters())
        velocity = [np.zeros_like(p.data) for p in params]
        for _ in range(steps):
            for p in params:
                p.grad = None
            loss = ((self.readout(X) - Y) ** 2).mean() * self.output_size  # the mean over rows of the sum over outputs
            loss.backward()
            with no_grad():
                for p, v in zip(params, velocity):
                    v *= momentum
                    v -= lr * p.grad.data
                    p.data = p.data + v.astype(p.dtype)
        with no_grad():
            return float(((self.readout(X) - Y) ** 2).mean().item())

    def extra_repr(self):
        return (f"{self.input_size}, {self.reservoir_size}, {self.output_size}, "
                f"spectral_radius={self.spectral_radius}, leak_rate={self.leak_rate}")
