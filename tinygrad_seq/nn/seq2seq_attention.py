"""Encoder–decoders with attention (Bahdanau et al. 2015), a no-attention baseline, and a small Transformer.

The plain encoder–decoder (Cho et al. 2014; Sutskever et al. 2014) hands the
decoder one fixed-length summary of the source: long sources do not fit.
Bahdanau et al. keep every encoder state and let the decoder choose:

    encoder (bidirectional GRU):  h(i) = [→h(i); ←h(i)]           the annotation of source position i, (2H,)
    decoder state:                s(0) = tanh(W_s [→h(S); ←h(1)])
    at every target step t:       c(t) = Σ_i α(t, i) h(i),  α(t, ·) = softmax(score(s(t−1), h(·)))
                                  s(t) = GRU([embed(y(t−1)); c(t)], s(t−1))
                                  ŷ(t) = softmax(W_o [s(t); c(t)] + b_o)

``attention`` picks the score: "additive" (Bahdanau), "dot", "general",
"scaled_dot", "cosine", "location" (Luong et al. 2015), "local-p" and "local-m"
(Luong's local attention, scoring with ``local_score`` inside the window), or None: then c(t) is the
encoder's summary [→h(S); ←h(1)] at every step, the no-attention baseline with
the same sizes.

``TransformerSeq2Seq`` solves the same tasks with ``nn.Transformer``.

All models take time-major token batches (``tinygrad_seq.tasks``): src (S, B),
src_lengths (B,), tgt_in (T, B) starting with BOS; they return logits (T, B, V)
and keep ``last_alignment`` (B, T, S), the weights α of the last forward, for viz.
Token ids 0, 1, 2 are PAD, BOS and EOS (``tinygrad_seq.tasks`` makes data in this convention);
the training loop and the exact-match score are in ``tinygrad_seq.translation``.
"""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad, scope
from ..creation import cat, stack
from ..ops import TimeSteps
from .attention import Attention, LocalAttention, padding_mask
from .layers import Embedding, Linear
from .module import Module
from .rnn import GRU, GRUCell
from .transformer import PositionalEncoding, Transformer

__all__ = ["PAD", "BOS", "EOS", "BidirectionalEncoder", "AttentionDecoder", "AttentionSeq2Seq", "TransformerSeq2Seq"]

PAD, BOS, EOS = 0, 1, 2  # padding, begin and end of a sequence

ATTENTIONS = ("additive", "dot", "general", "scaled_dot", "cosine", "location", "local-p", "local-m", None)


class BidirectionalEncoder(Module):
    """Embedding and a bidirectional GRU: tokens (S, B) → annotations (B, S, 2H) and summary (B, 2H).

    annotations[b, i] = [→h(i); ←h(i)]: the forward state has read x(1 … i), the
    backward one x(i … S), so h(i) describes token i in the context of the whole
    sentence.  summary = [→h(S); ←h(1)], the two final states (each sequence's own S).
    """

    def __init__(self, vocab_size, embedding_dim, hidden_size, cell="fused"):
        super().__init__()
        self.embedding = Embedding(vocab_size, embedding_dim)
        self.rnn = GRU(embedding_dim, hidden_size, bidirectional=True, cell=cell)

    def forward(self, src, lengths):
        outputs, h_n = self.rnn(self.embedding(src), lengths=lengths)  # (S, B, 2H), (2, B, H)
        annotations = outputs.transpose(0, 1)
        annotations.name = "annotations h"
        return annotations, cat([h_n[0], h_n[1]], -1)


class AttentionDecoder(Module):
    """One GRU step per target symbol, reading the context c(t) chosen by ``attention`` (module docstring)."""

    def __init__(self, vocab_size, embedding_dim, hidden_size, context_size, attention=None, cell="fused"):
        super().__init__()
        self.embedding = Embedding(vocab_size, embedding_dim)
        self.init_state = Linear(context_size, hidden_size)
        self.attention = attention
        self.rnn = GRUCell(embedding_dim + context_size, hidden_size, cell=cell)
        self.out = Linear(hidden_size + context_size, vocab_size)

    def start(self, annotations, summary, key_padding_mask):
        """The decoder's memory of the source: s(0), and the keys' projections computed once for all steps."""
        with scope("init_state"):
            s = self.init_state(summary).tanh()
        projected = None
        if self.attention is not None:
            with scope("attention"), scope("key"):
                projected = self.attention.score.project_keys(annotations)
        return s, (annotations, summary, projected, key_padding_mask)

    def step(self, y_emb, s, memory, t):
        """s(t−1), embed(y(t−1)) → s(t), c(t), α(t) (None without attention)."""
        annotations, summary, projected, kpm = memory
        with scope(f"t={t}"):
            if self.attention is None:
                c, alpha = summary, None
            else:
                extra = {"t": t} if isinstance(self.attention, LocalAttention) else {}
                c, alpha = self.attention(s, annotations, key_padding_mask=kpm, projected_keys=projected, **extra)
            s = self.rnn(cat([y_emb, c], -1), s)
        return s, c, alpha


class AttentionSeq2Seq(Module):
    """Bidirectional GRU encoder + attention GRU decoder (Bahdanau et al. 2015), with a pluggable score.

    AttentionSeq2Seq(src_vocab, tgt_vocab, embedding_dim=16, hidden_size=32, attention="additive")
    The encoder has ``hidden_size`` units per direction; the decoder 2·hidden_size, the size of an
    annotation, so that the dot score can compare s and h directly.
    ``window`` (D) is the half-width of local attention (the window is 2D + 1 wide; Luong et al. used D = 10
    for sentences; 4 suits the short strings of ``tasks``); ``local_score`` its score inside the window;
    ``max_src_len`` is needed by "location".
    """

    def __init__(self, src_vocab, tgt_vocab, embedding_dim=16, hidden_size=32, attention="additive",
                 attention_dim=None, window=4, max_src_len=None, local_score="general", cell="fused"):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"AttentionSeq2Seq: attention must be one of {ATTENTIONS}, got {attention!r}")
        H2 = 2 * hidden_size
        self.attention_kind = attention
        self.encoder = BidirectionalEncoder(src_vocab, embedding_dim, hidden_size, cell)
        if attention is None:
            attn = None
        elif attention.startswith("local"):
            attn = LocalAttention(local_score, window=window, mode=attention[-1], query_dim=H2, key_dim=H2,
                                  hidden_dim=attention_dim)
        else:
            attn = Attention(attention, query_dim=H2, key_dim=H2, hidden_dim=attention_dim, max_len=max_src_len)
        self.decoder = AttentionDecoder(tgt_vocab, embedding_dim, H2, H2, attn, cell)
        self.last_alignment = None

    def forward(self, src, src_lengths, tgt_in):
        """src (S, B), src_lengths (B,), tgt_in (T, B) → logits (T, B, tgt_vocab), teacher forced."""
        src, tgt_in = np.asarray(src), np.asarray(tgt_in)
        annotations, summary = self.encoder(src, src_lengths)
        s, memory = self.decoder.start(annotations, summary, padding_mask(src_lengths, src.shape[0]))
        inputs = TimeSteps(self.decoder.embedding(tgt_in))
        states, contexts, alphas = [], [], []
        for t in range(tgt_in.shape[0]):
            s, c, alpha = self.decoder.step(inputs[t], s, memory, t)
            states.append(s)
            contexts.append(c)
            alphas.append(alpha)
        self._keep_alignment(alphas)
        with scope("out"):
            return self.decoder.out(cat([stack(states), stack(contexts)], -1))

    def _keep_alignment(self, alphas):
        if alphas and alphas[0] is not None:
            self.last_alignment = np.stack([a.data for a in alphas], 1)  # (B, T, S)

    def greedy_decode(self, src, src_lengths, max_len=50):
        """Feed back the most likely symbol until EOS: a list of B token lists (without EOS)."""
        src = np.asarray(src)
        with no_grad():
            annotations, summary = self.encoder(src, src_lengths)
            s, memory = self.decoder.start(annotations, summary, padding_mask(src_lengths, src.shape[0]))
            token = np.full(src.shape[1], BOS)
            steps, alphas = [], []
            for t in range(max_len):
                s, c, alpha = self.decoder.step(self.decoder.embedding(token), s, memory, t)
                token = self.decoder.out(cat([s, c], -1)).data.argmax(-1)
                steps.append(token)
                alphas.append(alpha)
                if all((np.stack(steps) == EOS).any(0)):
                    break
            self._keep_alignment(alphas)
        return _until_eos(np.stack(steps, 1))


class TransformerSeq2Seq(Module):
    """Token embeddings + sinusoidal positions → ``nn.Transformer`` → a linear layer over the target vocabulary.

    The decoder's cross-attention weights of its last layer (averaged over heads) are the alignment.
    The embeddings stay N(0, 1), the scale of the positional encodings, so neither drowns the other.
    """

    def __init__(self, src_vocab, tgt_vocab, d_model=32, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
                 dim_feedforward=64, dropout=0.0, max_len=128, norm_first=True):
        super().__init__()
        self.src_embedding = Embedding(src_vocab, d_model)
        self.tgt_embedding = Embedding(tgt_vocab, d_model)
        self.positions = PositionalEncoding(d_model, dropout, max_len)
        self.transformer = Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward,
                                       dropout, norm_first=norm_first)
        self.out = Linear(d_model, tgt_vocab)
        self.last_alignment = None

    def encode(self, src, src_lengths):
        kpm = padding_mask(src_lengths, src.shape[0])
        x = self.positions(self.src_embedding(src))
        return self.transformer.encoder(x, src_key_padding_mask=kpm), kpm

    def decode(self, tgt_in, memory, kpm):
        T = tgt_in.shape[0]
        y = self.positions(self.tgt_embedding(tgt_in))
        h = self.transformer.decoder(y, memory, tgt_mask=Transformer.generate_square_subsequent_mask(T),
                                     memory_key_padding_mask=kpm)
        self.last_alignment = self.transformer.decoder.layers[-1].multihead_attn.last_weights.data.mean(1)
        with scope("out"):
            return self.out(h)

    def forward(self, src, src_lengths, tgt_in):
        src, tgt_in = np.asarray(src), np.asarray(tgt_in)
        memory, kpm = self.encode(src, src_lengths)
        return self.decode(tgt_in, memory, kpm)

    def greedy_decode(self, src, src_lengths, max_len=50):
        src = np.asarray(src)
        with no_grad():
            memory, kpm = self.encode(src, src_lengths)
            tokens = np.full((1, src.shape[1]), BOS)
            for _ in range(max_len):
                nxt = self.decode(tokens, memory, kpm).data[-1].argmax(-1)
                tokens = np.concatenate([tokens, nxt[None]])
                if (tokens == EOS).any(0).all():
                    break
        return _until_eos(tokens[1:].T)


def _until_eos(rows):
    """(B, T) predicted ids → B lists cut at the first EOS."""
    out = []
    for row in rows:
        row = list(row)
        out.append([int(i) for i in row[: row.index(EOS)]] if EOS in row else [int(i) for i in row])
    return out
