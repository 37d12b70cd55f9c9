"""tinygrad_seq.functional: gradients (finite differences, first and second order), numerics and errors.

Values and gradients against PyTorch are in test_parity_ops.py; here the
properties that hold whatever the inputs (hypothesis), the numerics that make
the functions safe (huge logits, −inf), and the messages for bad input.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_seq as tg
import tinygrad_seq.functional as F
from tests.strategies import rngs, shapes, uniform


def leaf(a):
    return tg.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def check_both_orders(fn, arrays, second=True):
    inputs = [leaf(a) for a in arrays]
    assert tg.gradcheck(fn, inputs, atol=1e-6, rtol=1e-5)
    if second:
        assert tg.gradgradcheck(fn, inputs, atol=1e-5, rtol=1e-4)


REDUCTIONS = st.sampled_from(["mean", "sum", "none"])
FEW = settings(max_examples=max(3, settings().max_examples // 3))


@st.composite
def class_problems(draw):
    """logits (N, C) or (N, C, T) or (C,), integer targets, some of them ignored."""
    rng = draw(rngs())
    n, c = draw(st.integers(1, 4)), draw(st.integers(2, 4))
    kind = draw(st.sampled_from(["2d", "3d", "1d"]))
    shape, tshape = {"2d": ((n, c), (n,)), "3d": ((n, c, 2), (n, 2)), "1d": ((c,), ())}[kind]
    target = rng.integers(0, c, tshape)
    if kind != "1d" and draw(st.booleans()):
        target = np.where(rng.random(tshape) < 0.3, -100, target)
        target.reshape(-1)[0] = 0  # at least one target counts (a mean over none is 0/0)
    return uniform(rng, shape, -3, 3), target


# --------------------------------------------------------------------------- gradients


@FEW
@given(class_problems(), REDUCTIONS)
def test_cross_entropy_gradients(problem, reduction):
    logits, target = problem
    check_both_orders(lambda x: F.cross_entropy(x, target, reduction=reduction), [logits])


@FEW
@given(class_problems(), REDUCTIONS)
def test_nll_loss_gradients(problem, reduction):
    logits, target = problem
    dim = 0 if logits.ndim == 1 else 1
    check_both_orders(lambda x: F.nll_loss(F.log_softmax(x, dim=dim), target, reduction=reduction), [logits])


@FEW
@given(rngs(), shapes(min_dims=1), REDUCTIONS)
def test_mse_loss_gradients(rng, shape, reduction):
    check_both_orders(lambda a, b: F.mse_loss(a, b, reduction=reduction), [uniform(rng, shape), uniform(rng, shape)])


@FEW
@given(rngs(), shapes(min_dims=1, max_dims=3), st.booleans())
def test_layer_norm_gradients(rng, shape, affine):
    k = rng.integers(1, len(shape) + 1)
    normalized = shape[len(shape) - k:]
    if np.prod(normalized) == 1:  # one value per group: x − mean is 0 and its gradient too; keep the check meaningful
        normalized = shape[-1:] if shape[-1] > 1 else normalized
    x = uniform(rng, shape)
    if affine:
        w, b = uniform(rng, normalized), uniform(rng, normalized)
        check_both_orders(lambda a, w, b: F.layer_norm(a, normalized, w, b), [x, w, b])
    else:
        check_both_orders(lambda a: F.layer_norm(a, normalized, eps=1e-3), [x])


@FEW
@given(rngs(), shapes(min_dims=1, max_dims=2))
def test_embedding_gradients_add_up_repeated_rows(rng, index_shape):
    weight = uniform(rng, (4, 3))
    index = rng.integers(0, 4, index_shape)
    check_both_orders(lambda w: F.embedding(index, w), [weight])
    w = leaf(weight)
    F.embedding(tg.tensor(index), w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], np.bincount(index.reshape(-1), minlength=4))


@FEW
@given(rngs(), shapes(min_dims=1), st.sampled_from([0.2, 0.5, 0.9]))
def test_dropout_gradients_use_the_same_mask(rng, shape, p):
    def fn(x):
        tg.manual_seed(11)  # the same mask at every evaluation of the finite differences
        return F.dropout(x, p)

    check_both_orders(fn, [uniform(rng, shape)])


@FEW
@given(rngs(), shapes(min_dims=1))
def test_softmax_family_gradients(rng, shape):
    dim = int(rng.integers(-len(shape), len(shape)))
    check_both_orders(
        lambda x: (F.softmax(x, dim), F.log_softmax(x, dim=dim), F.logsumexp(x, dim, keepdim=True), F.sigmoid(x)),
        [uniform(rng, shape, -4, 4)],
    )


# --------------------------------------------------------------------------- what the functions mean


def test_cross_entropy_gradient_is_softmax_minus_one_hot_over_n():
    rng = np.random.default_rng(0)
    logits = leaf(rng.standard_normal((5, 4)))
    target = np.array([0, 3, 3, 1, 2])
    F.cross_entropy(logits, target).backward()
    expect = (F.softmax(logits.detach(), 1).numpy() - np.eye(4)[target]) / 5
    np.testing.assert_allclose(logits.grad.numpy(), expect, rtol=1e-13, atol=1e-16)


def test_cross_entropy_ignore_index_rows_add_nothing_and_mean_counts_the_rest():
    rng = np.random.default_rng(1)
    logits = leaf(rng.standard_normal((4, 3)))
    target = np.array([2, -100, 0, -100])
    loss = F.cross_entropy(logits, target)
    per_row = F.cross_entropy(logits, target, reduction="none").numpy()
    assert per_row[1] == 0 and per_row[3] == 0
    np.testing.assert_allclose(loss.item(), per_row.sum() / 2, rtol=1e-14)
    loss.backward()
    assert not logits.grad.numpy()[[1, 3]].any()
    other = F.cross_entropy(logits, np.array([2, 7, 0, 7]), ignore_index=7, reduction="sum")
    np.testing.assert_allclose(other.item(), per_row.sum(), rtol=1e-14)


def test_cross_entropy_sequence_logits_put_classes_on_dim_1():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((2, 5, 3))  # (N, C, T)
    target = rng.integers(0, 5, (2, 3))
    per_step = F.cross_entropy(tg.tensor(logits), target, reduction="none")
    assert per_step.shape == (2, 3)
    flat = F.cross_entropy(tg.tensor(logits.transpose(0, 2, 1).reshape(-1, 5)), target.reshape(-1), reduction="none")
    np.testing.assert_allclose(per_step.numpy().reshape(-1), flat.numpy(), rtol=1e-14)


def test_numerics_survive_huge_and_infinite_logits():
    x = leaf([[1000.0, 0.0, -1000.0], [-1e5, 1e5, 0.0]])
    for y in (F.softmax(x, -1), F.log_softmax(x, -1), F.logsumexp(x, -1), F.cross_entropy(x, np.array([0, 2]))):
        assert np.isfinite(y.numpy()).all()
    F.cross_entropy(x, np.array([0, 2])).backward()
    assert np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(F.softmax(x, -1).numpy(), [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(F.log_softmax(x, -1).numpy(), [[0.0, -1000.0, -2000.0], [-2e5, 0.0, -1e5]])
    with np.errstate(divide="ignore"):  # log(0) on the way to the right answer
        assert F.logsumexp(tg.tensor([[-np.inf, -np.inf]]), -1).item() == -np.inf  # not NaN
    assert F.logsumexp(tg.tensor([[-np.inf, 0.0]]), -1).item() == 0.0
    s = tg.tensor(np.array([-800.0, 800.0]), dtype=np.float64).sigmoid().numpy()
    assert s[0] == 0.0 and s[1] == 1.0


def test_layer_norm_normalises_each_group():
    rng = np.random.default_rng(3)
    x = tg.tensor(rng.standard_normal((4, 2, 6)) * 5 + 3)
    y = F.layer_norm(x, (2, 6), eps=0.0).numpy().reshape(4, -1)
    np.testing.assert_allclose(y.mean(1), 0, atol=1e-14)
    np.testing.assert_allclose(y.var(1), 1, rtol=1e-12)
    w, b = tg.tensor(np.full(6, 2.0)), tg.tensor(np.full(6, -1.0))
    z = F.layer_norm(x, 6, w, b, eps=0.0).numpy()
    np.testing.assert_allclose(z.mean(-1), -1, atol=1e-13)


def test_dropout_is_seedable_scaled_and_off_in_eval():
    x = tg.ones(2000)
    tg.manual_seed(4)
    a = F.dropout(x, 0.3).numpy()
    tg.manual_seed(4)
    b = F.dropout(x, 0.3).numpy()
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((a == 0).mean() - 0.3) < 0.05
    assert a.dtype == np.float32
    assert F.dropout(x, 0.3, training=False) is x and F.dropout(x, 0.0) is x
    assert not F.dropout(x, 1.0).numpy().any()


def test_one_hot():
    y = F.one_hot(tg.tensor([[0, 2], [1, 1]]), 4)
    assert y.shape == (2, 2, 4) and y.dtype == np.int64
    np.testing.assert_array_equal(y.numpy().argmax(-1), [[0, 2], [1, 1]])
    assert F.one_hot(np.array([3, 0])).shape == (2, 4)


# --------------------------------------------------------------------------- errors


def test_errors_name_the_function_and_what_is_wrong():
    logits = tg.zeros(3, 4)
    msg = "cross_entropy in loss: targets must be integer class indices, got dtype float64"
    with tg.scope("loss"), pytest.raises(TypeError, match=msg):
        F.cross_entropy(logits, np.array([0.0, 1.0, 2.0]))
    msg = r"cross_entropy: logits of shape \(3, 4\) need targets of shape \(3,\), got \(2,\)"
    with pytest.raises(ValueError, match=msg):
        F.cross_entropy(logits, np.array([0, 1]))
    with pytest.raises(IndexError, match=r"cross_entropy: target 4 is not a class index in \[0, 4\)"):
        F.cross_entropy(logits, np.array([0, 4, 1]))
    with pytest.raises(IndexError, match=r"nll_loss: target -1 is not a class index in \[0, 4\)"):
        F.nll_loss(logits, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        F.cross_entropy(logits, np.array([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match=r"mse_loss: input shape \(3, 4\) and target shape \(4,\) differ"):
        F.mse_loss(logits, tg.zeros(4))
    with pytest.raises(ValueError, match="dropout probability must be in \\[0, 1\\], got 1.5"):
        F.dropout(logits, 1.5)
    with pytest.raises(ValueError, match=r"layer_norm: input shape \(3, 4\) does not end in normalized_shape \(3,\)"):
        F.layer_norm(logits, 3)
    with pytest.raises(IndexError, match=r"embedding: index out of range \[0, 3\): got 0..5"):
        F.embedding(np.array([0, 5]), tg.zeros(3, 2))
    with pytest.raises(TypeError, match="embedding: indices must be integers, got dtype float64"):
        F.embedding(np.array([0.0]), tg.zeros(3, 2))
    with pytest.raises(TypeError, match="one_hot needs integer classes"):
        F.one_hot(np.array([0.5]))
    with pytest.raises(IndexError, match=r"one_hot: classes must lie in \[0, 2\)"):
        F.one_hot(np.array([0, 2]), 2)


def test_module_exports():
    assert set(F.__all__) >= {
        "softmax", "log_softmax", "logsumexp", "cross_entropy", "nll_loss", "mse_loss", "dropout", "layer_norm",
        "one_hot", "embedding",
    }
