"""Initialisers that return numpy arrays from the seeded generator (``manual_seed``)."""

from ..tensor import default_rng, get_default_dtype
from .module import uniform_

__all__ = ["uniform_", "normal", "orthogonal"]


def normal(shape, std=1.0):
    return (default_rng().standard_normal(shape) * std).astype(get_default_dtype())


def orthogonal(n, gain=1.0):
    """A random n×n orthogonal matrix times gain (all eigenvalues on the circle of radius gain)."""
    import numpy as np

    q, r = np.linalg.qr(default_rng().standard_normal((n, n)))
    return (gain * q * np.sign(np.diag(r))).astype(get_default_dtype())
