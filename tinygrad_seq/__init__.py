"""tinygrad_seq: a small reverse-mode autograd engine on numpy, for learning sequence models.

    >>> import tinygrad_seq as tg
    >>> x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])

Layers: the engine (``autograd``: the walk, grad modes and scopes; ``tensor``:
Function and Tensor; ``ops``: the table of derivatives; ``creation``: making
tensors; ``gradcheck``), then ``functional``, ``nn``, ``optim``, ``data``,
``bptt`` built on it.  Only numpy is required.
"""

import numpy as np

from . import functional
from .autograd import (
    current_scope,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    scope,
    set_grad_enabled,
)
from .creation import (
    abs,
    arange,
    cat,
    chunk,
    clip,
    concatenate,
    exp,
    eye,
    full,
    log,
    log_softmax,
    logsumexp,
    manual_seed,
    matmul,
    maximum,
    minimum,
    ones,
    ones_like,
    rand,
    randn,
    relu,
    sigmoid,
    softmax,
    split,
    sqrt,
    stack,
    tanh,
    tensor,
    where,
    zeros,
    zeros_like,
)
from .gradcheck import gradcheck, gradgradcheck
from .tensor import Function, Tensor, as_tensor, get_default_dtype, grad, set_default_dtype

# dtype names as in PyTorch (tg.zeros(3, dtype=tg.float64)); they are numpy's dtypes
float32, float64, int64 = np.float32, np.float64, np.int64

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Function", "tensor", "as_tensor", "zeros", "ones", "full", "arange", "eye", "randn", "rand",
    "zeros_like", "ones_like", "manual_seed", "set_default_dtype", "get_default_dtype", "float32", "float64", "int64",
    "matmul", "cat", "concatenate", "stack", "split", "chunk", "where", "maximum", "minimum", "clip",
    "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "softmax", "log_softmax", "logsumexp",
    "grad", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "scope", "current_scope", "detect_anomaly",
    "gradcheck", "gradgradcheck", "functional",
]
