"""Attention: a context vector made fresh for every output step, as a weighted average of the source.

An encoder–decoder without attention squeezes the whole source into one
fixed-length vector; a long sentence does not fit.  Attention (Bahdanau et al.
2015) lets the decoder look back at every encoder state h(i) each time it emits
a word.  With s the decoder's query (its previous state s(t−1)):

    e(t, i) = score(s, h(i))               how well source position i matches what the decoder needs now
    α(t, ·) = softmax(e(t, ·))             the alignment weights: α(t, i) ≥ 0, Σ_i α(t, i) = 1
    c(t)    = Σ_i α(t, i) h(i)             the context vector, fed to the decoder

The matrix α (target steps × source positions) is the alignment a trained
model has found; ``.last_weights`` keeps it for ``viz`` to draw.

Shapes (batch first, as the recurrent layers of the lectures' figures):

    query  s: (N, T, d_q), or (N, d_q) for one decoder step
    keys   h: (N, S, d_k)
    values  : (N, S, d_v); by default the keys themselves (c(t) = Σ α h)
    returns context (N, T, d_v) and weights (N, T, S), or (N, d_v) and (N, S) for one step

The score functions (each a small Module, ``score(query, keys) -> (N, T, S)``):

    content-based  cosine      e = β · sᵀh / (|s| |h|)              Graves et al. 2014 (Neural Turing Machines)
    additive       "additive"  e = v_aᵀ tanh(W_a s + U_a h)          Bahdanau et al. 2015 (= v_aᵀ tanh(W [s; h]))
    location       "location"  e = W_a s  (depends on s alone)       Luong et al. 2015
    general        "general"   e = sᵀ W_a h                          Luong et al. 2015
    dot            "dot"       e = sᵀ h                              Luong et al. 2015
    scaled dot     "scaled_dot" e = sᵀ h / √d_k                      Vaswani et al. 2017

and the attention layers: ``Attention`` (global: every source position),
``LocalAttention`` (Luong's local-m and local-p: a window of 2D+1 positions),
``HardAttention`` (one sampled position, trained with REINFORCE) and
``MultiheadAttention`` (the Transformer's, with PyTorch's names and results).

Masks.  ``key_padding_mask`` (N, S) is True at padding, as in PyTorch's
MultiheadAttention; a bool ``attn_mask`` (T, S) is True where a query may *not*
look (``causal_mask(T)`` hides the future).  Masked positions get exactly zero
weight, and a query with nothing left to look at gets a zero context.

Three meanings of True, each copied from the PyTorch function a student will meet next:

    True = hidden          key_padding_mask, bool attn_mask here and in MultiheadAttention / the Transformer
                           (torch.nn.MultiheadAttention), padding_mask(), causal_mask()
    True = may attend      a bool attn_mask of functional.scaled_dot_product_attention
                           (torch.nn.functional.scaled_dot_product_attention)
    True = takes part      the mask of functional.masked_softmax (the positions the softmax runs over)

A float mask means the same everywhere: it is added to the scores (−inf hides).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import functional as F
from ..autograd import located, scope, state
from ..creation import cat, default_rng
from ..tensor import Tensor, get_default_dtype
from .layers import Linear
from .module import Module, Parameter

__all__ = [
    "Score", "DotScore", "ScaledDotScore", "GeneralScore", "AdditiveScore", "LocationScore", "CosineScore",
    "make_score", "Attention", "LocalAttention", "HardAttention", "MultiheadAttention",
    "padding_mask", "causal_mask", "reinforce_loss", "MovingAverageBaseline",
]


# --------------------------------------------------------------------------- masks


def padding_mask(lengths, max_len=None) -> np.ndarray:
    """(N, S) bool, True at the padding of each sequence: position i of row n is padding if i ≥ lengths[n]."""
    lengths = np.asarray(lengths)
    max_len = int(lengths.max()) if max_len is None else max_len
    return np.arange(max_len)[None, :] >= lengths[:, None]


def causal_mask(T, S=None) -> np.ndarray:
    """(T, S) bool, True where query t would look ahead (key i > t): the positions a decoder must not see."""
    return np.triu(np.ones((T, T if S is None else S), dtype=bool), k=1)


def _here(layer):
    """``'Attention in Seq2Seq/attention'``: the layer and the scope it runs in, for error messages."""
    path = state.scope
    return path if path == layer or path.endswith("/" + layer) else located(layer, path)


def _mask_array(mask, name, layer):
    m = np.asarray(mask)
    if m.dtype != bool:
        raise TypeError(f"{_here(layer)}: {name} must be bool (True = masked), got dtype {m.dtype}")
    return m


def _allowed(key_padding_mask, attn_mask, shape, layer):
    """(N, T, S) bool, True where a query may look; None when nothing is masked."""
    N, T, S = shape
    allowed = None
    if key_padding_mask is not None:
        kpm = _mask_array(key_padding_mask, "key_padding_mask", layer)
        if kpm.shape != (N, S):
            raise ValueError(f"{_here(layer)}: key_padding_mask must have shape (N, S) = {(N, S)}, got {kpm.shape}")
        allowed = ~kpm[:, None, :]
    if attn_mask is not None:
        am = _mask_array(attn_mask, "attn_mask", layer)
        if am.shape not in ((T, S), (N, T, S)):
            msg = f"attn_mask must have shape (T, S) = {(T, S)} or (N, T, S), got {am.shape}"
            raise ValueError(f"{_here(layer)}: {msg}")
        allowed = ~am if allowed is None else allowed & ~am
    return None if allowed is None else np.broadcast_to(allowed, shape)


def _linear(layer, x):
    """``layer(x)`` for x (..., d) run as one 2-D matmul: numpy is much slower on stacks of small matrices."""
    if x.ndim == 2:
        return layer(x)
    y = layer(x.reshape(-1, x.shape[-1]))
    return y.reshape(*x.shape[:-1], y.shape[-1])


# --------------------------------------------------------------------------- score functions


class Score(Module):
    """A score function e = score(s, h): query (N, T, d_q), keys (N, S, d_k) -> scores (N, T, S).

    Subclasses define ``score(query, projected_keys)``.  Whatever depends on the
    keys alone goes in ``project_keys`` (U_a h in the additive score, W_a h in the
    general one): a decoder computes it once per source sentence, not once per
    step, as Bahdanau et al. point out.
    """

    query_dim = key_dim = None  # None: any size

    def project_keys(self, keys):
        return keys

    def forward(self, query, keys, projected_keys=None):
        if projected_keys is None:
            with scope("key"):
                projected_keys = self.project_keys(keys)
        e = self.score(query, projected_keys)
        e.name = "score e"
        return e

    def score(self, query, projected_keys):
        raise NotImplementedError

    def _need_same_size(self, query, keys):
        if query.shape[-1] != keys.shape[-1]:
            raise ValueError(
                f"{_here(type(self).__name__)}: the query has size {query.shape[-1]} "
                f"but the keys have size {keys.shape[-1]}; this score needs them equal (use 'general' or 'additive')"
            )


class DotScore(Score):
    """e(t, i) = s(t)ᵀ h(i) (Luong et al. 2015): no parameters; query and keys of the same size."""

    def score(self, query, keys):
        self._need_same_size(query, keys)
        return query @ keys.transpose(-1, -2)


class ScaledDotScore(Score):
    """e(t, i) = s(t)ᵀ h(i) / √d_k (Vaswani et al. 2017): the dot score with its variance brought back near 1."""

    def score(self, query, keys):
        self._need_same_size(query, keys)
        return (query @ keys.transpose(-1, -2)) * (1 / math.sqrt(keys.shape[-1]))


class GeneralScore(Score):
    """e(t, i) = s(t)ᵀ W_a h(i) (Luong et al. 2015).  W_a: (d_q, d_k), stored as ``W_a.weight``."""

    def __init__(self, query_dim, key_dim):
        super().__init__()
        self.query_dim, self.key_dim = query_dim, key_dim
        self.W_a = Linear(key_dim, query_dim, bias=False)

    def project_keys(self, keys):
        return _linear(self.W_a, keys)  # (N, S, d_q)

    def score(self, query, keys):
        return query @ keys.transpose(-1, -2)


class AdditiveScore(Score):
    """e(t, i) = v_aᵀ tanh(W_a s(t) + U_a h(i)) (Bahdanau et al. 2015; Luong's "concat").

    The same as v_aᵀ tanh(W [s; h] + b) with W = [W_a  U_a]: splitting W lets
    U_a h(i) be computed once per source.  W_a: (d_a, d_q), U_a: (d_a, d_k) with
    bias b: (d_a,), v_a: (1, d_a); d_a = ``hidden_dim``.
    """

    def __init__(self, query_dim, key_dim, hidden_dim=None):
        super().__init__()
        hidden_dim = hidden_dim or key_dim
        self.query_dim, self.key_dim, self.hidden_dim = query_dim, key_dim, hidden_dim
        self.W_a = Linear(query_dim, hidden_dim, bias=False)
        self.U_a = Linear(key_dim, hidden_dim)
        self.v_a = Linear(hidden_dim, 1, bias=False)

    def project_keys(self, keys):
        return _linear(self.U_a, keys)  # (N, S, d_a)

    def score(self, query, keys):
        ws = _linear(self.W_a, query)  # (N, T, d_a)
        hidden = (ws.unsqueeze(2) + keys.unsqueeze(1)).tanh()  # (N, T, S, d_a): every query with every key
        return (hidden * self.v_a.weight).sum(-1)  # v_aᵀ hidden as product and sum: cheaper than a 4-D matmul


class LocationScore(Score):
    """e(t, ·) = W_a s(t) (Luong et al. 2015): the weights depend on the query alone, not on the keys' content.

    W_a: (max_len, d_q) gives one score per source position; a source of length
    S uses the first S.  The model learns *where* to look, never *what* it sees.
    """

    def __init__(self, query_dim, max_len):
        super().__init__()
        self.query_dim, self.max_len = query_dim, max_len
        self.W_a = Linear(query_dim, max_len, bias=False)

    def score(self, query, keys):
        S = keys.shape[-2]
        if S > self.max_len:
            raise ValueError(f"{_here('LocationScore')}: source length {S} exceeds max_len {self.max_len}")
        e = _linear(self.W_a, query)
        return e if S == self.max_len else e[..., :S]


class CosineScore(Score):
    """e(t, i) = β · cos(s(t), h(i)) (Graves et al. 2014, content-based addressing in Neural Turing Machines).

    β > 0 is the key strength: large β sharpens the weights towards the best
    match.  Fixed by default; ``learn_beta=True`` makes it a parameter.
    """

    eps = 1e-8

    def __init__(self, beta=1.0, learn_beta=False):
        super().__init__()
        self.beta = Parameter(np.array(beta, dtype=get_default_dtype())) if learn_beta else beta

    def score(self, query, keys):
        self._need_same_size(query, keys)
        q = query / ((query * query).sum(-1, keepdim=True) + self.eps).sqrt()
        k = keys / ((keys * keys).sum(-1, keepdim=True) + self.eps).sqrt()
        return (q @ k.transpose(-1, -2)) * self.beta


SCORES = {
    "dot": DotScore,
    "scaled_dot": ScaledDotScore,
    "general": GeneralScore,
    "additive": AdditiveScore,
    "concat": AdditiveScore,
    "location": LocationScore,
    "cosine": CosineScore,
}


def make_score(name, query_dim=None, key_dim=None, hidden_dim=None, max_len=None, beta=1.0) -> Score:
    """A score function by name: 'dot', 'scaled_dot', 'general', 'additive' (= 'concat'), 'location', 'cosine'."""
    if name not in SCORES:
        raise ValueError(f"unknown score {name!r}; choose one of {sorted(SCORES)}")
    if name in ("dot", "scaled_dot"):
        return SCORES[name]()
    if name == "cosine":
        return CosineScore(beta)
    if query_dim is None:
        raise ValueError(f"the {name!r} score needs query_dim")
    if name == "location":
        if max_len is None:
            raise ValueError("the 'location' score needs max_len (the longest source)")
        return LocationScore(query_dim, max_len)
    if key_dim is None:
        raise ValueError(f"the {name!r} score needs key_dim")
    if name == "general":
        return GeneralScore(query_dim, key_dim)
    return AdditiveScore(query_dim, key_dim, hidden_dim)


# --------------------------------------------------------------------------- global attention


class Attention(Module):
    """Global (soft) attention: c(t) = Σ_i α(t, i) v(i) with α(t, ·) = softmax(score(s(t), h(·))).

    ``score``: a Score module or its name (then query_dim, key_dim, hidden_dim,
    max_len, beta are passed to ``make_score``).

    forward(query (N, T, d_q) or (N, d_q), keys (N, S, d_k), values (N, S, d_v) = keys,
            key_padding_mask (N, S) bool True at padding, attn_mask (T, S) or (N, T, S) bool True = hidden,
            projected_keys = score.project_keys(keys) if already computed)
        -> context (N, T, d_v), weights (N, T, S)  (the T axis dropped for a 2-D query)

    ``last_weights`` keeps the weights of the last call (detached) for viz.
    """

    def __init__(self, score="dot", query_dim=None, key_dim=None, hidden_dim=None, max_len=None, beta=1.0):
        super().__init__()
        if not isinstance(score, Score):
            score = make_score(score, query_dim, key_dim, hidden_dim, max_len, beta)
        self.score = score
        self.last_weights = None

    def _inputs(self, query, keys, values):
        """Bring a one-step query to (N, 1, d_q) and check that the shapes agree."""
        name = type(self).__name__
        single = query.ndim == 2
        if single:
            query = query.unsqueeze(1)
        values = keys if values is None else values
        if query.ndim != 3 or keys.ndim != 3 or values.ndim != 3:
            raise ValueError(
                f"{_here(name)}: expected query (N, T, d_q) or (N, d_q), keys (N, S, d_k), "
                f"values (N, S, d_v); got {query.shape}, {keys.shape}, {values.shape}"
            )
        if not (query.shape[0] == keys.shape[0] == values.shape[0]) or keys.shape[1] != values.shape[1]:
            raise ValueError(
                f"{_here(name)}: query {query.shape}, keys {keys.shape} and values {values.shape} "
                "disagree on the batch size N or the source length S"
            )
        return query, values, single

    def _finish(self, weights, values, single):
        with scope("context"):
            context = weights @ values
            if single:
                context = context.squeeze(1)
            context.name = "context c"
        if single:
            with scope("softmax"):
                weights = weights.squeeze(1)
                weights.name = "alpha"
        self.last_weights = weights.detach()
        return context, weights

    def forward(self, query, keys, values=None, key_padding_mask=None, attn_mask=None, projected_keys=None):
        query, values, single = self._inputs(query, keys, values)
        scores = self.score(query, keys, projected_keys)
        allowed = _allowed(key_padding_mask, attn_mask, scores.shape, type(self).__name__)
        with scope("softmax"):
            weights = F.masked_softmax(scores, allowed)
            weights.name = "alpha"
        return self._finish(weights, values, single)


# --------------------------------------------------------------------------- local attention


class LocalAttention(Attention):
    """Local attention (Luong et al. 2015): look only at the window [p(t) − D, p(t) + D] of the source.

    mode="m" (monotonic): p(t) = t, the decoder step itself (pass ``t``, or a
        T-step query uses t = 0 … T−1); weights = softmax of the scores inside the window.
    mode="p" (predictive): p(t) = (S − 1) · sigmoid(v_pᵀ tanh(W_p s(t))), a real number
        the model predicts (S the source's own length, so p(t) ranges over its positions);
        weights = softmax inside the window × exp(−(i − p(t))² / 2σ²), σ = D/2.
        The Gaussian makes the weights differentiable in p(t), so W_p and v_p learn.
        (Luong counts positions from 1 and writes S; from 0, the last position is S − 1.)

    Weights outside the window are exactly zero.  For clarity the scores are
    computed for every position and masked (Luong computes only the window's).
    ``gaussian`` overrides the default (True for "p", False for "m").
    ``last_position`` keeps p(t) of the last call, (N, T).
    """

    def __init__(self, score="dot", window=2, mode="p", query_dim=None, key_dim=None, hidden_dim=None,
                 gaussian=None, max_len=None, beta=1.0):
        super().__init__(score, query_dim, key_dim, hidden_dim, max_len, beta)
        if mode not in ("m", "p"):
            raise ValueError(f"LocalAttention: mode must be 'm' (monotonic) or 'p' (predictive), got {mode!r}")
        if not isinstance(window, (int, np.integer)) or window < 1:
            raise ValueError(f"LocalAttention: window D must be a positive integer, got {window!r}")
        self.mode, self.D, self.sigma = mode, int(window), window / 2
        self.gaussian = (mode == "p") if gaussian is None else gaussian
        if mode == "p":
            if query_dim is None:
                raise ValueError("LocalAttention(mode='p') needs query_dim to predict the position p(t)")
            hidden_dim = hidden_dim or query_dim
            self.W_p = Linear(query_dim, hidden_dim, bias=False)
            self.v_p = Linear(hidden_dim, 1, bias=False)
        self.last_position = None

    def forward(self, query, keys, values=None, key_padding_mask=None, t=None, projected_keys=None):
        query, values, single = self._inputs(query, keys, values)
        N, T, S = query.shape[0], query.shape[1], keys.shape[1]
        pad = np.zeros((N, S), bool)
        if key_padding_mask is not None:
            pad = ~_allowed(key_padding_mask, None, (N, 1, S), "LocalAttention")[:, 0]
        last = (S - pad.sum(1) - 1).astype(get_default_dtype())[:, None]  # (N, 1): the last real position
        scores = self.score(query, keys, projected_keys)
        with scope("position"):
            if self.mode == "m":
                steps = np.arange(T) if t is None else np.broadcast_to(np.asarray(t), (T,))
                p = np.minimum(steps[None, :].astype(last.dtype), last)  # (N, T), a constant
            else:
                a = _linear(self.v_p, _linear(self.W_p, query).tanh()).squeeze(-1)
                p = a.sigmoid() * last  # (N, T)
                p.name = "p(t)"
        p_now = np.asarray(p)
        positions = np.arange(S, dtype=last.dtype)
        inside = np.abs(positions - p_now[..., None]) <= self.D  # (N, T, S)
        allowed = inside & ~pad[:, None, :]
        with scope("softmax"):
            weights = F.masked_softmax(scores, allowed)
        if self.gaussian:
            with scope("gaussian"):
                d = positions - (p.unsqueeze(-1) if isinstance(p, Tensor) else p[..., None])
                weights = weights * (-(d * d) / (2 * self.sigma**2)).exp()
        weights.name = "alpha"
        self.last_position = p_now.copy()
        return self._finish(weights, values, single)

    def extra_repr(self):
        return f"mode={self.mode!r}, window={self.D}, gaussian={self.gaussian}"


# --------------------------------------------------------------------------- hard attention and REINFORCE


class HardAttention(Attention):
    """Hard (stochastic) attention (Xu et al. 2015): look at ONE source position, drawn from α.

    Soft attention uses the expectation c = Σ_i α_i v(i); hard attention samples
    i ~ Categorical(α) and uses c = v(i).  Sampling has no derivative, so the
    score's parameters learn by REINFORCE (Williams 1992): for a cost f,

        ∇ E_i[f] = E_i[(f − b) ∇ log α_i]

    where any baseline b not depending on the sample leaves the estimate
    unbiased and a good one (an average of past costs) shrinks its variance.
    ``last_log_prob`` (N, T) holds log α_i of the sampled positions, a tensor in
    the graph: pass it to ``reinforce_loss``.  The values still get ordinary
    gradients through c = v(i).

    Returns (context, weights) with weights the one-hot sample, so that
    context = weights @ values as for every attention layer; ``last_probs`` keeps α.
    In eval() mode the most likely position is taken instead of a sample.
    """

    def forward(self, query, keys, values=None, key_padding_mask=None, attn_mask=None, projected_keys=None):
        query, values, single = self._inputs(query, keys, values)
        scores = self.score(query, keys, projected_keys)
        N, T, S = scores.shape
        allowed = _allowed(key_padding_mask, attn_mask, scores.shape, "HardAttention")
        with scope("softmax"):
            if allowed is not None:
                if not allowed.any(-1).all():
                    raise ValueError("HardAttention: a query has every position masked; there is nothing to sample")
                scores = scores.masked_fill(~allowed, -np.inf)
            log_alpha = scores.log_softmax(-1)
        alpha = np.exp(log_alpha.data)
        with scope("sample"):
            if self.training:
                u = default_rng().random((N, T, 1))
                i = (np.cumsum(alpha, -1) < u).sum(-1)  # inverse CDF
                i = np.minimum(i, S - 1)  # round-off guard
            else:
                i = alpha.argmax(-1)
            n_idx, t_idx = np.arange(N)[:, None], np.arange(T)[None, :]
            self.last_log_prob = log_alpha[n_idx, t_idx, i]
            self.last_log_prob.name = "log alpha_i"
        one_hot = np.zeros((N, T, S), dtype=alpha.dtype)
        one_hot[n_idx, t_idx, i] = 1
        self.last_sample, self.last_probs = i, alpha
        return self._finish(Tensor(one_hot), values, single)


def reinforce_loss(log_prob, cost, baseline=0.0):
    """A surrogate whose gradient is the REINFORCE estimate of ∇ mean_n E[cost_n].

    log_prob: (N,) or (N, T), log-probabilities of the samples drawn for example n
    (e.g. ``HardAttention.last_log_prob``); cost: (N,) per example (no gradient
    needed; it is detached).  Returns mean_n (cost_n − b) Σ_t log p(n, t), whose
    gradient is mean_n (cost_n − b) Σ_t ∇ log p(n, t).  Add it to the loss whose
    pathwise gradient you also want; its value itself means nothing.
    """
    cost = np.asarray(cost)
    baseline = np.asarray(baseline)
    lp = log_prob if log_prob.ndim == 1 else log_prob.reshape(log_prob.shape[0], -1).sum(-1)
    if cost.shape != lp.shape:
        raise ValueError(f"reinforce_loss: cost has shape {cost.shape}, expected one cost per example {lp.shape}")
    advantage = (cost - baseline).astype(lp.dtype)
    return (lp * advantage).mean()


class MovingAverageBaseline:
    """b ← momentum · b + (1 − momentum) · mean(cost): a baseline that reduces REINFORCE's variance.

    ``update(cost)`` returns the baseline *before* seeing this cost, so it does not
    depend on the current samples and the estimate stays unbiased.
    """

    def __init__(self, momentum=0.9):
        self.momentum, self.value = momentum, None

    def update(self, cost):
        cost = float(np.mean(np.asarray(cost)))
        before = 0.0 if self.value is None else self.value  # no past yet: no baseline rather than a biased one
        self.value = cost if self.value is None else self.momentum * self.value + (1 - self.momentum) * cost
        return before


# --------------------------------------------------------------------------- multi-head attention


def _xavier_uniform(shape, fan_in, fan_out):
    bound = math.sqrt(6 / (fan_in + fan_out))
    return default_rng().uniform(-bound, bound, shape).astype(get_default_dtype())


def _additive_mask(mask, name, layer):
    """A PyTorch-style mask as a float array to add to the scores: bool True → −inf (hidden), float as given."""
    m = np.asarray(mask)
    if m.dtype == bool:
        return np.where(m, -np.inf, 0.0).astype(get_default_dtype())
    return F.check_float_mask(m, name, _here(layer))  # the rule of F.scaled_dot_product_attention too


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al. 2017) with ``torch.nn.MultiheadAttention``'s API.

        head_j = softmax(Q_j K_jᵀ / √d + mask) V_j,   Q_j = query W_q,jᵀ + b_q,j  (K_j, V_j alike)
        output = [head_1, …, head_h] W_oᵀ + b_o

    embed_dim E is split into num_heads heads of d = E / num_heads.

    Parameters (PyTorch's names and shapes, so a torch state dict loads):
        in_proj_weight (3E, E) = [W_q; W_k; W_v], in_proj_bias (3E,), out_proj.weight (E, E), out_proj.bias (E,);
        with kdim or vdim ≠ E: q_proj_weight (E, E), k_proj_weight (E, kdim), v_proj_weight (E, vdim) instead;
        add_bias_kv: bias_k, bias_v (1, 1, E) appended to the keys and values; add_zero_attn: a zero key and value.

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
            average_attn_weights=True, is_causal=False)
        query (L, N, E), key (S, N, kdim), value (S, N, vdim), or batch first (N, L, E) ...; or unbatched (L, E) ...
        key_padding_mask (N, S): bool True = padding, or float added to the scores
        attn_mask (L, S) or (N·num_heads, L, S): bool True = may NOT attend, or float added
        is_causal: without attn_mask, hide the future (PyTorch insists on the mask as well; here it is built)
        -> attn_output like query; attn_weights (N, L, S) averaged over heads, or (N, num_heads, L, S)
           with average_attn_weights=False, or None with need_weights=False.

    The weights are dropped out (``dropout``) in training, and returned after dropout, as in PyTorch.
    ``last_weights`` keeps the per-head weights of the last call, (N, num_heads, L, S) (detached),
    whether or not they were asked for.  A query whose every key is masked gets zero weights
    (PyTorch gives NaN there).
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive multiple of num_heads ({num_heads})"
            )
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout <= 1:
            raise ValueError(f"MultiheadAttention: dropout must be a probability in [0, 1], got {dropout!r}")
        E = embed_dim
        self.embed_dim, self.num_heads, self.head_dim = E, num_heads, E // num_heads
        self.kdim, self.vdim = kdim or E, vdim or E
        self.dropout, self.batch_first, self.add_zero_attn = dropout, batch_first, add_zero_attn
        self._qkv_same_embed_dim = self.kdim == E and self.vdim == E
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(_xavier_uniform((3 * E, E), E, 3 * E))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = Parameter(_xavier_uniform((E, E), E, E))
            self.k_proj_weight = Parameter(_xavier_uniform((E, self.kdim), self.kdim, E))
            self.v_proj_weight = Parameter(_xavier_uniform((E, self.vdim), self.vdim, E))
        self.in_proj_bias = Parameter(np.zeros(3 * E, get_default_dtype())) if bias else None
        self.out_proj = Linear(E, E, bias=bias)
        if bias:
            self.out_proj.bias = Parameter(np.zeros(E, get_default_dtype()))
        if add_bias_kv:
            std = math.sqrt(2 / (E + E))  # xavier normal on (1, 1, E): fan_in = fan_out = E
            self.bias_k = Parameter(default_rng().standard_normal((1, 1, E)).astype(get_default_dtype()) * std)
            self.bias_v = Parameter(default_rng().standard_normal((1, 1, E)).astype(get_default_dtype()) * std)
        else:
            self.bias_k = self.bias_v = None
        self.last_weights = None

    def _project(self, x, j, weight):
        """x Wᵀ + b with the j-th block (0 query, 1 key, 2 value) of the packed projection."""
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            weight = self.in_proj_weight[j * E:(j + 1) * E]
        y = (x.reshape(-1, x.shape[-1]) @ weight.T).reshape(*x.shape[:-1], E)  # one 2-D matmul
        return y if self.in_proj_bias is None else y + self.in_proj_bias[j * E:(j + 1) * E]

    def _check(self, query, key, value):
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(
                f"{_here('MultiheadAttention')}: query, key and value must all be 3-D (batched) or "
                f"2-D (unbatched); got {query.shape}, {key.shape}, {value.shape}"
            )
        for name, x, d in (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim)):
            if x.shape[-1] != d:
                raise ValueError(
                    f"{_here('MultiheadAttention')}: {name} has {x.shape[-1]} features "
                    f"(shape {x.shape}), expected {d}"
                )
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"{_here('MultiheadAttention')}: key {key.shape} and value {value.shape} "
                             "differ in length or batch size")
        return batched

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        batched = self._check(query, key, value)
        if not batched:  # work batch first: (N, L, E)
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = np.asarray(key_padding_mask)[None]
        elif not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        N, L, E = query.shape
        if key.shape[0] != N:
            raise ValueError(f"{_here('MultiheadAttention')}: query batch {N} but key batch {key.shape[0]}")

        with scope("query"):
            q = self._project(query, 0, self.q_proj_weight)
            q.name = "query"
        with scope("key"):
            k = self._project(key, 1, self.k_proj_weight)
            k.name = "key"
        with scope("value"):
            v = self._project(value, 2, self.v_proj_weight)
            v.name = "value"
        mask = self._mask(attn_mask, key_padding_mask, is_causal, N, L, key.shape[1], batched)
        k, v, mask = self._extra_keys(k, v, mask)
        weights, heads = self._attend(q, k, v, mask)
        out = _linear(self.out_proj, heads)

        self.last_weights = weights.detach()
        if not batched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        w = weights.mean(1) if average_attn_weights else weights
        return out, (w.squeeze(0) if not batched else w)

    def _mask(self, attn_mask, key_padding_mask, is_causal, N, L, S, batched):
        """Both masks as one float array added to the scores, (N or 1, H or 1, L, S), or None.

        PyTorch's conventions, which this layer keeps: a bool ``attn_mask`` or ``key_padding_mask`` is
        True where a key is *hidden*; a float one is added to the scores (−inf hides).
        """
        H, mask = self.num_heads, None
        if attn_mask is None and is_causal:
            attn_mask = causal_mask(L, S)
        if attn_mask is not None:
            am = _additive_mask(attn_mask, "attn_mask", "MultiheadAttention")
            if am.shape == (L, S):
                mask = am[None, None]
            elif am.shape == (N * H, L, S) or (not batched and am.shape == (H, L, S)):
                mask = am.reshape(N, H, L, S)
            else:
                raise ValueError(
                    f"{_here('MultiheadAttention')}: attn_mask must have shape (L, S) = {(L, S)} or "
                    f"(N·num_heads, L, S) = {(N * H, L, S)}; got {am.shape}"
                )
        if key_padding_mask is not None:
            kpm = _additive_mask(key_padding_mask, "key_padding_mask", "MultiheadAttention")
            if kpm.shape != (N, S):
                raise ValueError(f"{_here('MultiheadAttention')}: key_padding_mask must have shape "
                                 f"(N, S) = {(N, S)}; got {kpm.shape}")
            kpm = kpm[:, None, None, :]
            mask = kpm if mask is None else mask + kpm
        return mask

    def _extra_keys(self, k, v, mask):
        """``add_bias_kv`` and ``add_zero_attn``: one more key (and value) each, which every query may see.

        k, v (N, S, E) -> (N, S + extra, E).  A zero key appended before the heads are split is a zero key
        in every head, as PyTorch appends it after the split.
        """
        N, _, E = k.shape
        extra = []
        if self.bias_k is not None:
            extra.append((self.bias_k.expand(N, 1, E), self.bias_v.expand(N, 1, E)))
        if self.add_zero_attn:
            zeros = Tensor(np.zeros((N, 1, E), k.dtype))
            extra.append((zeros, zeros))
        for k_new, v_new in extra:
            k, v = cat([k, k_new], dim=1), cat([v, v_new], dim=1)
            if mask is not None:
                mask = np.concatenate([mask, np.zeros(mask.shape[:-1] + (1,), mask.dtype)], -1)
        return k, v, mask

    def _attend(self, q, k, v, mask):
        """Scaled dot-product attention in every head: q (N, L, E), k and v (N, S, E) -> weights, heads.

        weights (N, H, L, S) = softmax(q_h k_hᵀ/√d + mask) for each head h; heads (N, L, E) = the heads'
        contexts Σ_s weights v_h side by side, ready for the output projection.
        """
        (N, L, E), S, H, d = q.shape, k.shape[1], self.num_heads, self.head_dim
        q = q.reshape(N, L, H, d).permute(0, 2, 1, 3)  # split the heads: (N, L, E) -> (N, H, L, d)
        k = k.reshape(N, S, H, d).permute(0, 2, 1, 3)
        v = v.reshape(N, S, H, d).permute(0, 2, 1, 3)
        with scope("score"):
            scores = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(d))
            if mask is not None:
                scores = scores + mask.astype(scores.dtype)
            scores.name = "score"
        with scope("softmax"):
            weights = F.masked_softmax(scores)
            weights.name = "attn_weights"
        if self.training and self.dropout > 0:
            weights = F.dropout(weights, self.dropout)
        with scope("context"):
            heads = (weights @ v).permute(0, 2, 1, 3).reshape(N, L, E)  # (N, H, L, d) -> (N, L, E)
            heads.name = "heads"
        return weights, heads

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"

