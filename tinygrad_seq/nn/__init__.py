"""Layers built on the engine, with PyTorch's names, arguments and parameter shapes.

    module.py, layers.py      Module, Parameter, Sequential, ModuleList; Linear, Embedding, Dropout, LayerNorm
    rnn.py, fused.py          RNN, LSTM, GRU and their cells, op by op or fused
    variants.py               the lecture's variants: peephole and coupled LSTM, leaky, time-skip, clockwork,
                              deep (residual) RNNs, the echo state network
    patterns.py               the design patterns: many-to-one, one-to-many, taggers, seq2seq
    attention.py              score functions, global / local / hard attention, MultiheadAttention
    transformer.py            positional encodings, encoder and decoder layers and stacks, Transformer
    seq2seq_attention.py      the bidirectional-encoder, attention-decoder translator
    captioning.py             show, attend and tell: a patch encoder and an LSTM that attends over its grid
"""

from . import init, patterns
from .attention import (
    AdditiveScore,
    Attention,
    CosineScore,
    DotScore,
    GeneralScore,
    HardAttention,
    LocalAttention,
    LocationScore,
    MultiheadAttention,
    ScaledDotScore,
    Score,
)
from .captioning import CaptionDecoder, PatchEncoder, ShowAttendTell
from .layers import Dropout, Embedding, LayerNorm, Linear
from .module import Module, ModuleList, Parameter, Sequential
from .patterns import BidirectionalTagger, OneToMany, Seq2Seq, SequenceClassifier, SequenceTagger
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .seq2seq_attention import AttentionSeq2Seq, TransformerSeq2Seq
from .transformer import (
    LearnedPositionalEncoding,
    PositionalEncoding,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from .variants import ClockworkRNN, CoupledLSTM, DeepRNN, EchoStateNetwork, LeakyRNN, PeepholeLSTM, TimeSkipRNN

__all__ = [
    "init", "patterns",
    "Module", "ModuleList", "Parameter", "Sequential", "Linear", "Embedding", "Dropout", "LayerNorm",
    "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU",
    "PeepholeLSTM", "CoupledLSTM", "LeakyRNN", "TimeSkipRNN", "ClockworkRNN", "DeepRNN", "EchoStateNetwork",
    "SequenceClassifier", "OneToMany", "SequenceTagger", "BidirectionalTagger", "Seq2Seq",
    "Score", "DotScore", "ScaledDotScore", "GeneralScore", "AdditiveScore", "LocationScore", "CosineScore",
    "Attention", "LocalAttention", "HardAttention", "MultiheadAttention",
    "PositionalEncoding", "LearnedPositionalEncoding", "TransformerEncoderLayer", "TransformerDecoderLayer",
    "TransformerEncoder", "TransformerDecoder", "Transformer", "AttentionSeq2Seq", "TransformerSeq2Seq",
    "PatchEncoder", "CaptionDecoder", "ShowAttendTell",
]
