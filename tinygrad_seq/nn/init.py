"""Initialisers that return numpy arrays from the seeded generator (``manual_seed``)."""

import math

import numpy as np

from ..creation import default_rng
from ..tensor import get_default_dtype

__all__ = ["uniform", "normal", "orthogonal"]


def uniform(shape, fan_in):
    """U(−1/√fan_in, 1/√fan_in): PyTorch's default for Linear biases and recurrent layers."""
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    return default_rng().uniform(-bound, bound, shape).astype(get_default_dtype())


def normal(shape, std=1.0):
    return (default_rng().standard_normal(shape) * std).astype(get_default_dtype())


def orthogonal(n, gain=1.0):
    """A random n×n orthogonal matrix times gain (all eigenvalues on the circle of radius gain)."""
    q, r = np.linalg.qr(default_rng().standard_normal((n, n)))
    return (gain * q * np.sign(np.diag(r))).astype(get_default_dtype())
