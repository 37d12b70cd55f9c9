"""Making tensors, and the function forms of Tensor's methods, as in ``torch``.

    tg.tensor([1.0, 2.0])          a copy of the data            tg.zeros(2, 3), tg.ones, tg.full, tg.eye, tg.arange
    tg.randn(2, 3), tg.rand         from the generator that ``manual_seed`` seeds (also used by init and dropout)
    tg.cat, tg.stack                join tensors                  tg.exp(x), tg.matmul(a, b), ...: x.exp(), a @ b

Python floats become the default dtype (float32 unless ``set_default_dtype``
says otherwise), as in PyTorch.
"""

from __future__ import annotations

import numpy as np

from . import ops
from .autograd import located, state
from .tensor import Tensor, _shape_arg, as_tensor, get_default_dtype

# --------------------------------------------------------------------------- random numbers

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator behind randn, rand, dropout and the initialisers."""
    global _rng
    _rng = np.random.default_rng(seed)


def default_rng() -> np.random.Generator:
    """The generator that ``manual_seed`` seeded (read it at each use: ``manual_seed`` replaces it)."""
    return _rng


# --------------------------------------------------------------------------- new tensors


def tensor(data, requires_grad=False, dtype=None, name=None) -> Tensor:
    """Make a tensor (a copy of ``data``), as ``torch.tensor``."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)  # Tensor copies the caller's array


def _float_dtype(dtype):
    return get_default_dtype() if dtype is None else np.dtype(dtype)


def zeros(*shape, dtype=None, requires_grad=False) -> Tensor:
    return Tensor._wrap(np.zeros(_shape_arg(shape), _float_dtype(dtype)), requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad=False) -> Tensor:
    return Tensor._wrap(np.ones(_shape_arg(shape), _float_dtype(dtype)), requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, requires_grad=False) -> Tensor:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return Tensor._wrap(np.full(shape, fill_value, _float_dtype(dtype)), requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False) -> Tensor:
    return Tensor._wrap(np.zeros_like(np.asarray(t), dtype=dtype), requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False) -> Tensor:
    return Tensor._wrap(np.ones_like(np.asarray(t), dtype=dtype), requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None) -> Tensor:
    if end is None:
        start, end = 0, start
    arr = np.arange(start, end, step)
    if dtype is not None:
        arr = arr.astype(dtype)
    elif arr.dtype == np.float64:
        arr = arr.astype(get_default_dtype())
    return Tensor._wrap(arr)


def eye(n, m=None, dtype=None, requires_grad=False) -> Tensor:
    return Tensor._wrap(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad=requires_grad)


def randn(*shape, dtype=None, requires_grad=False) -> Tensor:
    """Standard normal samples from the generator seeded by ``manual_seed``."""
    samples = _rng.standard_normal(_shape_arg(shape)).astype(_float_dtype(dtype))
    return Tensor._wrap(samples, requires_grad=requires_grad)


def rand(*shape, dtype=None, requires_grad=False) -> Tensor:
    """Uniform samples on [0, 1) from the generator seeded by ``manual_seed``."""
    return Tensor._wrap(_rng.random(_shape_arg(shape)).astype(_float_dtype(dtype)), requires_grad=requires_grad)


# --------------------------------------------------------------------------- joining tensors


def cat(tensors, dim=0) -> Tensor:
    """Join tensors along an existing dim (``torch.cat``)."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat needs at least one tensor")
    return ops.Cat.apply(*tensors, axis=dim)


concatenate = cat


def stack(tensors, dim=0) -> Tensor:
    """Join same-shaped tensors along a new dim (``torch.stack``)."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"{located('stack', state.scope)}: all tensors need the same shape, got {sorted(shapes)}")
    return ops.Stack.apply(*tensors, axis=dim)


# --------------------------------------------------------------------------- function forms of Tensor's methods


def matmul(a, b) -> Tensor:
    return as_tensor(a).matmul(b)


def where(condition, x, y) -> Tensor:
    """``x`` where condition holds, else ``y``; the condition carries no gradient."""
    return ops.Where.apply(x, y, cond=np.asarray(condition, dtype=bool))


def maximum(a, b) -> Tensor:
    return ops.Maximum.apply(a, b)


def minimum(a, b) -> Tensor:
    return ops.Minimum.apply(a, b)


def clip(x, min=None, max=None) -> Tensor:
    return as_tensor(x).clip(min, max)


def split(t, split_size_or_sections, dim=0):
    return t.split(split_size_or_sections, dim)


def chunk(t, chunks, dim=0):
    return t.chunk(chunks, dim)


def exp(x):
    return as_tensor(x).exp()


def log(x):
    return as_tensor(x).log()


def tanh(x):
    return as_tensor(x).tanh()


def sigmoid(x):
    return as_tensor(x).sigmoid()


def relu(x):
    return as_tensor(x).relu()


def sqrt(x):
    return as_tensor(x).sqrt()


def abs(x):  # torch.abs (this module never needs the builtin it shadows)
    return as_tensor(x).abs()


def softmax(x, dim=-1):
    return as_tensor(x).softmax(dim)


def log_softmax(x, dim=-1):
    return as_tensor(x).log_softmax(dim)


def logsumexp(x, dim=-1, keepdim=False):
    return as_tensor(x).logsumexp(dim, keepdim)
