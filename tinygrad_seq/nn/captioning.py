"""Show, attend and tell (Xu et al. 2015): an LSTM that attends over a grid of image features while it writes.

An encoder turns the image into L annotation vectors a(1 … L), one per place of a grid, each
describing what is there.  The decoder writes the caption one word at a time; before each word it
looks at the grid, with attention, and takes in the part it needs now:

    grid:      a(i) = tanh(W_e x(i) + b_e + P(i))          x(i) the pixels of patch i, P(i) its place  (PatchEncoder)
    start:     h(0) = tanh(W_h ā + b_h),  c(0) = tanh(W_c ā + b_c),   ā = (1/L) Σ_i a(i)
    at step t: e(t, i) = v_aᵀ tanh(W_a h(t−1) + U_a a(i) + b_a)     the additive score (Bahdanau et al. 2015)
               α(t, ·) = softmax(e(t, ·))
               soft:  ẑ(t) = Σ_i α(t, i) a(i)                        the expected annotation
               hard:  ẑ(t) = a(s),  s ~ Categorical(α(t, ·))        one place, trained by REINFORCE
               none:  ẑ(t) = ā                                      no attention: the same summary at every step
               h(t), c(t) = LSTM([E y(t−1); ẑ(t)], (h(t−1), c(t−1)))
               o(t) = L_o tanh(E y(t−1) + L_h h(t) + L_z ẑ(t)) + b_o,   ŷ(t) = softmax(o(t))   (the deep output)

The words are token ids with PAD, BOS, EOS = 0, 1, 2, time major: tgt_in (T, N) starts with BOS.
``tinygrad_seq.captions`` makes a small data set of shapes to caption and trains these models.

    PatchEncoder     images (N, C, H, W) → annotations (N, L, D): no convolution, one linear map per patch
    CaptionDecoder   annotations (N, L, D), tgt_in (T, N) → logits (T, N, V); ``last_alignment`` (N, T, L)
    ShowAttendTell   the two together: images, tgt_in → logits; ``greedy_decode(images)``

Every stage runs in a scope of its own name (``encoder/patches``, ``decoder/init_state``, ``decoder/keys``
(U_a a(i), once per image), ``decoder/t=2/attention/softmax``, ``decoder/t=2/lstm/forget_gate``,
``decoder/t=2/deep_output``), so the graph draws as the figure of the paper.
"""

from __future__ import annotations

import numpy as np

from ..autograd import located, no_grad, scope, state
from ..creation import cat, default_rng, stack
from ..tensor import Tensor, get_default_dtype
from .attention import Attention, HardAttention, _linear
from .layers import Embedding, Linear
from .module import Module, Parameter
from .rnn import LSTMCell
from .seq2seq_attention import BOS, EOS

__all__ = ["PatchEncoder", "CaptionDecoder", "ShowAttendTell"]

ATTENTIONS = ("soft", "hard", None)


def _here(name):
    return located(name, state.scope)


class PatchEncoder(Module):
    """Cut an image into p × p patches and map each to a feature vector: the grid of annotations a(i).

    PatchEncoder(in_channels, patch_size, feature_size, grid_size, position=True)
        grid_size: (rows, columns) of patches, or one int for a square grid; the image is
        (rows·p) × (columns·p) pixels.
    a(i) = tanh(W_e x(i) + b_e + P(i)) with x(i) the C·p·p pixels of patch i (channel, then row, then column),
    patches numbered row by row (i = row · columns + column).  ``patch``: Linear(C·p·p, D) holds W_e, b_e;
    ``position`` (L, D) holds P, the learned code of each place (without it, ``position=False``, a patch's
    features say what is there but not where).

    forward(images (N, C, H, W)) -> (N, L, D)
    """

    def __init__(self, in_channels, patch_size, feature_size, grid_size, position=True):
        super().__init__()
        rows, cols = (grid_size, grid_size) if isinstance(grid_size, (int, np.integer)) else tuple(grid_size)
        self.in_channels, self.patch_size, self.feature_size = in_channels, patch_size, feature_size
        self.grid_size = (rows, cols)
        self.patch = Linear(in_channels * patch_size * patch_size, feature_size)
        if position:
            bound = 1 / np.sqrt(feature_size)
            self.position = Parameter(default_rng().uniform(-bound, bound, (rows * cols, feature_size))
                                      .astype(get_default_dtype()))
        else:
            self.position = None

    def forward(self, images):
        images = images if isinstance(images, Tensor) else Tensor(np.asarray(images, dtype=get_default_dtype()))
        (rows, cols), p, C = self.grid_size, self.patch_size, self.in_channels
        if images.ndim != 4 or images.shape[1:] != (C, rows * p, cols * p):
            raise ValueError(f"{_here('PatchEncoder')}: images must have shape (N, C, H, W) = "
                             f"(N, {C}, {rows * p}, {cols * p}), got {images.shape}")
        N = images.shape[0]
        with scope("patches"):
            x = images.reshape(N, C, rows, p, cols, p).permute(0, 2, 4, 1, 3, 5).reshape(N, rows * cols, C * p * p)
            x.name = "patches x"
        a = _linear(self.patch, x)
        if self.position is not None:
            a = a + self.position
        a = a.tanh()
        a.name = "annotations a"
        return a

    def extra_repr(self):
        return (f"in_channels={self.in_channels}, patch_size={self.patch_size}, feature_size={self.feature_size}, "
                f"grid_size={self.grid_size}, position={self.position is not None}")


class CaptionDecoder(Module):
    """The LSTM decoder of "show, attend and tell" over annotations (N, L, D) (equations: module docstring).

    CaptionDecoder(vocab_size, feature_size, embedding_dim=16, hidden_size=64, attention="soft",
                   attention_dim=None, cell="composite")
        attention: "soft", "hard" or None (no attention, the same sizes); attention_dim: d_a of the
        additive score (default hidden_size).
    Modules: ``embedding`` (E), ``init_h`` and ``init_c`` (W_h, W_c), ``attention`` (W_a, U_a, v_a),
    ``lstm`` (an LSTMCell on [E y; ẑ]), ``out_h`` (L_h), ``out_z`` (L_z, no bias), ``out`` (L_o, b_o).

    forward(features (N, L, D), tgt_in (T, N)) -> logits (T, N, vocab_size), teacher forced.
    After a forward: ``last_alignment`` (N, T, L), the weights α (for hard attention the distribution
    the places were drawn from); with hard attention ``last_log_prob`` (N, T), the tensor of
    log α(t, s(t)) of the places drawn, for REINFORCE (``nn.attention.reinforce_loss``).
    """

    def __init__(self, vocab_size, feature_size, embedding_dim=16, hidden_size=64, attention="soft",
                 attention_dim=None, cell="composite"):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"CaptionDecoder: attention must be one of {ATTENTIONS}, got {attention!r}")
        self.vocab_size, self.feature_size = vocab_size, feature_size
        self.attention_kind = attention
        self.embedding = Embedding(vocab_size, embedding_dim)
        self.init_h = Linear(feature_size, hidden_size)
        self.init_c = Linear(feature_size, hidden_size)
        if attention is None:
            self.attention = None
        else:
            kind = Attention if attention == "soft" else HardAttention
            self.attention = kind("additive", query_dim=hidden_size, key_dim=feature_size,
                                  hidden_dim=attention_dim or hidden_size)
        self.lstm = LSTMCell(embedding_dim + feature_size, hidden_size, cell=cell)
        self.out_h = Linear(hidden_size, embedding_dim)
        self.out_z = Linear(feature_size, embedding_dim, bias=False)
        self.out = Linear(embedding_dim, vocab_size)
        self.last_alignment = self.last_log_prob = None

    def start(self, features):
        """(h(0), c(0)) from the mean annotation ā, and what every step needs: the grid, ā, U_a a(i)."""
        if features.ndim != 3 or features.shape[-1] != self.feature_size:
            raise ValueError(f"{_here('CaptionDecoder')}: features must have shape (N, L, {self.feature_size}), "
                             f"got {features.shape}")
        with scope("init_state"):
            mean = features.mean(1)
            mean.name = "mean annotation"
            h, c = self.init_h(mean).tanh(), self.init_c(mean).tanh()
        projected = None
        if self.attention is not None:
            with scope("keys"):
                projected = self.attention.score.project_keys(features)  # U_a a(i) + b_a: once, not once per step
        return (h, c), (features, mean, projected)

    def step(self, y_emb, hc, memory, t):
        """E y(t−1) (N, m), (h(t−1), c(t−1)) → logits o(t) (N, V), (h(t), c(t)), α(t) (N, L) or None, log α(t, s)."""
        features, mean, projected = memory
        h, c = hc
        log_prob = None
        with scope(f"t={t}"):
            if self.attention is None:
                z, alpha = mean, None
            else:
                z, alpha = self.attention(h, features, projected_keys=projected)
                if self.attention_kind == "hard":
                    log_prob = self.attention.last_log_prob[:, 0]
                    alpha = self.attention.last_probs[:, 0]
                else:
                    alpha = alpha.data
            z.name = "z"
            h, c = self.lstm(cat([y_emb, z], -1), (h, c))
            with scope("deep_output"):
                logits = self.out((y_emb + self.out_h(h) + self.out_z(z)).tanh())
        return logits, (h, c), alpha, log_prob

    def forward(self, features, tgt_in):
        tgt_in = _ids(tgt_in)
        if tgt_in.ndim != 2 or tgt_in.shape[1] != features.shape[0]:
            raise ValueError(f"{_here('CaptionDecoder')}: tgt_in must be (T, N) with N = {features.shape[0]} "
                             f"images, got shape {tgt_in.shape}")
        hc, memory = self.start(features)
        embedded = self.embedding(tgt_in)  # (T, N, m)
        logits, alphas, log_probs = [], [], []
        for t in range(tgt_in.shape[0]):
            o, hc, alpha, log_prob = self.step(embedded[t], hc, memory, t)
            logits.append(o)
            alphas.append(alpha)
            log_probs.append(log_prob)
        self._keep(alphas, log_probs)
        return stack(logits)

    def _keep(self, alphas, log_probs):
        self.last_alignment = None if alphas[0] is None else np.stack(alphas, 1)
        self.last_log_prob = None if log_probs[0] is None else stack(log_probs, 1)

    def greedy_decode(self, features, max_len=20):
        """Feed back the most likely word until EOS: a list of N token lists (without EOS)."""
        with no_grad():
            hc, memory = self.start(features)
            token = np.full(features.shape[0], BOS)
            steps, alphas, log_probs = [], [], []
            for t in range(max_len):
                o, hc, alpha, log_prob = self.step(self.embedding(token), hc, memory, t)
                token = o.data.argmax(-1)
                steps.append(token)
                alphas.append(alpha)
                log_probs.append(log_prob)
                if (np.stack(steps) == EOS).any(0).all():
                    break
            self._keep(alphas, log_probs)
        out = []
        for row in np.stack(steps, 1):
            row = [int(i) for i in row]
            out.append(row[: row.index(EOS)] if EOS in row else row)
        return out

    def extra_repr(self):
        return f"vocab_size={self.vocab_size}, feature_size={self.feature_size}, attention={self.attention_kind!r}"


class ShowAttendTell(Module):
    """PatchEncoder + CaptionDecoder: images (N, C, H, W) and tgt_in (T, N) → logits (T, N, vocab_size).

    ShowAttendTell(vocab_size, in_channels=3, patch_size=10, grid_size=4, feature_size=64, embedding_dim=16,
                   hidden_size=64, attention="soft", attention_dim=None, position=True, cell="composite")
    ``last_alignment`` (N, T, L) and ``last_log_prob`` are the decoder's; ``greedy_decode(images, max_len)``
    returns N token lists.
    """

    def __init__(self, vocab_size, in_channels=3, patch_size=10, grid_size=4, feature_size=64, embedding_dim=16,
                 hidden_size=64, attention="soft", attention_dim=None, position=True, cell="composite"):
        super().__init__()
        self.encoder = PatchEncoder(in_channels, patch_size, feature_size, grid_size, position)
        self.decoder = CaptionDecoder(vocab_size, feature_size, embedding_dim, hidden_size, attention,
                                      attention_dim, cell)

    @property
    def last_alignment(self):
        return self.decoder.last_alignment

    @property
    def last_log_prob(self):
        return self.decoder.last_log_prob

    def forward(self, images, tgt_in):
        return self.decoder(self.encoder(images), tgt_in)

    def greedy_decode(self, images, max_len=20):
        with no_grad():
            return self.decoder.greedy_decode(self.encoder(images), max_len)


def _ids(x):
    return np.asarray(x.data if isinstance(x, Tensor) else x)
