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

from . import functional, memory  # noqa: F401  (memory: keeps freed array memory for reuse; see memory.py)
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
    FloatTensor,
    LongTensor,
    abs,
    arange,
    argmax,
    bmm,
    cat,
    chunk,
    clip,
    concatenate,
    cos,
    cosh,
    empty,
    exp,
    eye,
    flatten,
    full,
    linspace,
    log,
    log_softmax,
    logsumexp,
    manual_seed,
    matmul,
    max,
    maximum,
    mean,
    meshgrid,
    min,
    minimum,
    narrow,
    normal,
    ones,
    ones_like,
    permute,
    pow,
    rand,
    randn,
    relu,
    repeat_interleave,
    reshape,
    sigmoid,
    sin,
    sinh,
    softmax,
    split,
    sqrt,
    squeeze,
    stack,
    sum,
    t,
    tanh,
    tensor,
    topk,
    transpose,
    tril,
    triu,
    unsqueeze,
    where,
    zeros,
    zeros_like,
)
from .gradcheck import gradcheck, gradgradcheck
from .tensor import Device, Function, Size, Tensor, as_tensor, device, get_default_dtype, grad, set_default_dtype

# dtype names as in PyTorch (tg.zeros(3, dtype=tg.float64)); they are numpy's dtypes
float32, float64, int64, int32 = np.float32, np.float64, np.int64, np.int32
float, double, long, int, bool = np.float32, np.float64, np.int64, np.int32, np.bool_  # noqa: A001


class cuda:  # noqa: N801  (a namespace, as torch.cuda)
    """There is no GPU here: ``tg.cuda.is_available()`` is False, so PyTorch code picks the CPU."""

    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def device_count() -> int:
        return 0


def __getattr__(name):
    # tg.nn, tg.optim, ... without importing them first, as torch.nn works after `import torch`
    if name in ("nn", "optim", "bptt", "data", "lm", "train", "tasks", "translation", "checkpoint"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    if name in ("save", "load"):  # tg.save(model.state_dict(), "m.npz"), as torch.save (defined in checkpoint.py)
        from . import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(f"module 'tinygrad_seq' has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Function", "tensor", "as_tensor", "zeros", "ones", "full", "arange", "eye", "randn", "rand",
    "zeros_like", "ones_like", "manual_seed", "set_default_dtype", "get_default_dtype", "float32", "float64", "int64",
    "matmul", "cat", "concatenate", "stack", "split", "chunk", "where", "maximum", "minimum", "clip",
    "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "softmax", "log_softmax", "logsumexp",
    "grad", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "scope", "current_scope", "detect_anomaly",
    "gradcheck", "gradgradcheck", "functional", "int32",
    # PyTorch's names for PyTorch programs
    "float", "double", "long", "int", "bool", "device", "Device", "cuda", "Size", "LongTensor", "FloatTensor",
    "sin", "cos", "sinh", "cosh", "pow", "bmm", "tril", "triu", "repeat_interleave", "empty", "linspace",
    "meshgrid", "normal", "sum", "mean", "max", "min", "argmax", "topk", "reshape", "flatten", "squeeze",
    "unsqueeze", "transpose", "permute", "narrow", "t",
]
