"""Layers built on the engine, with PyTorch's names, arguments and parameter shapes."""

from . import init  # noqa: F401
from .layers import Dropout, Embedding, LayerNorm, Linear
from .module import Module, ModuleList, Parameter, Sequential

__all__ = ["Module", "ModuleList", "Parameter", "Sequential", "Linear", "Embedding", "Dropout", "LayerNorm"]

from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: E402

__all__ += ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]

from .attention import (  # noqa: E402
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
from .transformer import (  # noqa: E402
    LearnedPositionalEncoding,
    PositionalEncoding,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ += [
    "Score", "DotScore", "ScaledDotScore", "GeneralScore", "AdditiveScore", "LocationScore", "CosineScore",
    "Attention", "LocalAttention", "HardAttention", "MultiheadAttention",
    "PositionalEncoding", "LearnedPositionalEncoding", "TransformerEncoderLayer", "TransformerDecoderLayer",
    "TransformerEncoder", "TransformerDecoder", "Transformer",
]

from .variants import (  # noqa: E402
    ClockworkRNN,
    CoupledLSTM,
    DeepRNN,
    EchoStateNetwork,
    LeakyRNN,
    PeepholeLSTM,
    TimeSkipRNN,
)

__all__ += ["PeepholeLSTM", "CoupledLSTM", "LeakyRNN", "TimeSkipRNN", "ClockworkRNN", "DeepRNN", "EchoStateNetwork"]

from . import patterns  # noqa: E402, F401  (nn.patterns.Encoder, nn.patterns.Decoder, ...)
from .patterns import BidirectionalTagger, OneToMany, Seq2Seq, SequenceClassifier, SequenceTagger  # noqa: E402

__all__ += ["SequenceClassifier", "OneToMany", "SequenceTagger", "BidirectionalTagger", "Seq2Seq"]

from .seq2seq_attention import AttentionSeq2Seq, TransformerSeq2Seq  # noqa: E402

__all__ += ["AttentionSeq2Seq", "TransformerSeq2Seq"]
