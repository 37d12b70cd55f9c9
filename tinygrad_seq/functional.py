"""Composite functions on tensors: activations, losses, normalisation, dropout.

Names and arguments follow ``torch.nn.functional``.  Most are a few ops from
ops.py put together; softmax, log_softmax, logsumexp and cross_entropy are
primitives of their own, max-shifted so that large logits never overflow.
"""

from __future__ import annotations

import numpy as np

from . import ops
from .autograd import state, where
from .tensor import Tensor, default_rng, tanh, sigmoid, relu  # noqa: F401  (re-exported)

__all__ = [
    "softmax", "log_softmax", "logsumexp", "cross_entropy", "nll_loss", "mse_loss",
    "dropout", "layer_norm", "one_hot", "embedding", "tanh", "sigmoid", "relu",
]


def _t(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def softmax(x, dim=-1):
    """e^x / Σ e^x along ``dim`` (shifted by the max, so it never overflows)."""
    return _t(x).softmax(dim)


def log_softmax(x, dim=-1):
    """x − logsumexp(x) along ``dim``: log-probabilities, accurate even where softmax underflows."""
    return _t(x).log_softmax(dim)


def logsumexp(x, dim=-1, keepdim=False):
    return _t(x).logsumexp(dim, keepdim)


def _reduce(loss, reduction, weight_sum=None):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / weight_sum if weight_sum is not None else loss.mean()
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _class_targets(op, logits, target):
    """Bring logits (N, C), (C,) or (N, C, d1, ...) to (M, C) and targets to (M,) ints."""
    logits = _t(logits)
    target = np.asarray(target.data if isinstance(target, Tensor) else target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{where(op, state.scope)}: targets must be integer class indices, got dtype {target.dtype}")
    if logits.ndim == 1:
        expect = ()
    else:
        expect = (logits.shape[0],) + logits.shape[2:]
    if target.shape != expect:
        raise ValueError(
            f"{where(op, state.scope)}: logits of shape {logits.shape} need targets of shape {expect}, got {target.shape}"
        )
    out_shape = target.shape
    if logits.ndim == 1:
        logits = logits.reshape(1, -1)
    elif logits.ndim > 2:
        logits = logits.permute((0,) + tuple(range(2, logits.ndim)) + (1,)).reshape(-1, logits.shape[1])
    return logits, target.reshape(-1), out_shape


def cross_entropy(logits, target, reduction="mean", ignore_index=-100):
    """Softmax cross-entropy with integer class targets, as ``F.cross_entropy``.

    logits: (N, C) (or (C,), or (N, C, d1, ...) with classes on dim 1);
    target: (N,) ints in [0, C) (or ``ignore_index``, which adds nothing).
    L_n = −log softmax(logits_n)[target_n]; its gradient is softmax − one_hot.
    ``'mean'`` divides by the number of targets that are not ignored.
    """
    logits, target, out_shape = _class_targets("cross_entropy", logits, target)
    n_classes = logits.shape[1]
    keep = target != ignore_index
    bad = keep & ((target < 0) | (target >= n_classes))
    if bad.any():
        raise IndexError(
            f"{where('cross_entropy', state.scope)}: target {int(target[bad][0])} is not a class index in [0, {n_classes})"
        )
    safe = np.where(keep, target, 0)
    loss = ops.CrossEntropy.apply(logits, safe, keep.astype(logits.dtype))
    if reduction == "none":
        return loss.reshape(out_shape)
    return _reduce(loss, reduction, weight_sum=float(keep.sum()))


def nll_loss(log_probs, target, reduction="mean", ignore_index=-100):
    """−log_probs[n, target_n], averaged over targets that are not ``ignore_index``."""
    log_probs, target, out_shape = _class_targets("nll_loss", log_probs, target)
    keep = target != ignore_index
    picked = log_probs[np.arange(len(target)), np.where(keep, target, 0)]
    loss = -picked * keep.astype(log_probs.dtype)
    if reduction == "none":
        return loss.reshape(out_shape)
    return _reduce(loss, reduction, weight_sum=float(keep.sum()))


def mse_loss(input, target, reduction="mean"):
    """(input − target)² averaged (or summed) over all elements."""
    input, target = _t(input), _t(target)
    if input.shape != target.shape:
        raise ValueError(f"{where('mse_loss', state.scope)}: input shape {input.shape} and target shape {target.shape} differ")
    d = input - target
    return _reduce(d * d, reduction)


def dropout(x, p=0.5, training=True):
    """Zero each entry with probability p and scale the rest by 1/(1−p) (inverted dropout).

    The mask comes from the generator seeded by ``manual_seed``.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    x = _t(x)
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0
    keep = default_rng().random(x.shape) >= p
    return x * (keep / (1 - p)).astype(x.dtype)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """(x − mean) / √(var + eps) over the last dims, then ⊙ weight + bias (biased variance, as PyTorch)."""
    x = _t(x)
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(normalized_shape):] != normalized_shape:
        raise ValueError(
            f"{where('layer_norm', state.scope)}: input shape {x.shape} does not end in normalized_shape {normalized_shape}"
        )
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    centered = x - mu
    var = (centered * centered).mean(axis=axes, keepdims=True)
    y = centered / (var + eps).sqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def one_hot(target, num_classes=-1):
    """Integer classes (...,) to a (..., num_classes) int64 tensor of zeros and ones."""
    target = np.asarray(target.data if isinstance(target, Tensor) else target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"one_hot needs integer classes, got dtype {target.dtype}")
    if num_classes < 0:
        num_classes = int(target.max()) + 1 if target.size else 0
    if target.size and (target.min() < 0 or target.max() >= num_classes):
        raise IndexError(f"one_hot: classes must lie in [0, {num_classes}), got range [{target.min()}, {target.max()}]")
    return Tensor(np.eye(num_classes, dtype=np.int64)[target])


def embedding(input, weight):
    """Rows of ``weight`` (num_embeddings, dim) picked by the integer ``input``; repeated rows add gradients."""
    idx = np.asarray(input.data if isinstance(input, Tensor) else input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{where('embedding', state.scope)}: indices must be integers, got dtype {idx.dtype}")
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"{where('embedding', state.scope)}: index out of range [0, {n}): got {idx.min()}..{idx.max()}")
    return weight[idx]
