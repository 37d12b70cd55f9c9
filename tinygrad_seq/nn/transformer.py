"""The Transformer (Vaswani et al. 2017): attention without recurrence, with PyTorch's API and names.

A Transformer layer lets every position look at every other one through
multi-head self-attention, then transforms each position on its own with a
two-layer feed-forward network; residual connections and layer norm keep deep
stacks trainable.  Order is not built in: positional encodings added to the
embeddings tell the layers where each token sits.

    encoder layer (post-norm, the paper's and PyTorch's default):
        x = LayerNorm(x + SelfAttention(x))
        x = LayerNorm(x + FeedForward(x)),      FeedForward(x) = W_2 activation(W_1 x + b_1) + b_2
    decoder layer: self-attention (causal), then cross-attention to the encoder's output
        ("memory"), then the feed-forward block, each wrapped the same way.
    norm_first=True (pre-norm): x = x + Block(LayerNorm(x)), which trains more easily without warm-up.

Constructors, forward arguments and state-dict names are PyTorch's
(``layers.0.self_attn.in_proj_weight``, ``linear1.weight``, ``norm1.bias``, ...),
so ``load_state_dict(torch_layer.state_dict())`` gives the same outputs.
Shapes are sequence first, (S, N, E), unless ``batch_first=True``: (N, S, E).
"""

from __future__ import annotations

import copy
import math

import numpy as np

from ..autograd import located, scope, state
from ..creation import default_rng, relu
from ..functional import gelu
from ..tensor import Tensor, get_default_dtype
from .attention import MultiheadAttention, _linear
from .layers import Dropout, Embedding, LayerNorm, Linear
from .module import Module, ModuleList, Parameter

__all__ = [
    "PositionalEncoding", "LearnedPositionalEncoding", "TransformerEncoderLayer", "TransformerDecoderLayer",
    "TransformerEncoder", "TransformerDecoder", "Transformer", "gelu",
]


# --------------------------------------------------------------------------- activations


def _activation(activation):
    if callable(activation):
        return activation
    if activation == "relu":
        return relu  # a module-level function, not a lambda: the layer must pickle
    if activation == "gelu":
        return gelu
    raise ValueError(f"activation should be 'relu', 'gelu' or a callable, not {activation!r}")


# --------------------------------------------------------------------------- positional encodings


class PositionalEncoding(Module):
    """x + PE[position], then dropout, with the fixed sinusoids of Vaswani et al. (2017):

        PE[pos, 2i]   = sin(pos / 10000^(2i / d_model))
        PE[pos, 2i+1] = cos(pos / 10000^(2i / d_model))

    Each pair of dimensions is a rotation at its own frequency, so PE[pos + k] is a
    fixed linear function of PE[pos]: relative positions are easy to attend to.
    x: (S, N, d_model), or (N, S, d_model) with batch_first.  ``pe`` (max_len, d_model) is a buffer.
    """

    def __init__(self, d_model, dropout=0.1, max_len=5000, batch_first=False):
        super().__init__()
        pos = np.arange(max_len)[:, None]
        freq = np.exp(np.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = np.zeros((max_len, d_model))
        pe[:, 0::2] = np.sin(pos * freq)
        pe[:, 1::2] = np.cos(pos * freq)[:, : d_model // 2]
        self.register_buffer("pe", pe.astype(get_default_dtype()))
        self.dropout = Dropout(dropout)
        self.batch_first = batch_first

    def forward(self, x):
        S = x.shape[1] if self.batch_first else x.shape[0]
        if S > self.pe.shape[0]:
            raise ValueError(
                f"{located('PositionalEncoding', state.scope)}: sequence length {S} > max_len {self.pe.shape[0]}"
            )
        pe = self.pe.data[:S].astype(x.dtype)
        return self.dropout(x + (pe[None] if self.batch_first else pe[:, None]))


class LearnedPositionalEncoding(Module):
    """x + P[position], then dropout, with P a learned table (max_len, d_model) as in BERT and GPT.

    Learns whatever position code helps, but knows nothing of positions beyond max_len.
    """

    def __init__(self, d_model, dropout=0.1, max_len=512, batch_first=False):
        super().__init__()
        self.embedding = Embedding(max_len, d_model)
        self.embedding.weight = Parameter(self.embedding.weight.data * 0.02)  # small next to the token embeddings
        self.dropout = Dropout(dropout)
        self.batch_first, self.max_len = batch_first, max_len

    def forward(self, x):
        S = x.shape[1] if self.batch_first else x.shape[0]
        if S > self.max_len:
            raise ValueError(
                f"{located('LearnedPositionalEncoding', state.scope)}: sequence length {S} > max_len {self.max_len}"
            )
        p = self.embedding(np.arange(S))
        return self.dropout(x + (p.unsqueeze(0) if self.batch_first else p.unsqueeze(1)))


# --------------------------------------------------------------------------- layers


class TransformerEncoderLayer(Module):
    """Self-attention, then feed-forward, each with a residual and a layer norm (``nn.TransformerEncoderLayer``).

    forward(src (S, N, E), src_mask (S, S) = None, src_key_padding_mask (N, S) = None, is_causal=False) -> (S, N, E)
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        with scope("feed_forward"):
            return self.dropout2(_linear(self.linear2, self.dropout(self.activation(_linear(self.linear1, x)))))


class TransformerDecoderLayer(Module):
    """Causal self-attention, cross-attention to the encoder's memory, feed-forward (``nn.TransformerDecoderLayer``).

    forward(tgt (T, N, E), memory (S, N, E), tgt_mask (T, T), memory_mask (T, S),
            tgt_key_padding_mask (N, T), memory_key_padding_mask (N, S),
            tgt_is_causal=False, memory_is_causal=False) -> (T, N, E)
    The cross-attention's weights (``multihead_attn.last_weights``) are the decoder's alignment with the source.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        with scope("feed_forward"):
            return self.dropout3(_linear(self.linear2, self.dropout(self.activation(_linear(self.linear1, x)))))


# --------------------------------------------------------------------------- stacks


def _clones(layer, n):
    """n independent copies of a layer, all starting from its weights (as PyTorch's stacks do)."""
    return ModuleList([copy.deepcopy(layer) for _ in range(n)])


class TransformerEncoder(Module):
    """num_layers copies of an encoder layer, then an optional final norm (``nn.TransformerEncoder``).

    forward(src, mask=None, src_key_padding_mask=None, is_causal=None) -> like src.
    """

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """num_layers copies of a decoder layer, then an optional final norm (``nn.TransformerDecoder``)."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """Encoder and decoder stacks, each ending in a layer norm (``nn.Transformer``).

    forward(src (S, N, E), tgt (T, N, E), src_mask, tgt_mask, memory_mask,
            src_key_padding_mask, tgt_key_padding_mask, memory_key_padding_mask) -> (T, N, E)
    The decoder needs ``tgt_mask = Transformer.generate_square_subsequent_mask(T)`` (or tgt_is_causal=True)
    so that position t sees only the targets before it.  Embeddings and the output layer are the user's.
    Every matrix is re-initialised Glorot-uniform, as PyTorch does.
    """

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True):
        super().__init__()
        args = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                    layer_norm_eps=layer_norm_eps, batch_first=batch_first, norm_first=norm_first, bias=bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, **args)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, **args)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, norm)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        self._reset_parameters()

    def _reset_parameters(self):
        for p in self.parameters():
            if p.ndim > 1:
                fan_out, fan_in = p.shape[0], int(np.prod(p.shape[1:]))
                bound = math.sqrt(6 / (fan_in + fan_out))
                p.data = default_rng().uniform(-bound, bound, p.shape).astype(p.dtype)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        batch_axis = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[batch_axis] != tgt.shape[batch_axis]:
            raise ValueError(f"{located('Transformer', state.scope)}: src {src.shape} and tgt {tgt.shape} "
                             "have different batch sizes")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(f"{located('Transformer', state.scope)}: src {src.shape} and tgt {tgt.shape} "
                             f"must have d_model = {self.d_model} features")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, dtype=None):
        """(sz, sz) float mask: 0 on and below the diagonal, −inf above (position t may not see t' > t)."""
        dtype = get_default_dtype() if dtype is None else dtype
        return Tensor(np.triu(np.full((sz, sz), -np.inf, dtype=dtype), k=1))
