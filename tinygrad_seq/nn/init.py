"""Initialisers, from the seeded generator (``manual_seed``).

Two forms.  The layers use the array-returning ones, which make the values of a new parameter:

    uniform(shape, fan_in)     U(−1/√fan_in, 1/√fan_in), PyTorch's default for Linear and recurrent layers
    normal(shape, std)         N(0, std²)
    orthogonal(n, gain)        a random n×n orthogonal matrix times gain

PyTorch programs use ``torch.nn.init``'s in-place forms, which overwrite an existing tensor
(outside the graph, as under ``no_grad``) and return it:

    uniform_(w, a, b)   normal_(w, mean, std)   constant_(w, val)   zeros_(w)   ones_(w)   eye_(w)
    xavier_uniform_(w, gain)   xavier_normal_(w, gain)      Glorot & Bengio (2010): Var = 2 gain² / (fan_in + fan_out)
    kaiming_uniform_(w, a, mode, nonlinearity)   kaiming_normal_(...)   He et al. (2015): Var = gain² / fan
    orthogonal_(w, gain)                                    Saxe et al. (2014)

For a weight of shape (out, in, k…), fan_in = in·k… and fan_out = out·k…, as in PyTorch.
"""

import math

import numpy as np

from ..creation import default_rng
from ..tensor import Tensor, get_default_dtype

__all__ = [
    "uniform", "normal", "orthogonal", "calculate_gain",
    "uniform_", "normal_", "constant_", "zeros_", "ones_", "eye_", "xavier_uniform_", "xavier_normal_",
    "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
]


def uniform(shape, fan_in):
    """U(−1/√fan_in, 1/√fan_in): PyTorch's default for Linear biases and recurrent layers."""
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    return default_rng().uniform(-bound, bound, shape).astype(get_default_dtype())


def normal(shape, std=1.0):
    return (default_rng().standard_normal(shape) * std).astype(get_default_dtype())


def orthogonal(n, gain=1.0):
    """A random n×n orthogonal matrix times gain (all eigenvalues on the circle of radius gain)."""
    return _orthogonal((n, n), gain).astype(get_default_dtype())


def _orthogonal(shape, gain):
    rows, cols = shape
    a = default_rng().standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)  # q: orthonormal columns; the signs of diag(r) make the draw uniform (Haar)
    q = q * np.sign(np.diag(r))
    return gain * (q if rows >= cols else q.T)


# --------------------------------------------------------------------------- PyTorch's in-place forms


def _shape(tensor, fn):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init.{fn} fills a Tensor in place (e.g. a layer's weight), got {type(tensor).__name__}")
    return tensor.shape


def _write(tensor, values, fn):
    """Overwrite ``tensor``'s values in place (counted by its version counter) and return it."""
    _shape(tensor, fn)
    tensor.data[...] = values
    return tensor


def _fans(tensor, fn):
    _shape(tensor, fn)
    if tensor.ndim < 2:
        raise ValueError(f"init.{fn}: fan in and fan out need a tensor with at least 2 dims, got shape {tensor.shape}")
    receptive = int(np.prod(tensor.shape[2:]))
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    """The factor that keeps activations' variance steady through a layer followed by ``nonlinearity``."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with U(a, b)."""
    return _write(tensor, default_rng().uniform(a, b, _shape(tensor, "uniform_")), "uniform_")


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with N(mean, std²)."""
    return _write(tensor, mean + std * default_rng().standard_normal(_shape(tensor, "normal_")), "normal_")


def constant_(tensor, val):
    return _write(tensor, val, "constant_")


def zeros_(tensor):
    return _write(tensor, 0, "zeros_")


def ones_(tensor):
    return _write(tensor, 1, "ones_")


def eye_(tensor):
    """The identity matrix (ones on the diagonal of a 2-d tensor)."""
    if tensor.ndim != 2:
        raise ValueError(f"init.eye_ needs a 2-d tensor, got shape {tensor.shape}")
    return _write(tensor, np.eye(*tensor.shape), "eye_")


def xavier_uniform_(tensor, gain=1.0):
    """U(−a, a) with a = gain √(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor, "xavier_uniform_")
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _write(tensor, default_rng().uniform(-a, a, tensor.shape), "xavier_uniform_")


def xavier_normal_(tensor, gain=1.0):
    """N(0, std²) with std = gain √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor, "xavier_normal_")
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _write(tensor, std * default_rng().standard_normal(tensor.shape), "xavier_normal_")


def _kaiming_std(tensor, a, mode, nonlinearity, fn):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init.{fn}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor, fn)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(−bound, bound) with bound = √3 · gain / √fan (``a``: the negative slope of a leaky ReLU)."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    return _write(tensor, default_rng().uniform(-bound, bound, tensor.shape), "kaiming_uniform_")


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std²) with std = gain / √fan."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    return _write(tensor, std * default_rng().standard_normal(tensor.shape), "kaiming_normal_")


def orthogonal_(tensor, gain=1.0):
    """A (semi-)orthogonal matrix times gain: orthonormal rows or columns, whichever are fewer.

    A tensor of more than 2 dims is treated as (shape[0], the rest flattened), as in PyTorch.
    """
    if tensor.ndim < 2:
        raise ValueError(f"init.orthogonal_ needs at least 2 dims, got shape {tensor.shape}")
    rows = tensor.shape[0]
    q = _orthogonal((rows, tensor.numel() // rows), gain)
    return _write(tensor, q.reshape(tensor.shape), "orthogonal_")
