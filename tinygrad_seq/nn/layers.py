"""The simple layers: Linear, LazyLinear, Identity, Flatten, Embedding, Dropout, LayerNorm.

PyTorch's names, arguments, shapes and initialisation.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..autograd import current_scope, located
from ..creation import default_rng
from ..tensor import get_default_dtype
from .init import uniform
from .module import Module, Parameter, check_sizes


class Linear(Module):
    """y = x Wᵀ + b.  weight: (out_features, in_features), bias: (out_features,).

    Initialised as PyTorch does: both uniform on ±1/√in_features.
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        check_sizes("Linear", in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(uniform((out_features, in_features), in_features))
        self.bias = Parameter(uniform((out_features,), in_features)) if bias else None

    def forward(self, x):
        if not hasattr(x, "shape") or not hasattr(x, "ndim") or x.ndim == 0:
            raise TypeError(
                f"{located(type(self).__name__, current_scope())}: input must be a Tensor of shape (..., "
                f"{self.in_features}), got {type(x).__name__}{' of shape ()' if hasattr(x, 'ndim') else ''}; "
                "wrap a list with tg.tensor(...)"
            )
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"{located(type(self).__name__, current_scope())}: input has {x.shape[-1]} features (shape {x.shape}), "
                f"expected {self.in_features}"
            )
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class LazyLinear(Linear):
    """A Linear whose ``in_features`` is read from its first input, as ``nn.LazyLinear(out_features)``.

    Until that first call it has no weight and no bias (so build the optimizer after one forward, as
    PyTorch advises); then it becomes a plain Linear, initialised as Linear is.  Loading a state dict
    also sets its size.
    """

    def __init__(self, out_features, bias=True):
        Module.__init__(self)
        check_sizes("LazyLinear", out_features=out_features)
        self.in_features, self.out_features, self._has_bias = 0, out_features, bias
        self.weight = self.bias = None

    def _materialize(self, in_features):
        check_sizes("LazyLinear", in_features=in_features)
        self.in_features = in_features
        self.weight = Parameter(uniform((self.out_features, in_features), in_features))
        self.bias = Parameter(uniform((self.out_features,), in_features)) if self._has_bias else None
        del self._has_bias
        self.__class__ = Linear  # as PyTorch's lazy modules do once they know their size

    def _materialize_from(self, state_dict, prefix):
        if prefix + "weight" in state_dict:
            self._materialize(state_dict[prefix + "weight"].shape[1])

    def forward(self, x):
        self._materialize(x.shape[-1])
        return Linear.forward(self, x)


class Identity(Module):
    """Returns its input: a placeholder where a layer is optional (extra arguments are ignored, as in PyTorch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Flatten(Module):
    """Dims ``start_dim`` … ``end_dim`` made into one: (N, C, H, W) -> (N, C·H·W) with the defaults."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Embedding(Module):
    """A lookup table: integer indices (...) to vectors (..., embedding_dim); weight ~ N(0, 1) as in PyTorch."""

    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        check_sizes("Embedding", num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        weight = default_rng().standard_normal((num_embeddings, embedding_dim))
        self.weight = Parameter(weight.astype(get_default_dtype()))

    def forward(self, idx):
        return F.embedding(idx, self.weight)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Dropout(Module):
    """Zero entries with probability p while training; the identity in eval()."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace  # inplace is accepted for PyTorch code; the result is a new tensor

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class LayerNorm(Module):
    """Normalise over the last dims, then scale by weight (ones) and shift by bias (zeros)."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dtype = get_default_dtype()
        self.weight = Parameter(np.ones(self.normalized_shape, dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype)) if elementwise_affine and bias else None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


