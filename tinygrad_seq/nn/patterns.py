"""The lecture's design patterns for recurrent networks, each as a small model.

    pattern          model                 input → output
    many-to-one      SequenceClassifier    x(1..T) → one label, read from h(T)
    one-to-many      OneToMany             one vector x, fed at every step → y(1..T)
    many-to-many     SequenceTagger        x(1..T) → y(1..T), one output per input
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
from ..autograd import no_grad
from ..creation import default_rng, stack
from ..tensor import as_tensor
from .layers import Embedding, Linear
from .module import Module
from .rnn import GRU, LSTM, RNN

__all__ = [
    "SequenceClassifier", "OneToMany", "SequenceTagger", "BidirectionalTagger", "Encoder", "Decoder", "Seq2Seq",
    "make_rnn", "sequence_cross_entropy",
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


class OneToMany(Module):
    """One-to-many: one fixed vector x is the input at every step, and the network unrolls it into a sequence.

        h(t) = RNN(x, h(t−1)),    y(t) = V h(t) + c,    t = 1 … T

    as in image captioning, where x is the image's feature vector (the lecture's
    "vector to sequence" RNN).  x (B, input_size), ``steps`` = T →
    y (T, B, output_size).  Feeding the previous output back in as well, as a
    captioner does with the previous word, is the decoder of ``Seq2Seq``.
    """

    def __init__(self, input_size, hidden_size, output_size, rnn="GRU", num_layers=1, cell="composite"):
        super().__init__()
        self.rnn = make_rnn(rnn, input_size, hidden_size, num_layers=num_layers, cell=cell)
        self.readout = Linear(hidden_size, output_size)

    def forward(self, x, steps):
        x = as_tensor(x)
        if x.ndim != 2:
            raise ValueError(f"OneToMany: the input must be one vector per example, (batch, features); got {x.shape}")
        repeated = x.unsqueeze(0).expand(steps, *x.shape)  # the same x at every step; its gradient is the sum
        out, _ = self.rnn(repeated)
        return self.readout(out)


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
