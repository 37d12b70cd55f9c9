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
from .tensor import MinMax, Tensor, _shape_arg, as_tensor, get_default_dtype
from .tensor import device as _device

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


def tensor(data, requires_grad=False, dtype=None, name=None, device=None) -> Tensor:
    """Make a tensor (a copy of ``data``), as ``torch.tensor``."""
    _device(device)
    if dtype is None and isinstance(data, (list, tuple)):  # ints stay ints (Tensor(list) makes floats)
        try:
            inferred = np.asarray(data).dtype
        except (ValueError, TypeError):
            inferred = None  # ragged, or not numbers: Tensor says what is wrong
        dtype = inferred if inferred is not None and inferred.kind in "biu" else None
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)  # Tensor copies the caller's array


def _float_dtype(dtype, device=None):
    _device(device)  # the CPU, or an error saying so (PyTorch code passes device= everywhere)
    return get_default_dtype() if dtype is None else np.dtype(dtype)


def zeros(*shape, dtype=None, requires_grad=False, device=None) -> Tensor:
    return Tensor._wrap(np.zeros(_shape_arg(shape), _float_dtype(dtype, device)), requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad=False, device=None) -> Tensor:
    return Tensor._wrap(np.ones(_shape_arg(shape), _float_dtype(dtype, device)), requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, requires_grad=False, device=None) -> Tensor:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return Tensor._wrap(np.full(shape, fill_value, _float_dtype(dtype, device)), requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False, device=None) -> Tensor:
    _device(device)
    return Tensor._wrap(np.zeros_like(np.asarray(t), dtype=dtype), requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False, device=None) -> Tensor:
    _device(device)
    return Tensor._wrap(np.ones_like(np.asarray(t), dtype=dtype), requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None) -> Tensor:
    _device(device)
    if end is None:
        start, end = 0, start
    arr = np.arange(start, end, step)
    if dtype is not None:
        arr = arr.astype(dtype)
    elif arr.dtype == np.float64:
        arr = arr.astype(get_default_dtype())
    return Tensor._wrap(arr)


def eye(n, m=None, dtype=None, requires_grad=False, device=None) -> Tensor:
    return Tensor._wrap(np.eye(n, m, dtype=_float_dtype(dtype, device)), requires_grad=requires_grad)


def randn(*shape, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Standard normal samples from the generator seeded by ``manual_seed``."""
    samples = _rng.standard_normal(_shape_arg(shape)).astype(_float_dtype(dtype, device))
    return Tensor._wrap(samples, requires_grad=requires_grad)


def rand(*shape, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Uniform samples on [0, 1) from the generator seeded by ``manual_seed``."""
    return Tensor._wrap(_rng.random(_shape_arg(shape)).astype(_float_dtype(dtype, device)), requires_grad=requires_grad)


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


def sin(x):
    return as_tensor(x).sin()


def cos(x):
    return as_tensor(x).cos()


def sinh(x):
    return as_tensor(x).sinh()


def cosh(x):
    return as_tensor(x).cosh()


def pow(x, exponent):  # torch.pow (shadows the builtin only inside this module, which never needs it)
    return as_tensor(x) ** exponent


def bmm(a, b) -> Tensor:
    """Batched matrix product of (B, n, m) and (B, m, p), as ``torch.bmm``."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ValueError(f"{located('bmm', state.scope)}: needs (B, n, m) and (B, m, p); got {a.shape} and {b.shape}")
    return a.matmul(b)


def tril(x, diagonal=0) -> Tensor:
    """The lower triangle of the last two dims (the rest zero); the gradient is masked the same way."""
    x = as_tensor(x)
    keep = np.tri(x.shape[-2], x.shape[-1], diagonal, dtype=bool)
    return ops.Where.apply(x, 0.0, cond=keep)


def triu(x, diagonal=0) -> Tensor:
    x = as_tensor(x)
    keep = ~np.tri(x.shape[-2], x.shape[-1], diagonal - 1, dtype=bool)
    return ops.Where.apply(x, 0.0, cond=keep)


def repeat_interleave(x, repeats, dim=None) -> Tensor:
    """Each entry repeated ``repeats`` times along ``dim`` (of the flattened tensor if None)."""
    x = as_tensor(x)
    if dim is None:
        x, dim = x.reshape(-1), 0
    dim = dim % x.ndim
    index = np.repeat(np.arange(x.shape[dim]), np.asarray(repeats))
    return x[(slice(None),) * dim + (index,)]


def empty(*shape, dtype=None, requires_grad=False, device=None) -> Tensor:
    """As ``torch.empty``; the values are zeros here (numpy's uninitialised memory would only confuse)."""
    return zeros(*shape, dtype=dtype, requires_grad=requires_grad, device=device)


def linspace(start, end, steps, dtype=None, device=None) -> Tensor:
    return Tensor._wrap(np.linspace(start, end, steps).astype(_float_dtype(dtype, device)))


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids, as ``torch.meshgrid`` (``indexing="ij"`` by default, as PyTorch's)."""
    tensors = [as_tensor(t) for t in (tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple))
                                      else tensors)]
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if indexing == "xy" and len(tensors) >= 2:
        tensors = [tensors[1], tensors[0], *tensors[2:]]
    shape = tuple(len(t) for t in tensors)
    grids = []
    for i, t in enumerate(tensors):
        view = [1] * len(tensors)
        view[i] = len(t)
        grids.append(t.reshape(view).expand(shape))
    if indexing == "xy" and len(grids) >= 2:
        grids = [g.transpose(0, 1) for g in (grids[1], grids[0], *grids[2:])]
    return tuple(grids)


def normal(mean, std, size=None) -> Tensor:
    """Samples of N(mean, std²) from the seeded generator; ``mean``/``std`` numbers (with ``size``) or tensors."""
    if size is not None:
        return randn(*_shape_arg((size,))) * std + mean
    shape = np.broadcast_shapes(np.shape(np.asarray(mean)), np.shape(np.asarray(std)))
    return randn(*shape, dtype=np.result_type(np.asarray(mean), np.asarray(std), get_default_dtype())) * std + mean


def LongTensor(*data) -> Tensor:  # noqa: N802  (PyTorch's legacy constructors)
    """``LongTensor([1, 2])``: int64 data; ``LongTensor(2, 3)``: zeros of that shape."""
    return _legacy(data, np.int64)


def FloatTensor(*data) -> Tensor:  # noqa: N802
    return _legacy(data, np.float32)


def _legacy(data, dtype):
    if all(isinstance(n, int) and not isinstance(n, bool) for n in data):
        return Tensor._wrap(np.zeros(data, dtype))
    if len(data) != 1:
        raise TypeError(f"expected one sequence of values or integer sizes, got {data!r}")
    return Tensor(data[0], dtype=dtype)


# function forms of the shape and reduction methods: tg.sum(x, 1) is x.sum(1), as torch.sum


def sum(x, dim=None, keepdim=False):  # noqa: A001
    return as_tensor(x).sum(dim, keepdim)


def mean(x, dim=None, keepdim=False):
    return as_tensor(x).mean(dim, keepdim)


def max(x, dim=None, keepdim=False):  # noqa: A001
    return as_tensor(x).max(dim, keepdim)


def min(x, dim=None, keepdim=False):  # noqa: A001
    return as_tensor(x).min(dim, keepdim)


def argmax(x, dim=None, keepdim=False):
    return as_tensor(x).argmax(dim, keepdim)


def topk(x, k, dim=-1, largest=True, sorted=True) -> MinMax:
    return as_tensor(x).topk(k, dim, largest, sorted)


def reshape(x, shape):
    return as_tensor(x).reshape(shape)


def flatten(x, start_dim=0, end_dim=-1):
    return as_tensor(x).flatten(start_dim, end_dim)


def squeeze(x, dim=None):
    return as_tensor(x).squeeze(dim)


def unsqueeze(x, dim):
    return as_tensor(x).unsqueeze(dim)


def transpose(x, dim0, dim1):
    return as_tensor(x).transpose(dim0, dim1)


def permute(x, dims):
    return as_tensor(x).permute(dims)


def narrow(x, dim, start, length):
    return as_tensor(x).narrow(dim, start, length)


def t(x):
    return as_tensor(x).t()
