"""The lecture's design patterns for recurrent networks, each as a small model.

    pattern          model                 input → output
    many-to-one      SequenceClassifier    x(1..T) → one label, read from h(T)
    one-to-many      OneToMany             one vector x → y(1..T); x fed at every step, or only into h(0)
    many-to-many     SequenceTagger        x(1..T) → y(1..T), one output per input
    output-to-hidden OutputToHiddenRNN     x(1..T) → y(1..T), the only recurrence from o(t−1) to h(t)
    bidirectional    BidirectionalTagger   y(t) from the past (h→) and the future (h←) of x
    encoder–decoder  Seq2Seq               x(1..n) → y(1..m), n ≠ m: Encoder + Decoder

Every model is a few lines around an ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``
(``rnn='RNN' | 'LSTM' | 'GRU'``), returns logits or values (never a loss), and
takes time-major input (T, B, ...), as the recurrent layers do.  Token inputs
are integer ids (T, B); ``lengths`` (B,) marks where each padded sequence ends.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import scope, tensor
from ..autograd import no_grad
from ..creation import default_rng, stack
from ..tensor import Tensor, as_tensor
from .init import uniform
from .layers import Embedding, Linear
from .module import Module, Parameter
from .rnn import GRU, LSTM, RNN, gru_step, lstm_step, rnn_step

__all__ = [
    "SequenceClassifier", "OneToMany", "AutonomousRNN", "SequenceTagger", "OutputToHiddenRNN", "BidirectionalTagger",
    "Encoder", "Decoder", "Seq2Seq", "make_rnn", "sequence_cross_entropy",
]

RNN_KINDS = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}


def make_rnn(kind, input_size, hidden_size, **kwargs):
    """``nn.RNN``, ``nn.LSTM`` or ``nn.GRU`` by name, with the given arguments."""
    if kind not in RNN_KINDS:
        raise ValueError(f"rnn must be one of {sorted(RNN_KINDS)}, got {kind!r}")
    return RNN_KINDS[kind](input_size, hidden_size, **kwargs)


def _top_state(state):
    """The top layer's final hidden state (B, H) from h_n or (h_n, c_n)."""
    h_n = state[0] if isinstance(state, tuple) else state
    return h_n[-1]


def sequence_cross_entropy(logits, targets, ignore_index=-100):
    """Mean cross-entropy over every (t, b) whose target is not ``ignore_index`` (padding).

    logits (T, B, C), targets (T, B) ints.  Padded positions add nothing, so
    sequences of different lengths can share a batch.
    """
    C = logits.shape[-1]
    targets = np.asarray(targets)
    return F.cross_entropy(logits.reshape(-1, C), targets.reshape(-1), ignore_index=ignore_index)


# --------------------------------------------------------------------------- many-to-one


class SequenceClassifier(Module):
    """Many-to-one: read the whole sequence, classify it from the last hidden state.

        h(t) = RNN(x(t), h(t−1)),    o = V h(T) + c,    ŷ = softmax(o)

    x (T, B, input_size) → logits (B, num_classes).  With ``lengths`` the
    state is taken at each sequence's own last step.  The loss sits at the end
    only, so the gradient reaches x(1) through T steps: the long-term
    dependency problem in its plainest form.
    """

    def __init__(self, input_size, hidden_size, num_classes, rnn="GRU", num_layers=1, cell="composite"):
        super().__init__()
        self.rnn = make_rnn(rnn, input_size, hidden_size, num_layers=num_layers, cell=cell)
        self.classifier = Linear(hidden_size, num_classes)

    def forward(self, x, lengths=None):
        _, state = self.rnn(x, lengths=lengths)
        return self.classifier(_top_state(state))


# --------------------------------------------------------------------------- one-to-many


def _named(t, name):
    t.name = name
    return t


CONDITIONS = ("input", "initial_state", "both")


class OneToMany(Module):
    """One-to-many: one fixed vector x (B, input_size) is unrolled into a sequence y(1..T) (B, output_size).

    The lecture (after Goodfellow et al. 2016, §10.2.4) gives the ways in which x enters, chosen by ``condition``:

        "input"          x at every step:       h(t) = RNN(x, h(t−1)),   h(0) = 0
        "initial_state"  x only through h(0):   h(0) = tanh(W₀ x + b₀),  h(t) = RNN(∅, h(t−1))
        "both"           both of the above:     h(0) = tanh(W₀ x + b₀),  h(t) = RNN(x, h(t−1))

    and in every case y(t) = V h(t) + c, t = 1 … T, as in image captioning, where x is
    the image's feature vector (the lecture's "vector to sequence" RNN).  With
    ``"initial_state"`` the recurrence has no input at all (an ``AutonomousRNN``):
    the whole sequence is decided by where h(0) puts the dynamics, so x must be
    carried through every step; with ``"input"`` it is there again at each one.
    For an LSTM, W₀ x + b₀ gives h(0) through tanh and c(0) as it is.

    x (B, input_size), ``steps`` = T → y (T, B, output_size).  Parameters: ``rnn``
    (its weight_hh_l0, ...), ``readout`` (V, c) and, unless ``condition="input"``,
    ``init`` (W₀, b₀: (L·H, input_size), twice the rows for an LSTM).  Feeding the
    previous output back in as well, as a captioner does with the previous word,
    is the decoder of ``Seq2Seq``.
    """

    def __init__(self, input_size, hidden_size, output_size, rnn="GRU", num_layers=1, cell="composite",
                 condition="input"):
        super().__init__()
        if condition not in CONDITIONS:
            raise ValueError(f"OneToMany: condition must be one of {CONDITIONS}, got {condition!r}")
        if condition == "initial_state":
            if num_layers != 1:
                raise ValueError(f"OneToMany: condition='initial_state' runs one layer without input; "
                                 f"got num_layers={num_layers}")
            self.rnn = AutonomousRNN(hidden_size, rnn, cell=cell)
        else:
            self.rnn = make_rnn(rnn, input_size, hidden_size, num_layers=num_layers, cell=cell)
        if condition != "input":
            self.init = Linear(input_size, num_layers * hidden_size * (2 if rnn == "LSTM" else 1))
        self.readout = Linear(hidden_size, output_size)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.kind, self.condition = rnn, condition

    def initial_state(self, x):
        """h(0) = tanh(W₀ x + b₀) as (num_layers, B, H); for an LSTM the pair (h(0), c(0) = W₀' x + b₀')."""
        with scope("initial_state"):
            L, B, H = self.num_layers, x.shape[0], self.hidden_size
            a = self.init(x)
            if self.kind != "LSTM":
                return _named(a.tanh().reshape(B, L, H).transpose(0, 1), "h_0")
            h0 = _named(a[:, :L * H].tanh().reshape(B, L, H).transpose(0, 1), "h_0")
            c0 = _named(a[:, L * H:].reshape(B, L, H).transpose(0, 1), "c_0")
            return h0, c0

    def forward(self, x, steps):
        x = as_tensor(x)
        if x.ndim != 2:
            raise ValueError(f"OneToMany: the input must be one vector per example, (batch, features); got {x.shape}")
        if x.shape[1] != self.input_size:
            raise ValueError(f"OneToMany: the input has {x.shape[1]} features (shape {x.shape}), "
                             f"expected input_size={self.input_size}")
        if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"OneToMany: steps must be a positive integer, got {steps!r}")
        state = None if self.condition == "input" else self.initial_state(x)
        if self.condition == "initial_state":
            out, _ = self.rnn(state, steps)
        else:
            repeated = x.unsqueeze(0).expand(steps, *x.shape)  # the same x at every step; its gradient is the sum
            out, _ = self.rnn(repeated, state)
        return self.readout(out)

    def extra_repr(self):
        return "" if self.condition == "input" else f"condition={self.condition!r}"


class AutonomousRNN(Module):
    """A recurrent layer without input: from h(0) on, the state evolves by itself.

        RNN:   h(t) = tanh(W_hh h(t−1) + b_ih + b_hh)
        GRU:   gru_step with W_ih x(t) left out (x_proj = b_ih)
        LSTM:  lstm_step with W_ih x(t) left out (x_proj = b_ih + b_hh)

    ``forward(h_0, steps)``: h_0 (1, B, H), for an LSTM the pair (h_0, c_0) →
    (output (T, B, H), h_n (1, B, H)) (LSTM: (output, (h_n, c_n))), as ``nn.RNN``
    returns.  The parameters keep the names and shapes of PyTorch's layer 0
    (weight_hh_l0 (G·H, H), bias_ih_l0, bias_hh_l0 (G·H,)), so a trained
    ``nn.RNN``'s recurrence loads with ``strict=False`` (weight_ih_l0 has
    nothing to act on).  Steps sit in scopes ``l0/t=k`` as in rnn.py.
    """

    def __init__(self, hidden_size, rnn="RNN", cell="composite"):
        super().__init__()
        if rnn not in RNN_KINDS:
            raise ValueError(f"AutonomousRNN: rnn must be one of {sorted(RNN_KINDS)}, got {rnn!r}")
        if cell not in ("composite", "fused"):
            raise ValueError(f"AutonomousRNN: cell must be 'composite' or 'fused', got {cell!r}")
        self.hidden_size, self.mode, self.cell = hidden_size, rnn, cell
        rows = {"RNN": 1, "LSTM": 4, "GRU": 3}[rnn] * hidden_size
        self.weight_hh_l0 = Parameter(uniform((rows, hidden_size), hidden_size))
        self.bias_ih_l0 = Parameter(uniform((rows,), hidden_size))
        self.bias_hh_l0 = Parameter(uniform((rows,), hidden_size))

    def forward(self, hx, steps):
        lstm = self.mode == "LSTM"
        if lstm and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"AutonomousRNN: an LSTM starts from a pair (h_0, c_0), got {type(hx).__name__}")
        states = [as_tensor(s) for s in (hx if lstm else [hx])]
        for s in states:
            if s.ndim != 3 or s.shape[0] != 1 or s.shape[2] != self.hidden_size:
                raise ValueError(f"AutonomousRNN: the initial state must be (1, batch, {self.hidden_size}), "
                                 f"got {s.shape}")
        h, c = states[0][0], states[1][0] if lstm else None
        B, rows = h.shape[0], self.weight_hh_l0.shape[0]
        outs = []
        with scope("l0"):
            # no W_ih x(t): what the input projection would give is the bias alone, the same at every step
            bias = self.bias_ih_l0 if self.mode == "GRU" else self.bias_ih_l0 + self.bias_hh_l0
            x_proj = _named(bias.unsqueeze(0).expand(B, rows), "bias")
            for t in range(steps):
                with scope(f"t={t}"):
                    if lstm:
                        h, c = lstm_step(x_proj, h, c, self.weight_hh_l0, self.cell)
                    elif self.mode == "GRU":
                        h = gru_step(x_proj, h, self.weight_hh_l0, self.bias_hh_l0, self.cell)
                    else:
                        h = rnn_step(x_proj, h, self.weight_hh_l0, "tanh", self.cell)
                    outs.append(h)
        output, h_n = stack(outs), h.unsqueeze(0)
        return (output, (h_n, c.unsqueeze(0))) if lstm else (output, h_n)

    def extra_repr(self):
        return f"{self.hidden_size}, rnn={self.mode!r}" + (f", cell={self.cell!r}" if self.cell != "composite" else "")


# --------------------------------------------------------------------------- many-to-many


class SequenceTagger(Module):
    """Many-to-many: one output per input step (part-of-speech tagging, per-step prediction).

        h(t) = RNN(embed(x(t)), h(t−1)),    o(t) = V h(t) + c

    tokens (T, B) ints → logits (T, B, num_tags).  A unidirectional tagger's y(t)
    can depend only on x(1 … t).  ``bidirectional=True`` gives ``BidirectionalTagger``.
    """

    def __init__(self, vocab_size, embedding_dim, hidden_size, num_tags, rnn="LSTM", num_layers=1,
                 bidirectional=False, cell="composite"):
        super().__init__()
        self.embedding = Embedding(vocab_size, embedding_dim)
        self.rnn = make_rnn(rnn, embedding_dim, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                            cell=cell)
        self.classifier = Linear(hidden_size * (2 if bidirectional else 1), num_tags)

    def forward(self, tokens, lengths=None):
        out, _ = self.rnn(self.embedding(tokens), lengths=lengths)
        return self.classifier(out)


class BidirectionalTagger(SequenceTagger):
    """Many-to-many with both directions: each output sees the whole sequence.

        h→(t) = RNN→(x(t), h→(t−1))          left to right
        h←(t) = RNN←(x(t), h←(t+1))          right to left
        o(t) = V [h→(t); h←(t)] + c

    so y(t) can depend on x(t+1 …) too (a word's tag often depends on the next
    word).  The graph shows the two directions as scopes ``l0`` and ``l0_reverse``.
    """

    def __init__(self, vocab_size, embedding_dim, hidden_size, num_tags, rnn="LSTM", num_layers=1,
                 cell="composite"):
        super().__init__(vocab_size, embedding_dim, hidden_size, num_tags, rnn, num_layers, True, cell)


# --------------------------------------------------------------------------- output-to-hidden recurrence

FEEDBACKS = ("argmax", "softmax", "identity")


class OutputToHiddenRNN(Module):
    """A recurrent network whose only recurrence goes from the output o(t−1) to the hidden units h(t).

        a(t) = U x(t) + W y(t−1) + b,    h(t) = tanh(a(t)),    o(t) = V h(t) + c,    ŷ(t) = softmax(o(t))

    (Goodfellow et al. 2016, §10.2, figure 10.4; U = ``weight_ih`` (H, D),
    W = ``weight_oh`` (H, K), b = ``bias_ih`` (H,), V and c = ``readout``).  There is
    no W_hh: everything the network remembers from the past must pass through
    the K numbers of its previous output, so it is less powerful than the
    hidden-to-hidden RNN, which passes on all of h(t−1).  In return it trains in
    parallel.  What stands for y(t−1):

        training, teacher forcing   ``forward(x, targets)``: the true y(t−1), so every step depends only on
                                    known values and the T steps are independent (``parallel=True``
                                    computes them as one batch of T·B rows; the same numbers)
        test time, free running     ``forward(x)``: the model's own previous output, by ``feedback``:
                                    "argmax"   the one-hot vector of argmax o(t−1) (greedy; no gradient
                                               flows through the choice, but step t must wait for t−1)
                                    "softmax"  ŷ(t−1), differentiable
                                    "identity" o(t−1) itself, for real-valued outputs

    x (T, B, input_size); targets (T, B) class ids (fed back as one-hot vectors)
    or (T, B, output_size) values (fed back as they are); y_0 (B, output_size),
    what step 0 receives, zeros ("no previous output") when None.  Returns the
    outputs o (T, B, output_size): logits, or values for "identity".  Each step
    is a scope ``t=k`` with tensors ``y_prev``, ``a``, ``h``, ``o``.
    """

    def __init__(self, input_size, hidden_size, output_size, nonlinearity="tanh", feedback="argmax"):
        super().__init__()
        for k, v in (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"OutputToHiddenRNN: {k} must be a positive integer, got {v!r}")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"OutputToHiddenRNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self._check_feedback(feedback)
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.nonlinearity, self.feedback = nonlinearity, feedback
        # PyTorch's RNN initialisation, U(±1/√H), for U, W and b; readout as nn.Linear
        self.weight_ih = Parameter(uniform((hidden_size, input_size), hidden_size))
        self.weight_oh = Parameter(uniform((hidden_size, output_size), hidden_size))
        self.bias_ih = Parameter(uniform((hidden_size,), hidden_size))
        self.readout = Linear(hidden_size, output_size)

    @staticmethod
    def _check_feedback(feedback):
        if feedback not in FEEDBACKS:
            raise ValueError(f"OutputToHiddenRNN: feedback must be one of {FEEDBACKS}, got {feedback!r}")

    def forward(self, x, targets=None, y_0=None, feedback=None, parallel=False):
        x = as_tensor(x)
        if x.ndim != 3 or x.shape[-1] != self.input_size or x.shape[0] == 0:
            raise ValueError(f"OutputToHiddenRNN: input must be (seq_len ≥ 1, batch, {self.input_size}), "
                             f"got shape {x.shape}")
        T, B, K = x.shape[0], x.shape[1], self.output_size
        dtype = np.result_type(x.dtype, self.weight_ih.dtype)
        y0 = np.zeros((B, K), dtype) if y_0 is None else np.asarray(y_0.data if isinstance(y_0, Tensor) else y_0)
        if y0.shape != (B, K):
            raise ValueError(f"OutputToHiddenRNN: y_0 must be (batch, output_size) = {(B, K)}, got {y0.shape}")
        feedback = self.feedback if feedback is None else feedback
        self._check_feedback(feedback)
        if parallel and targets is None:
            raise ValueError("OutputToHiddenRNN: parallel=True needs the targets: without teacher forcing "
                             "step t waits for the output of step t−1")
        if targets is not None:
            y = self._target_vectors(targets, T, B, dtype)
            y_prev = np.concatenate([y0[None].astype(dtype), y[:-1]])  # step t receives y(t−1); step 0 y_0
        # U x(t) + b for all T steps in one product, as rnn.py does
        x_proj = _named((x.reshape(T * B, -1) @ self.weight_ih.T + self.bias_ih).reshape(T, B, -1), "x_proj")
        if parallel:
            return self._all_steps_at_once(x_proj, y_prev)
        outs, o = [], None
        for t in range(T):
            with scope(f"t={t}"):
                if targets is not None:
                    y_t = tensor(y_prev[t], name="y_0" if t == 0 else "y_prev")
                elif t == 0:
                    y_t = tensor(y0.astype(dtype), name="y_0")
                elif feedback == "argmax":
                    y_t = tensor(np.eye(K, dtype=dtype)[o.data.argmax(-1)], name="y_prev")
                elif feedback == "softmax":
                    y_t = _named(o.softmax(-1), "y_prev")
                else:
                    y_t = _named(o, "y_prev")
                o = self._step(x_proj[t], y_t)
                outs.append(o)
        return stack(outs)

    def _step(self, x_proj, y_prev):
        """One step: x_proj = U x(t) + b (B, H), y_prev (B, K) → o(t) (B, K)."""
        a = _named(x_proj + y_prev @ self.weight_oh.T, "a")
        h = _named(a.tanh() if self.nonlinearity == "tanh" else a.relu(), "h")
        return _named(self.readout(h), "o")

    def _all_steps_at_once(self, x_proj, y_prev):
        """Teacher forcing makes the steps independent: T·B rows of one batch, no loop over t."""
        T, B, K = y_prev.shape
        with scope("all_steps"):
            o = self._step(x_proj.reshape(T * B, -1), tensor(y_prev.reshape(T * B, K), name="y_prev"))
        return o.reshape(T, B, K)

    def _target_vectors(self, targets, T, B, dtype):
        """Targets as the vectors fed back: ids (T, B) → one-hot (T, B, K); values (T, B, K) as they are."""
        y = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
        K = self.output_size
        if y.dtype.kind in "iu":
            if y.shape != (T, B):
                raise ValueError(f"OutputToHiddenRNN: class targets must be (seq_len, batch) = {(T, B)}, "
                                 f"got {y.shape}")
            if y.size and (y.min() < 0 or y.max() >= K):
                raise ValueError(f"OutputToHiddenRNN: class targets must lie in [0, {K}), "
                                 f"got range [{y.min()}, {y.max()}]")
            return np.eye(K, dtype=dtype)[y]
        if y.shape != (T, B, K):
            raise ValueError(f"OutputToHiddenRNN: value targets must be (seq_len, batch, output_size) = "
                             f"{(T, B, K)}, got {y.shape}")
        return y.astype(dtype)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}, {self.output_size}"
        if self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        return s + (f", feedback={self.feedback!r}" if self.feedback != "argmax" else "")


# --------------------------------------------------------------------------- encoder–decoder


class Encoder(Module):
    """Reads the source sequence into its hidden states and a final state (the "context" C).

    tokens (S, B) ints, ``lengths`` (B,) → ``outputs, state``:
    outputs (S, B, H) holds h(s) for every step (zero past each sequence's end),
    which an attention decoder reads; state is h_n (num_layers, B, H) (for an LSTM
    (h_n, c_n)), taken at each sequence's last real step, which a plain
    decoder starts from.
    """

    def __init__(self, vocab_size, embedding_dim, hidden_size, rnn="GRU", num_layers=1, cell="composite"):
        super().__init__()
        self.embedding = Embedding(vocab_size, embedding_dim)
        self.rnn = make_rnn(rnn, embedding_dim, hidden_size, num_layers=num_layers, cell=cell)

    def forward(self, tokens, lengths=None):
        return self.rnn(self.embedding(tokens), lengths=lengths)


class Decoder(Module):
    """Generates the target sequence from a state, one token at a time.

        h(t) = RNN(embed(y(t−1)), h(t−1)),  h(0) = the encoder's state,   o(t) = V h(t) + c

    ``forward(tokens_in (T, B), state)`` runs all steps at once when the inputs
    are known (teacher forcing) → (logits (T, B, vocab), state).
    """

    def __init__(self, vocab_size, embedding_dim, hidden_size, rnn="GRU", num_layers=1, cell="composite"):
        super().__init__()
        self.embedding = Embedding(vocab_size, embedding_dim)
        self.rnn = make_rnn(rnn, embedding_dim, hidden_size, num_layers=num_layers, cell=cell)
        self.out = Linear(hidden_size, vocab_size)

    def forward(self, tokens, state):
        out, state = self.rnn(self.embedding(tokens), state)
        return self.out(out), state


class Seq2Seq(Module):
    """Encoder–decoder (Sutskever et al. 2014; Cho et al. 2014): sequences in, sequences of another length out.

    The encoder reads x(1 … n) into a state C; the decoder starts from C and
    emits y(1 … m), each step reading the previous token:

        training, teacher forcing:  decoder input (BOS, y(1), …, y(m−1)), target (y(1), …, y(m), EOS)
        generation, greedy:         feed back argmax ŷ(t−1) until EOS or ``max_len``

    Batches of variable lengths: sources are padded and carry ``src_lengths``;
    targets are padded with ``pad`` and the loss ignores those positions
    (``sequence_cross_entropy(logits, targets, ignore_index=pad)``).
    ``teacher_forcing`` < 1 feeds the model's own previous prediction instead
    of the true token with probability 1 − teacher_forcing (scheduled sampling,
    Bengio et al. 2015), per example and step.
    """

    def __init__(self, src_vocab, tgt_vocab, embedding_dim, hidden_size, rnn="GRU", num_layers=1, bos=1, eos=2,
                 pad=0, cell="composite"):
        super().__init__()
        self.encoder = Encoder(src_vocab, embedding_dim, hidden_size, rnn, num_layers, cell)
        self.decoder = Decoder(tgt_vocab, embedding_dim, hidden_size, rnn, num_layers, cell)
        self.bos, self.eos, self.pad = bos, eos, pad

    def forward(self, src, src_lengths, tgt_in, teacher_forcing=1.0):
        """src (S, B), src_lengths (B,), tgt_in (T, B) starting with BOS → logits (T, B, tgt_vocab)."""
        _, state = self.encoder(src, src_lengths)
        if teacher_forcing >= 1:
            logits, _ = self.decoder(tgt_in, state)
            return logits
        tgt_in = np.asarray(tgt_in)
        steps, token = [], tgt_in[0]
        for t in range(tgt_in.shape[0]):
            logits, state = self.decoder(token[None], state)
            steps.append(logits[0])
            if t + 1 < tgt_in.shape[0]:
                own = logits.data[0].argmax(-1)
                use_truth = default_rng().random(own.shape) < teacher_forcing
                token = np.where(use_truth, tgt_in[t + 1], own)
        return stack(steps)

    def greedy_decode(self, src, src_lengths, max_len=50):
        """The most likely token at each step, fed back, until EOS: a list of B token lists (without EOS)."""
        with no_grad():
            _, state = self.encoder(src, src_lengths)
            B = state[0].shape[1] if isinstance(state, tuple) else state.shape[1]
            token = np.full(B, self.bos)
            done = np.zeros(B, dtype=bool)
            result = [[] for _ in range(B)]
            for _ in range(max_len):
                logits, state = self.decoder(token[None], state)
                token = logits.data[0].argmax(-1)
                for b in np.flatnonzero(~done):
                    if token[b] == self.eos:
                        done[b] = True
                    else:
                        result[b].append(int(token[b]))
                if done.all():
                    break
        return result
