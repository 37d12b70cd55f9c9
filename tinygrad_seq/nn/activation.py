"""The module forms of functional's activations, as in ``torch.nn``: ``nn.Tanh()(x)`` is ``x.tanh()``.

They hold no parameters; they exist so that a model can list its non-linearities as layers
(``nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))``) and print them in its tree.
"""

from __future__ import annotations

import warnings

from .. import functional as F
from .module import Module

__all__ = ["ReLU", "Tanh", "Sigmoid", "GELU", "Softmax", "LogSoftmax"]


class ReLU(Module):
    """max(0, x).  ``inplace`` is accepted for PyTorch code and ignored: the result is a new tensor."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu(input)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    def forward(self, input):
        return F.tanh(input)


class Sigmoid(Module):
    """1 / (1 + e^−x), computed without overflow for large |x|."""

    def forward(self, input):
        return F.sigmoid(input)


class GELU(Module):
    """x Φ(x) (``approximate='tanh'``: the tanh approximation), as ``F.gelu``."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


def _implicit_dim(name, ndim):
    # PyTorch's legacy choice when no dim is given: 0 for 0-, 1- and 3-d inputs, else 1 (with the same warning)
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
                  "as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """e^x / Σ e^x along ``dim``."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        dim = _implicit_dim("softmax", input.ndim) if self.dim is None else self.dim
        return F.softmax(input, dim=dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """x − logsumexp(x) along ``dim``: the log-probabilities that ``NLLLoss`` expects."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        dim = _implicit_dim("log_softmax", input.ndim) if self.dim is None else self.dim
        return F.log_softmax(input, dim=dim)

    def extra_repr(self):
        return f"dim={self.dim}"
