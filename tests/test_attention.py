"""Attention layers: gradients (finite differences, float64), masks, local windows, hard attention and REINFORCE."""

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_seq as tg
import tinygrad_seq.functional as F
from tinygrad_seq import nn
from tinygrad_seq.nn.attention import (
    MovingAverageBaseline,
    causal_mask,
    make_score,
    padding_mask,
    reinforce_loss,
)
from tinygrad_seq.nn.transformer import gelu

N, T, S, D = 2, 3, 5, 4


def _randn(*shape, seed=0, requires_grad=True):
    return tg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=requires_grad)


def _params(module):
    return [p for p in module.parameters()]


SCORE_ARGS = {
    "dot": {},
    "scaled_dot": {},
    "general": dict(query_dim=D, key_dim=D + 1),
    "additive": dict(query_dim=D, key_dim=D + 1, hidden_dim=3),
    "location": dict(query_dim=D, max_len=S + 2),
    "cosine": dict(beta=2.0),
}


def _key_dim(name):
    return SCORE_ARGS[name].get("key_dim", D)


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("score", sorted(SCORE_ARGS))
def test_gradcheck_every_score_through_global_attention(float64, score):
    attn = nn.Attention(score, **SCORE_ARGS[score])
    q, k, v = _randn(N, T, D, seed=1), _randn(N, S, _key_dim(score), seed=2), _randn(N, S, 3, seed=3)
    kpm = padding_mask([S, S - 2])
    assert tg.gradcheck(lambda q, k, v, *ps: attn(q, k, v, key_padding_mask=kpm), [q, k, v, *_params(attn)])


def test_gradcheck_learned_cosine_strength(float64):
    score = nn.CosineScore(beta=1.5, learn_beta=True)
    q, k = _randn(N, T, D, seed=1), _randn(N, S, D, seed=2)
    assert tg.gradcheck(lambda q, k, b: score(q, k), [q, k, score.beta])


def test_gradcheck_one_step_query(float64):
    attn = nn.Attention("additive", query_dim=D, key_dim=D)
    q, k = _randn(N, D, seed=1), _randn(N, S, D, seed=2)
    context, weights = attn(q, k)
    assert context.shape == (N, D) and weights.shape == (N, S)
    assert tg.gradcheck(lambda q, k, *ps: attn(q, k), [q, k, *_params(attn)])


@pytest.mark.parametrize("mode", ["m", "p"])
@pytest.mark.parametrize("score", ["general", "dot"])
def test_gradcheck_local_attention(float64, mode, score):
    attn = nn.LocalAttention(score, window=2, mode=mode, query_dim=D, key_dim=D)
    q, k = _randn(N, T, D, seed=4), _randn(N, S + 3, D, seed=5)
    kpm = padding_mask([S + 3, S])
    assert tg.gradcheck(lambda q, k, *ps: attn(q, k, key_padding_mask=kpm), [q, k, *_params(attn)])


def test_local_p_learns_through_the_predicted_position(float64):
    attn = nn.LocalAttention("dot", window=2, mode="p", query_dim=D)
    q, k = _randn(N, T, D, seed=4), _randn(N, 8, D, seed=5)
    context, _ = attn(q, k)
    ((context + 1) ** 2).mean().backward()
    # the weights reach W_p and v_p only through p(t) and the Gaussian
    assert np.abs(attn.W_p.weight.grad.data).max() > 1e-6
    assert np.abs(attn.v_p.weight.grad.data).max() > 1e-6


def test_gradcheck_hard_attention_values_path(float64):
    attn = nn.HardAttention("dot")
    q, k, v = _randn(N, T, D, seed=1), _randn(N, S, D, seed=2), _randn(N, S, 3, seed=3)

    def fn(v):
        tg.manual_seed(7)  # the same sample on every evaluation
        return attn(q, k, v)[0]

    assert tg.gradcheck(fn, [v])


def test_gradcheck_reinforce_surrogate(float64):
    attn = nn.HardAttention("general", query_dim=D, key_dim=D)
    q, k = _randn(N, T, D, seed=1), _randn(N, S, D, seed=2)
    cost = np.array([0.5, -1.0])

    def fn(q, *ps):
        tg.manual_seed(3)
        attn(q, k)
        return reinforce_loss(attn.last_log_prob, cost, baseline=0.2)

    assert tg.gradcheck(fn, [q, *_params(attn)])


def test_gradcheck_scaled_dot_product_attention(float64):
    q, k, v = _randn(2, T, D, seed=1), _randn(2, S, D, seed=2), _randn(2, S, 3, seed=3)
    m = np.random.default_rng(0).random((T, S)) < 0.7
    m[:, 0] = True
    fm = _randn(T, S, seed=9, requires_grad=False)
    assert tg.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=m), [q, k, v])
    assert tg.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=fm), [q, k, v])
    assert tg.gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), [q, k, v])


@pytest.mark.parametrize("batch_first", [False, True])
def test_gradcheck_multihead_attention(float64, batch_first):
    mha = nn.MultiheadAttention(4, 2, batch_first=batch_first, kdim=3, vdim=5)
    shape = (lambda L, E: (N, L, E)) if batch_first else (lambda L, E: (L, N, E))
    q, k, v = _randn(*shape(T, 4), seed=1), _randn(*shape(S, 3), seed=2), _randn(*shape(S, 5), seed=3)
    kpm = padding_mask([S, 3])
    assert tg.gradcheck(lambda q, k, v, *ps: mha(q, k, v, key_padding_mask=kpm, average_attn_weights=False),
                        [q, k, v, *_params(mha)])


@pytest.mark.parametrize("norm_first", [False, True])
def test_gradcheck_transformer_layers(float64, norm_first):
    enc = nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0, activation="gelu", norm_first=norm_first)
    dec = nn.TransformerDecoderLayer(4, 2, dim_feedforward=6, dropout=0.0, norm_first=norm_first)
    src, tgt = _randn(S, N, 4, seed=1), _randn(T, N, 4, seed=2)
    tmask = nn.Transformer.generate_square_subsequent_mask(T)

    def fn(src, tgt, *ps):
        return dec(tgt, enc(src), tgt_mask=tmask)

    assert tg.gradcheck(fn, [src, tgt, *_params(enc), *_params(dec)])


def test_gradcheck_positional_encodings_and_gelu(float64):
    x = _randn(S, N, 6, seed=1)
    learned = nn.LearnedPositionalEncoding(6, dropout=0.0, max_len=10)
    assert tg.gradcheck(lambda x, w: learned(x), [x, learned.embedding.weight])
    assert tg.gradcheck(lambda x: nn.PositionalEncoding(6, dropout=0.0)(x), [x])
    assert tg.gradcheck(gelu, [x])
    assert tg.gradcheck(lambda x: gelu(x, approximate="tanh"), [x])


# --------------------------------------------------------------------------- masks


@given(
    n=st.integers(1, 3), t=st.integers(1, 4), s=st.integers(1, 6),
    seed=st.integers(0, 10_000), score=st.sampled_from(["dot", "general", "additive", "cosine"]),
)
def test_masked_positions_get_exactly_zero_weight_and_the_rest_sum_to_one(n, t, s, seed, score):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, s + 1, size=n)
    hidden = rng.random((t, s)) < 0.3
    hidden[:, 0] = False  # every query keeps at least the first position
    attn = nn.Attention(score, query_dim=3, key_dim=3, hidden_dim=2)
    q, k = tg.tensor(rng.standard_normal((n, t, 3))), tg.tensor(rng.standard_normal((n, s, 3)))
    _, w = attn(q, k, key_padding_mask=padding_mask(lengths, s), attn_mask=hidden)
    w = w.data
    masked = padding_mask(lengths, s)[:, None, :] | hidden[None]
    assert np.all(w[masked] == 0.0)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
    assert np.all(w[~masked] > 0)


def test_padding_cannot_change_the_context(float64):
    attn = nn.Attention("additive", query_dim=D, key_dim=D)
    q, k = _randn(N, T, D, seed=1), _randn(N, S, D, seed=2)
    kpm = padding_mask([S, 2])
    c1, _ = attn(q, k, key_padding_mask=kpm)
    k2 = k.data.copy()
    k2[1, 2:] = 1e3  # garbage in the padding
    c2, _ = attn(q, tg.tensor(k2), key_padding_mask=kpm)
    assert np.array_equal(c1.data, c2.data)
    ((c1 + 1) ** 2).mean().backward()
    assert np.all(k.grad.data[1, 2:] == 0)


def test_causal_masks_hide_the_future(float64):
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    x = _randn(N, S, 4, seed=1)
    out, w = mha(x, x, x, is_causal=True, average_attn_weights=False)
    assert np.all(np.triu(np.ones((S, S), bool), 1)[None, None] <= (w.data == 0))
    # output at step 1 depends on inputs 0 and 1 only
    out[:, 1].sum().backward()
    assert np.all(x.grad.data[:, 2:] == 0) and np.any(x.grad.data[:, :2] != 0)
    assert np.array_equal(causal_mask(3), [[False, True, True], [False, False, True], [False, False, False]])
    f = nn.Transformer.generate_square_subsequent_mask(3).data
    assert np.array_equal(np.isinf(f), causal_mask(3)) and np.all(f[~causal_mask(3)] == 0)


def test_a_query_with_nothing_to_see_gets_zero_weights_not_nan():
    attn = nn.Attention("dot")
    q, k = _randn(1, 2, D, seed=1), _randn(1, 3, D, seed=2)
    hidden = np.array([[True, True, True], [False, True, False]])
    c, w = attn(q, k, attn_mask=hidden)
    assert np.all(w.data[0, 0] == 0) and np.all(c.data[0, 0] == 0)
    assert np.isfinite(w.data).all()
    (c * c).sum().backward()
    assert np.isfinite(q.grad.data).all()


# --------------------------------------------------------------------------- local attention


@pytest.mark.parametrize("seed", range(5))
def test_local_p_weights_vanish_outside_the_window(seed):
    rng = np.random.default_rng(seed)
    Dw, s = 2, 12
    attn = nn.LocalAttention("general", window=Dw, mode="p", query_dim=D, key_dim=D)
    lengths = np.array([12, 7, 3])
    q, k = tg.tensor(rng.standard_normal((3, 4, D)) * 3), tg.tensor(rng.standard_normal((3, s, D)))
    _, w = attn(q, k, key_padding_mask=padding_mask(lengths, s))
    p = attn.last_position
    assert p.shape == (3, 4)
    assert np.all(p >= 0) and np.all(p <= (lengths - 1)[:, None])
    dist = np.abs(np.arange(s) - p[..., None])
    outside = (dist > Dw) | padding_mask(lengths, s)[:, None, :]
    assert np.all(w.data[outside] == 0.0)
    assert np.all(w.data[~outside] > 0)
    # inside the window: softmax weights times the Gaussian exp(−(i − p)² / 2σ²), σ = D/2 — each ≤ its softmax share
    gauss = np.exp(-(dist**2) / (2 * (Dw / 2) ** 2))
    ratio = w.data[~outside] / gauss[~outside]
    assert np.all(ratio <= 1 + 1e-6)


def test_local_m_centres_the_window_on_the_step():
    attn = nn.LocalAttention("dot", window=1, mode="m")
    q, k = _randn(1, 4, D, seed=1, requires_grad=False), _randn(1, 6, D, seed=2, requires_grad=False)
    _, w = attn(q, k)
    band = np.abs(np.arange(6)[None, :] - np.arange(4)[:, None]) <= 1
    assert np.array_equal(w.data[0] > 0, band)
    np.testing.assert_allclose(w.data.sum(-1), 1.0, rtol=1e-5)  # no Gaussian in local-m: a softmax over the window
    _, w5 = attn(q[:, 0], k, t=5)  # one decoder step, t given explicitly
    assert np.array_equal(w5.data[0] > 0, [False, False, False, False, True, True])


# --------------------------------------------------------------------------- hard attention and REINFORCE


def test_hard_attention_samples_from_alpha():
    attn = nn.HardAttention("dot")
    rng = np.random.default_rng(0)
    n = 4000
    q = tg.tensor(np.broadcast_to(rng.standard_normal(D), (n, D)).copy())
    k = tg.tensor(np.broadcast_to(rng.standard_normal((S, D)), (n, S, D)).copy())
    _, w = attn(q, k)
    assert w.shape == (n, S) and np.all(w.data.sum(-1) == 1)
    freq = w.data.mean(0)
    alpha = attn.last_probs[0, 0]
    assert np.all(np.abs(freq - alpha) < 4 * np.sqrt(alpha * (1 - alpha) / n) + 1e-3)
    attn.eval()
    _, w = attn(q[:3], k[:3])
    assert np.all(w.data.argmax(-1) == alpha.argmax())


def _reinforce_estimates(use_baseline, n=20_000):
    """Per-sample REINFORCE gradients of E[f] w.r.t. the query, and the exact gradient."""
    rng = np.random.default_rng(1)
    q0, K, V, target = rng.standard_normal(3), rng.standard_normal((4, 3)), rng.standard_normal((4, 2)), np.ones(2)
    f = ((V - target) ** 2).sum(-1)  # the cost of looking at each position
    alpha = np.exp(K @ q0 - (K @ q0).max())
    alpha /= alpha.sum()
    exact = K.T @ (alpha * (f - alpha @ f))  # ∇_q Σ_i α_i f_i with α = softmax(K q)

    attn = nn.HardAttention("dot")
    q = tg.tensor(np.tile(q0, (n, 1)), requires_grad=True)
    c, _ = attn(q, tg.tensor(np.broadcast_to(K, (n, 4, 3)).copy()), tg.tensor(np.broadcast_to(V, (n, 4, 2)).copy()))
    cost = ((c.data - target) ** 2).sum(-1)
    b = alpha @ f if use_baseline else 0.0
    reinforce_loss(attn.last_log_prob, cost, baseline=b).backward()
    return q.grad.data * n, exact  # row i: (f_i − b) ∇ log α_{sample i}


@pytest.mark.parametrize("use_baseline", [False, True])
def test_reinforce_is_unbiased(float64, use_baseline):
    per_sample, exact = _reinforce_estimates(use_baseline)
    mean, se = per_sample.mean(0), per_sample.std(0) / np.sqrt(len(per_sample))
    assert np.all(np.abs(mean - exact) < 4.5 * se), (mean, exact, se)
    assert np.abs(exact).max() > 5 * se.max()  # the test could tell a wrong sign or a wrong scale


def test_a_baseline_reduces_variance(float64):
    without, _ = _reinforce_estimates(False, 5000)
    with_b, _ = _reinforce_estimates(True, 5000)
    assert with_b.var(0).sum() < 0.5 * without.var(0).sum()


def test_moving_average_baseline_uses_only_the_past():
    b = MovingAverageBaseline(momentum=0.5)
    assert b.update([2.0, 4.0]) == 0.0
    assert b.update([10.0]) == 3.0
    assert b.update([0.0]) == 6.5


# --------------------------------------------------------------------------- names, scopes, shapes, errors


def test_scopes_and_names_read_like_the_figure():
    attn = nn.Attention("additive", query_dim=D, key_dim=D)
    c, w = attn(_randn(N, D, seed=1), _randn(N, S, D, seed=2))
    assert w.scope == "Attention/softmax" and c.scope.startswith("Attention/context")
    assert w.parents[0].scope == "Attention/softmax"
    mha = nn.MultiheadAttention(4, 2)
    x = _randn(S, N, 4, seed=1)
    out, _ = mha(x, x, x)
    scopes = set()
    stack = [out]
    while stack:
        t = stack.pop()
        scopes.add(t.scope)
        stack.extend(t.parents)
    for part in ("query", "key", "value", "score", "softmax", "context"):
        assert f"MultiheadAttention/{part}" in scopes
    assert mha.last_weights.shape == (N, 2, S, S)
    assert np.array_equal(attn.last_weights.data, w.data)


def test_weights_shapes_of_multihead_attention():
    mha = nn.MultiheadAttention(6, 3, batch_first=True)
    q, kv = _randn(N, T, 6, seed=1), _randn(N, S, 6, seed=2)
    out, w = mha(q, kv, kv)
    assert out.shape == (N, T, 6) and w.shape == (N, T, S)
    _, w = mha(q, kv, kv, average_attn_weights=False)
    assert w.shape == (N, 3, T, S)
    np.testing.assert_allclose(w.data.mean(1), mha(q, kv, kv)[1].data, rtol=1e-6)
    assert mha(q, kv, kv, need_weights=False)[1] is None
    out, w = mha(q[0], kv[0], kv[0])  # unbatched
    assert out.shape == (T, 6) and w.shape == (T, S)


def test_clear_errors():
    with pytest.raises(ValueError, match="query has size 4 but the keys have size 5"):
        nn.Attention("dot")(_randn(N, D), _randn(N, S, 5))
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        nn.Attention("dot")(_randn(N, D), _randn(N, S, D), key_padding_mask=np.zeros((N, S + 1), bool))
    with pytest.raises(ValueError, match="source length 9 exceeds max_len 5"):
        nn.Attention("location", query_dim=D, max_len=5)(_randn(N, D), _randn(N, 9, D))
    with pytest.raises(ValueError, match="multiple of num_heads"):
        nn.MultiheadAttention(5, 2)
    with pytest.raises(ValueError, match="key has 3 features"):
        nn.MultiheadAttention(4, 2)(_randn(T, N, 4), _randn(S, N, 3), _randn(S, N, 4))
    with pytest.raises(ValueError, match="attn_mask must have shape"):
        nn.MultiheadAttention(4, 2)(_randn(T, N, 4), _randn(S, N, 4), _randn(S, N, 4), attn_mask=np.zeros((T, T), bool))
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(_randn(T, D), _randn(T, D), _randn(T, D), attn_mask=np.ones((T, T), bool),
                                       is_causal=True)
    with pytest.raises(ValueError, match="unknown score"):
        make_score("bilinear")
    with pytest.raises(ValueError, match="mode must be"):
        nn.LocalAttention("dot", mode="q")


def test_stacks_copy_the_layer_and_the_copies_are_independent():
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8)
    enc = nn.TransformerEncoder(layer, 2)
    names = [n for n, _ in enc.named_parameters()]
    assert "layers.1.self_attn.in_proj_weight" in names and "layers.0.linear2.bias" in names
    w0, w1 = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert w0 is not w1 and np.array_equal(w0.data, w1.data)
    assert copy.deepcopy(layer).self_attn.in_proj_weight is not layer.self_attn.in_proj_weight


def test_attention_dropout_keeps_the_expected_output(float64):
    q, k, v = _randn(1, 2, 3, seed=1), _randn(1, 4, 3, seed=2), _randn(1, 4, 2, seed=3)
    plain = F.scaled_dot_product_attention(q, k, v).data
    draws = np.stack([F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).data for _ in range(3000)])
    assert np.any(draws[0] != plain)  # something was dropped
    np.testing.assert_allclose(draws.mean(0), plain, atol=4 * draws.std(0).max() / np.sqrt(3000))


def test_multihead_attention_dropout_only_in_training():
    mha = nn.MultiheadAttention(4, 2, dropout=0.5, batch_first=True)
    x = _randn(2, 6, 4, seed=1, requires_grad=False)
    _, w = mha(x, x, x, average_attn_weights=False)
    assert np.mean(w.data == 0) > 0.3  # about half the weights dropped (and the rest doubled)
    assert w.data.max() > 1.0 or np.any(w.data.sum(-1) > 1.0 + 1e-6)
    mha.eval()
    _, w = mha(x, x, x, average_attn_weights=False)
    assert np.all(w.data > 0)
    np.testing.assert_allclose(w.data.sum(-1), 1.0, rtol=1e-5)


# --------------------------------------------------------------------------- what the scores favour

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # float64 only sets the dtype


@fixture_ok
@given(s=st.integers(2, 12), beta=st.floats(0.1, 4.0), stretch=st.floats(1.5, 20.0), seed=st.integers(0, 2**16))
def test_cosine_is_blind_to_key_length_and_bounded_by_its_strength(float64, s, beta, stretch, seed):
    """cos weights: unchanged when a key is stretched, and never above 1 / (1 + (S − 1) e^{−2β})."""
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((1, 4)), rng.standard_normal((1, s, 4))
    attn = nn.Attention("cosine", beta=beta)
    w = attn(tg.tensor(q), tg.tensor(k))[1].data
    longer = k.copy()
    longer[0, 0] *= stretch
    np.testing.assert_allclose(attn(tg.tensor(q), tg.tensor(longer))[1].data, w, atol=1e-12)
    assert w.max() <= 1 / (1 + (s - 1) * np.exp(-2 * beta)) + 1e-12


@fixture_ok
@given(stretch=st.floats(1.5, 20.0), seed=st.integers(0, 2**16))
def test_dot_scores_grow_with_the_key_and_scaled_dot_divides_by_root_d(float64, stretch, seed):
    """e = sᵀh is linear in ‖h‖: stretching a key with sᵀh > 0 raises its weight; scaled dot is e / √d."""
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((1, 1, 6)), rng.standard_normal((1, 5, 6))
    j = int(np.argmax(k[0] @ q[0, 0]))  # a key with a positive score (the largest one is)
    if k[0, j] @ q[0, 0] <= 0:
        return
    e = make_score("dot")(tg.tensor(q), tg.tensor(k)).data
    np.testing.assert_allclose(make_score("scaled_dot")(tg.tensor(q), tg.tensor(k)).data, e / np.sqrt(6), rtol=1e-12)
    longer = k.copy()
    longer[0, j] *= stretch
    e_long = make_score("dot")(tg.tensor(q), tg.tensor(longer)).data
    np.testing.assert_allclose(e_long[0, 0, j], stretch * e[0, 0, j], rtol=1e-12)
    w, w_long = F.softmax(tg.tensor(e), -1).data, F.softmax(tg.tensor(e_long), -1).data
    assert w_long[0, 0, j] > w[0, 0, j]
