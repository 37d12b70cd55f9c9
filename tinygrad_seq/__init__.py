"""tinygrad_seq: a small reverse-mode autograd engine on numpy, for learning sequence models.

    >>> import tinygrad_seq as tg
    >>> x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])

Layers: ``tensor``/``autograd``/``ops`` (the engine), ``functional``, then
``nn``, ``optim``, ``data``, ``bptt`` built on it.  Only numpy is required.
"""

import numpy as np

from . import functional
from .autograd import (
    current_scope,
    detect_anomaly,
    enable_grad,
    gradcheck,
    gradgradcheck,
    is_grad_enabled,
    no_grad,
    scope,
)
from .tensor import (
    Function,
    Tensor,
    abs,
    arange,
    cat,
    chunk,
    clip,
    concatenate,
    exp,
    eye,
    full,
    get_default_dtype,
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
    set_default_dtype,
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


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned instead of stored in ``.grad``.

    As ``torch.autograd.grad``: ``outputs`` a tensor or a sequence, ``grad_outputs``
    the vectors of the vector-Jacobian products (ones for scalar outputs).
    With ``create_graph=True`` the result can be differentiated again.
    """
    from .autograd import run_backward

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(f"grad: an input (shape {t.shape}, name {t.name!r}) does not require grad")
    seeds = []
    for o, g in zip(outputs, grad_outputs):
        if not o.requires_grad:
            raise RuntimeError(f"grad: an output (shape {o.shape}) does not require grad")
        if g is None:
            if o.numel() != 1:
                raise RuntimeError(f"grad: output of shape {o.shape} is not a scalar; pass grad_outputs")
            g = Tensor(np.ones_like(o.data))
        seeds.append(g if isinstance(g, Tensor) else Tensor(g))
    retain = create_graph if retain_graph is None else retain_graph
    grads = run_backward(
        outputs, seeds, retain_graph=retain, create_graph=create_graph, inputs=inputs, allow_unused=allow_unused
    )
    return tuple(grads)


# dtype names as in PyTorch (tg.zeros(3, dtype=tg.float64)); they are numpy's dtypes
float32, float64, int64 = np.float32, np.float64, np.int64

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Function", "tensor", "zeros", "ones", "full", "arange", "eye", "randn", "rand", "zeros_like",
    "ones_like", "manual_seed", "set_default_dtype", "get_default_dtype", "float32", "float64", "int64",
    "matmul", "cat", "concatenate", "stack", "split", "chunk", "where", "maximum", "minimum", "clip",
    "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "softmax", "log_softmax", "logsumexp",
    "grad", "no_grad", "enable_grad", "is_grad_enabled", "scope", "current_scope", "detect_anomaly",
    "gradcheck", "gradgradcheck", "functional",
]
