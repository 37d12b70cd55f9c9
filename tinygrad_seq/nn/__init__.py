"""Layers built on the engine, with PyTorch's names, arguments and parameter shapes.

    module.py, layers.py      Module, Parameter, Sequential, ModuleList; Linear, LazyLinear, Identity, Flatten,
                              Embedding, Dropout, LayerNorm; to_torch_state_dict / from_torch_state_dict
    activation.py, loss.py    the module forms of functional: ReLU, Tanh, Sigmoid, GELU, Softmax, LogSoftmax;
                              NLLLoss, CrossEntropyLoss, MSELoss
    init.py, utils.py         initialisers (PyTorch's in-place ones too); clip_grad_norm_, clip_grad_value_
    rnn.py, fused.py          RNN, LSTM, GRU and their cells, op by op or fused
    variants.py               the lecture's variants: peephole and coupled LSTM, leaky, time-skip, clockwork,
                              deep (residual) RNNs, the echo state network
    deep.py                   deep transition and deep output RNNs (Pascanu et al. 2014), the depth-gated LSTM,
                              the dilated RNN (no length-one connections)
    patterns.py               the design patterns: many-to-one, one-to-many (x at every step or in h(0)),
                              taggers, output-to-hidden recurrence, seq2seq
    attention.py              score functions, global / local / hard attention, MultiheadAttention
    transformer.py            positional encodings, encoder and decoder layers and stacks, Transformer
    seq2seq_attention.py      the bidirectional-encoder, attention-decoder translator
    captioning.py             show, attend and tell: a patch encoder and an LSTM that attends over its grid

``nn.functional`` is ``tinygrad_seq.functional``, as ``torch.nn.functional`` is reachable from ``torch.nn``.
"""

import sys

from .. import functional
from . import init, patterns, utils
from .activation import GELU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
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
from .deep import DeepOutputRNN, DeepTransitionRNN, DepthGatedLSTM, DilatedRNN
from .layers import Dropout, Embedding, Flatten, Identity, LayerNorm, LazyLinear, Linear
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, ModuleList, Parameter, Sequential, from_torch_state_dict, to_torch_state_dict
from .patterns import (
    AutonomousRNN,
    BidirectionalTagger,
    OneToMany,
    OutputToHiddenRNN,
    Seq2Seq,
    SequenceClassifier,
    SequenceTagger,
)
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

sys.modules[__name__ + ".functional"] = functional  # `import tinygrad_seq.nn.functional as F` works too

__all__ = [
    "init", "patterns", "functional", "utils", "to_torch_state_dict", "from_torch_state_dict",
    "Identity", "Flatten", "LazyLinear", "ReLU", "Tanh", "Sigmoid", "GELU", "Softmax", "LogSoftmax",
    "NLLLoss", "CrossEntropyLoss", "MSELoss",
    "Module", "ModuleList", "Parameter", "Sequential", "Linear", "Embedding", "Dropout", "LayerNorm",
    "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU",
    "PeepholeLSTM", "CoupledLSTM", "LeakyRNN", "TimeSkipRNN", "ClockworkRNN", "DeepRNN", "EchoStateNetwork",
    "SequenceClassifier", "OneToMany", "SequenceTagger", "BidirectionalTagger", "Seq2Seq",
    "Score", "DotScore", "ScaledDotScore", "GeneralScore", "AdditiveScore", "LocationScore", "CosineScore",
    "Attention", "LocalAttention", "HardAttention", "MultiheadAttention",
    "PositionalEncoding", "LearnedPositionalEncoding", "TransformerEncoderLayer", "TransformerDecoderLayer",
    "TransformerEncoder", "TransformerDecoder", "Transformer", "AttentionSeq2Seq", "TransformerSeq2Seq",
    "OutputToHiddenRNN", "AutonomousRNN",
    "DeepTransitionRNN", "DeepOutputRNN", "DepthGatedLSTM", "DilatedRNN",
    "PatchEncoder", "CaptionDecoder", "ShowAttendTell",
]
