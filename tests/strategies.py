"""Hypothesis strategies for the engine's property tests: shapes, broadcastable shapes and float64 data.

Shapes come from hypothesis (so failures shrink to the smallest shape that
breaks), values from a numpy generator seeded by hypothesis: well spread,
never accidentally equal, and easy to keep away from the kinks of relu, abs,
max and clip, where a derivative does not exist and finite differences
cannot be compared with anything.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# small sides keep finite differences cheap (two function evaluations per element)
MAX_SIDE = 3


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=MAX_SIDE):
    """Array shapes, size-1 dims included; never empty."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=MAX_SIDE):
    """``num_shapes`` shapes that broadcast together (missing leading dims, size-1 dims)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side
    ).map(lambda b: b.input_shapes)


def rngs():
    """A numpy generator seeded by hypothesis (reproduced and shrunk along with the rest of the example)."""
    return st.integers(0, 2**32 - 1).map(np.random.default_rng)


def uniform(rng, shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, shape)


def away_from(values, points=(0.0,), margin=0.1):
    """Move every value at least ``margin`` away from each of ``points`` (kinks of relu, abs, clip)."""
    values = np.array(values, dtype=np.float64)
    for p in points:
        near = np.abs(values - p) < margin
        values[near] = p + np.where(values[near] >= p, margin, -margin)
    return values


def distinct(rng, shape, low=-2.0, high=2.0):
    """Values at least (high - low) / 2n apart, n the number of values: no ties for max and min."""
    n = int(np.prod(shape, dtype=int))
    slots = rng.permutation(n) + rng.uniform(0.25, 0.75, n)
    return (low + (high - low) * slots / n).reshape(shape)


def interleaved(rng, shape_a, shape_b):
    """Two arrays whose entries never come within 0.06 of each other (no ties for maximum, minimum)."""
    a = 0.2 * rng.integers(-10, 10, shape_a) + rng.uniform(-0.02, 0.02, shape_a)
    b = 0.2 * rng.integers(-10, 10, shape_b) + 0.1 + rng.uniform(-0.02, 0.02, shape_b)
    return a, b


@st.composite
def matmul_shapes(draw):
    """Shapes (a, b) that numpy's matmul accepts: 1-D, 2-D and batched N-D with broadcast batch dims."""
    n, k, m = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    kind = draw(st.sampled_from(["vv", "vm", "mv", "mm", "batched"]))
    if kind == "vv":
        return (k,), (k,)
    if kind == "vm":
        return (k,), draw(st.sampled_from([(k, m), (2, k, m)]))
    if kind == "mv":
        return draw(st.sampled_from([(n, k), (2, n, k)])), (k,)
    if kind == "mm":
        return (n, k), (k, m)
    batch_a, batch_b = draw(broadcastable_shapes(2, min_dims=0, max_dims=2, max_side=2))
    return batch_a + (n, k), batch_b + (k, m)


@st.composite
def axis_args(draw, shape):
    """An ``axis`` for a reduction over ``shape``: None, an int (maybe negative) or a tuple."""
    ndim = len(shape)
    if ndim == 0:
        return None
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(axes)
