"""Composite functions on tensors: activations, losses, normalisation, dropout.

Names and arguments follow ``torch.nn.functional``.  Most are a few ops from
ops.py put together; softmax, log_softmax, logsumexp and cross_entropy are
primitives of their own, max-shifted so that large logits never overflow.
"""

from __future__ import annotations

import math

import numpy as np

from . import ops
from .autograd import located, scope, state

# softmax, log_softmax, logsumexp (max-shifted primitives of ops.py) and the activations are the creation module's
from .creation import default_rng, log_softmax, logsumexp, relu, sigmoid, softmax, tanh  # noqa: F401
from .tensor import Tensor, as_tensor

__all__ = [
    "softmax", "log_softmax", "logsumexp", "cross_entropy", "nll_loss", "mse_loss",
    "dropout", "layer_norm", "one_hot", "embedding", "tanh", "sigmoid", "relu", "gelu",
    "masked_softmax", "scaled_dot_product_attention",
]


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
    logits = as_tensor(logits)
    target = np.asarray(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{located(op, state.scope)}: targets must be integer class indices, got dtype {target.dtype}")
    if logits.ndim == 1:
        expect = ()
    else:
        expect = (logits.shape[0],) + logits.shape[2:]
    if target.shape != expect:
        raise ValueError(
            f"{located(op, state.scope)}: logits of shape {logits.shape} need targets of shape {expect}, "
            f"got {target.shape}"
        )
    out_shape = target.shape
    if logits.ndim == 1:
        logits = logits.reshape(1, -1)
    elif logits.ndim > 2:
        logits = logits.permute((0,) + tuple(range(2, logits.ndim)) + (1,)).reshape(-1, logits.shape[1])
    return logits, target.reshape(-1), out_shape


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean"):
    """Softmax cross-entropy with integer class targets, as ``F.cross_entropy``.

    logits: (N, C) (or (C,), or (N, C, d1, ...) with classes on dim 1);
    target: (N,) ints in [0, C) (or ``ignore_index``, which adds nothing);
    weight: (C,) a factor per class, or None.
    L_n = −w[target_n] log softmax(logits_n)[target_n]; its gradient is w[target_n] (softmax − one_hot).
    ``'mean'`` divides by the sum of w[target_n] over the targets that are not ignored (their number
    without weights).
    """
    logits, target, out_shape = _class_targets("cross_entropy", logits, target)
    keep = _kept_targets("cross_entropy", target, ignore_index, logits.shape[1])
    safe = np.where(keep, target, 0)
    factor = keep * _class_weights("cross_entropy", weight, logits)[safe]
    loss = ops.CrossEntropy.apply(logits, safe, factor.astype(logits.dtype))
    if reduction == "none":
        return loss.reshape(out_shape)
    return _reduce(loss, reduction, weight_sum=float(factor.sum()))


def _class_weights(op, weight, scores):
    """The (C,) per-class factors as an array (ones without ``weight``); constants, with no gradient."""
    n_classes = scores.shape[1]
    if weight is None:
        return np.ones(n_classes, dtype=scores.dtype)
    if isinstance(weight, str):
        raise TypeError(f"{located(op, state.scope)}: weight is the third argument, as in PyTorch; got {weight!r} "
                        "(pass reduction= by name)")
    w = np.asarray(weight, dtype=scores.dtype)
    if w.shape != (n_classes,):
        raise ValueError(f"{located(op, state.scope)}: weight must have one entry per class, shape ({n_classes},); "
                         f"got {w.shape}")
    return w


def _kept_targets(op, target, ignore_index, n_classes):
    """The mask of targets that count (not ``ignore_index``); each of them must be a class index."""
    keep = target != ignore_index
    bad = keep & ((target < 0) | (target >= n_classes))
    if bad.any():
        raise IndexError(
            f"{located(op, state.scope)}: target {int(target[bad][0])} is not a class index in [0, {n_classes})"
        )
    return keep


def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    """−w[target_n] log_probs[n, target_n], averaged over targets that are not ``ignore_index`` as cross_entropy."""
    log_probs, target, out_shape = _class_targets("nll_loss", log_probs, target)
    keep = _kept_targets("nll_loss", target, ignore_index, log_probs.shape[1])
    safe = np.where(keep, target, 0)
    factor = keep * _class_weights("nll_loss", weight, log_probs)[safe]
    picked = log_probs[np.arange(len(target)), safe]
    loss = -picked * factor.astype(log_probs.dtype)
    if reduction == "none":
        return loss.reshape(out_shape)
    return _reduce(loss, reduction, weight_sum=float(factor.sum()))


def mse_loss(input, target, reduction="mean"):
    """(input − target)² averaged (or summed) over all elements."""
    input, target = as_tensor(input), as_tensor(target)
    if input.shape != target.shape:
        raise ValueError(
            f"{located('mse_loss', state.scope)}: input shape {input.shape} and target shape {target.shape} differ"
        )
    d = input - target
    return _reduce(d * d, reduction)


def dropout(x, p=0.5, training=True):
    """Zero each entry with probability p and scale the rest by 1/(1−p) (inverted dropout).

    The mask comes from the generator seeded by ``manual_seed``.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    x = as_tensor(x)
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0
    keep = default_rng().random(x.shape) >= p
    return x * (keep / (1 - p)).astype(x.dtype)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """(x − mean) / √(var + eps) over the last dims, then ⊙ weight + bias (biased variance, as PyTorch)."""
    x = as_tensor(x)
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(normalized_shape):] != normalized_shape:
        raise ValueError(
            f"{located('layer_norm', state.scope)}: input shape {x.shape} does not end in "
            f"normalized_shape {normalized_shape}"
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
    target = np.asarray(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"one_hot needs integer classes, got dtype {target.dtype}")
    if num_classes < 0:
        num_classes = int(target.max()) + 1 if target.size else 0
    if target.size and (target.min() < 0 or target.max() >= num_classes):
        raise IndexError(f"one_hot: classes must lie in [0, {num_classes}), got range [{target.min()}, {target.max()}]")
    return Tensor(np.eye(num_classes, dtype=np.int64)[target])


def embedding(input, weight):
    """Rows of ``weight`` (num_embeddings, dim) picked by the integer ``input``; repeated rows add gradients."""
    idx = np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{located('embedding', state.scope)}: indices must be integers, got dtype {idx.dtype}")
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(
            f"{located('embedding', state.scope)}: index out of range [0, {n}): got {idx.min()}..{idx.max()}"
        )
    return weight[idx]


# --------------------------------------------------------------------------- attention


def masked_softmax(scores, mask=None, dim=-1):
    """Softmax of ``scores`` over ``dim`` where only the positions with ``mask`` True take part.

    scores: any shape, may already hold −inf; mask: bool, broadcastable to scores (True = take part).
    Masked positions get exactly zero weight and zero gradient.  A row with no
    position left (every entry masked or −inf) gets all-zero weights instead of
    the NaN a plain softmax would give, as PyTorch's scaled_dot_product_attention does.
    """
    scores = as_tensor(scores)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        scores = scores.masked_fill(~mask, -np.inf)
    dead = np.all(scores.data == -np.inf, axis=dim, keepdims=True)
    if not dead.any():
        return scores.softmax(dim)
    weights = scores.masked_fill(dead, 0.0).softmax(dim)  # any finite row: it is zeroed just below
    return weights.masked_fill(dead, 0.0)


def check_float_mask(m, name, where):
    """A float mask added to attention scores, after checking it: −inf hides a key, finite values shift it.

    The one rule of every attention function and layer: a mask is bool or float (an integer mask is
    ambiguous: 0/1 as "hide" or as a bias? PyTorch refuses it too); +inf or NaN would make every weight
    of its row NaN, so they are refused rather than silently poisoning the output.
    """
    if m.dtype.kind != "f":
        raise TypeError(f"{where}: {name} must be bool or float, got dtype {m.dtype} "
                        "(an integer mask is ambiguous: pass mask.astype(bool) or a float bias)")
    if np.isnan(m).any() or np.isposinf(m).any():
        bad = "NaN" if np.isnan(m).any() else "+inf"
        raise ValueError(f"{where}: {name} holds {bad}, which makes the attention weights NaN; "
                         "use -inf to hide a key")
    return m


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(Q Kᵀ · scale + mask) V, as ``torch.nn.functional.scaled_dot_product_attention``.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); leading dims broadcast.
    ``scale`` defaults to 1/√E (Vaswani et al. 2017: keeps the scores' variance near 1).
    ``attn_mask`` broadcastable to (..., L, S): bool (True = may attend) or float (added to the scores).
    ``is_causal`` lets query i attend to keys 0..i only (the top-left triangle; no attn_mask then).
    ``dropout_p`` drops attention weights (always, as PyTorch does; pass 0.0 in eval).
    A query whose every key is masked gets a zero output.
    """
    query, key, value = as_tensor(query), as_tensor(key), as_tensor(value)
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise ValueError(
            f"{located('scaled_dot_product_attention', state.scope)}: query, key and value need at least 2 dims "
            f"(..., L, E); got {query.shape}, {key.shape}, {value.shape}"
        )
    L, E = query.shape[-2:]
    S = key.shape[-2]
    if key.shape[-1] != E or value.shape[-2] != S:
        raise ValueError(
            f"{located('scaled_dot_product_attention', state.scope)}: query {query.shape}, key {key.shape} and "
            f"value {value.shape} do not fit: need query (..., L, E), key (..., S, E), value (..., S, Ev)"
        )
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: pass attn_mask or is_causal, not both")
    scale = 1 / np.sqrt(E) if scale is None else scale
    with scope("score"):
        scores = (query @ key.transpose(-2, -1)) * scale
        scores.name = "score"
    allowed = None
    if is_causal:
        allowed = np.tril(np.ones((L, S), dtype=bool))
    elif attn_mask is not None:
        m = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
        if m.dtype == bool:
            allowed = m
        else:
            check_float_mask(m, "attn_mask", located("scaled_dot_product_attention", state.scope))
            scores = scores + attn_mask
    with scope("softmax"):
        if is_causal:  # every query keeps key 0: no row is all masked, so a plain softmax will do
            weights = scores.masked_fill(~allowed, -np.inf).softmax(-1)
        else:
            weights = masked_softmax(scores, allowed, dim=-1)
        weights.name = "attn_weights"
    if dropout_p > 0:
        weights = dropout(weights, dropout_p, training=True)
    with scope("context"):
        out = weights @ value
        out.name = "context"
    return out


def gelu(x, approximate="none"):
    """GELU(x) = x Φ(x) = x (1 + erf(x/√2)) / 2 (Hendrycks & Gimpel 2016), as ``F.gelu``.

    approximate="tanh": x (1 + tanh(√(2/π) (x + 0.044715 x³))) / 2.
    """
    x = as_tensor(x)
    if approximate == "tanh":
        return 0.5 * x * (1 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)).tanh())
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * x * (1 + ops.Erf.apply(x * (1 / math.sqrt(2))))
