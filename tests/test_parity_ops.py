"""Every op and functional against PyTorch: same float64 inputs, values and gradients to 1e-10 relative.

Each case is one function ``f(lib, F, *xs)`` run twice: with ``lib = tinygrad_seq``,
``F = tinygrad_seq.functional`` and our Tensors, and with ``lib = torch``,
``F = torch.nn.functional`` and torch tensors.  Because the names are the same
the same code runs in both, which also checks that the API mirrors PyTorch's.
The loss is weighted and non-uniform, ``mean(w ⊙ (out + 1)²)``, so a gradient
that is transposed, summed the wrong way or scaled wrong cannot agree by luck.

Inputs include the awkward points on purpose: ties for max/min/maximum, zeros
for relu/abs, values exactly on clip bounds, repeated indices.  There the
derivative is a convention, and the convention must be PyTorch's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as torch_F

import tinygrad_seq as tg
import tinygrad_seq.functional as tg_F

RTOL = 1e-10
rng = np.random.default_rng(1234)


def randn(*shape):
    return rng.standard_normal(shape)


def positive(*shape):
    return rng.uniform(0.3, 2.0, shape)


def const(lib, array):
    """A constant (no gradient) of the right library: index arrays, masks, targets."""
    return tg.tensor(array) if lib is tg else torch.tensor(array)


def ties(*shape):
    """Small integers: many exact ties and zeros."""
    return rng.integers(-2, 3, shape).astype(np.float64)


# every row and every column has a tied maximum or minimum; zeros for relu and abs, ±1 for clamp's bounds
TIES = np.array([[3.0, 3.0, 0.0, 0.0], [1.0, 3.0, -1.0, -1.0], [3.0, 0.0, -1.0, -1.0]])

CASES = {
    # ---- arithmetic, broadcasting and Python scalars on either side
    "add": (lambda L, F, a, b: a + b, [randn(3, 1, 4), randn(2, 4)]),
    "sub": (lambda L, F, a, b: a - b, [randn(2, 4), randn(3, 1, 4)]),
    "mul": (lambda L, F, a, b: a * b, [randn(3, 1), randn(1, 5)]),
    "div": (lambda L, F, a, b: a / b, [randn(2, 3), positive(3)]),
    "scalars_left_and_right": (
        lambda L, F, a: (2 + a, a + 2, 2 - a, a - 2.5, 3 * a, a * 3, 2 / (a + 3), (a + 3) / 2, -a, +a),
        [randn(2, 3)],
    ),
    "pow_number": (lambda L, F, a: (a**2, a**3, a**-2, a**0.5), [positive(2, 3)]),
    "pow_int_negative_base": (lambda L, F, a: (a**2, a**3, a.pow(2)), [randn(4)]),
    "pow_zero_base": (lambda L, F, a, b: a**b, [np.array([0.0, 0.5, 2.0]), np.array([2.0, 1.5, 2.0])]),
    "pow_tensor_exponent": (lambda L, F, a, b: a**b, [positive(2, 3), randn(3)]),
    "rpow": (lambda L, F, a: (2**a, 0.5**a), [randn(2, 3)]),
    # ---- matmul: 1-D, 2-D, batched, broadcast batch dims
    "matmul_vv": (lambda L, F, a, b: a @ b, [randn(4), randn(4)]),
    "matmul_vm": (lambda L, F, a, b: a @ b, [randn(4), randn(4, 3)]),
    "matmul_mv": (lambda L, F, a, b: a @ b, [randn(3, 4), randn(4)]),
    "matmul_mm": (lambda L, F, a, b: L.matmul(a, b), [randn(3, 4), randn(4, 5)]),
    "matmul_batched": (lambda L, F, a, b: a @ b, [randn(2, 3, 4), randn(2, 4, 5)]),
    "matmul_broadcast_batch": (lambda L, F, a, b: a @ b, [randn(2, 1, 3, 4), randn(5, 4, 2)]),
    "matmul_shared_weight": (lambda L, F, a, b: (a @ b, a.transpose(0, 1) @ b), [randn(2, 3, 4), randn(4, 5)]),
    "matmul_vector_batched": (lambda L, F, a, b: (a @ b, b.transpose(-1, -2) @ a), [randn(4), randn(2, 4, 3)]),
    "matmul_batched_vector": (lambda L, F, a, b: a @ b, [randn(2, 3, 4), randn(4)]),
    "matmul_constant_weight": (lambda L, F, a: const(L, np.ones((2, 3)) * 0.5) @ a, [randn(3, 4)]),
    # ---- elementwise functions
    "exp": (lambda L, F, a: a.exp(), [randn(2, 3)]),
    "log": (lambda L, F, a: a.log(), [positive(2, 3)]),
    "sqrt": (lambda L, F, a: a.sqrt(), [positive(2, 3)]),
    "tanh": (lambda L, F, a: (a.tanh(), L.tanh(a)), [randn(2, 3)]),
    "trigonometric": (lambda L, F, a: (a.sin(), L.cos(a), L.sinh(a), a.cosh()), [randn(2, 3)]),
    "triangles": (lambda L, F, a: (L.tril(a), L.triu(a, 1), L.tril(a, -1)), [randn(3, 4)]),
    "pytorch_surface": (lambda L, F, a, b: (L.bmm(a, b), a.narrow(1, 1, 2), a.t() if a.ndim == 2 else a[0].t(),
                                            L.repeat_interleave(a, 2, dim=1), a.topk(2, dim=-1)[0],
                                            L.sum(a, 1), L.unsqueeze(a, 0), L.pow(a, 2)),
                        [randn(2, 3, 4), randn(2, 4, 2)]),
    "sigmoid": (lambda L, F, a: (a.sigmoid(), L.sigmoid(a)), [np.array([-800.0, -40.0, -3.0, 0.0, 2.0, 40.0, 800.0])]),
    "relu_with_zeros": (lambda L, F, a: (a.relu(), L.relu(a), F.relu(a)), [TIES]),
    "abs_with_zeros": (lambda L, F, a: a.abs(), [TIES]),
    "maximum_ties": (lambda L, F, a, b: (L.maximum(a, b), a.maximum(b)), [ties(3, 4), ties(4)]),
    "minimum_ties": (lambda L, F, a, b: (L.minimum(a, b), a.minimum(b)), [ties(3, 4), ties(3, 1)]),
    "clamp_on_bounds": (
        lambda L, F, a: (a.clamp(-1.0, 1.0), a.clamp(min=0.0), a.clamp(max=-1.0), a.clip(-1.0, 1.0)),
        [TIES],
    ),
    "where_broadcast": (
        lambda L, F, a, b: L.where(const(L, np.array([True, False, True])), a, b),
        [randn(2, 3), randn(2, 1)],
    ),
    "where_scalars": (
        lambda L, F, a: (L.where(a > 0, a, 0.0), L.where(a > 0, 1.0, a), a.masked_fill(a < 0, 2.0)),
        [randn(3, 4)],
    ),
    # ---- reductions
    "sum": (lambda L, F, a: (a.sum(), a.sum(0), a.sum(dim=-1, keepdim=True), a.sum((0, 2))), [randn(2, 3, 4)]),
    "mean": (lambda L, F, a: (a.mean(), a.mean(1), a.mean(dim=(0, -1), keepdim=True)), [randn(2, 3, 4)]),
    "amax_amin_ties": (
        lambda L, F, a: (a.amax(), a.amax(1), a.amin(dim=0, keepdim=True), a.amax((0, 1))),
        [TIES],
    ),
    "max_min_full_ties": (lambda L, F, a: (a.max(), a.min()), [TIES]),
    "max_min_dim_ties": (
        lambda L, F, a: (a.max(1)[0], a.max(dim=0, keepdim=True).values, a.min(-1)[0], a.min(0, True)[0]),
        [TIES],
    ),
    "var_std": (
        lambda L, F, a: (a.var(), a.var(1), a.var(0, keepdim=True), a.var(1, correction=0), a.std(1), a.std()),
        [randn(3, 4)],
    ),
    "softmax": (lambda L, F, a: (a.softmax(-1), F.softmax(a, dim=0), a.softmax(1)), [randn(2, 3, 4) * 10]),
    "log_softmax": (lambda L, F, a: (a.log_softmax(-1), F.log_softmax(a, dim=1)), [randn(3, 4) * 10]),
    "logsumexp": (lambda L, F, a: (a.logsumexp(-1), L.logsumexp(a, 0, keepdim=True)), [randn(3, 4) * 30]),
    "top_level_functions": (
        lambda L, F, a: (L.exp(a), L.log(a), L.sqrt(a), L.abs(a - 1), L.softmax(a, 0), L.log_softmax(a, dim=-1)),
        [positive(3, 4)],
    ),
    "softmax_large_logits": (lambda L, F, a: (a.softmax(-1), a.log_softmax(-1)), [np.array([[1000.0, 0.0, -1000.0]])]),
    # ---- shapes
    "reshape_view": (lambda L, F, a: (a.reshape(4, 6), a.view(-1, 2), a.reshape((2, 12))), [randn(2, 3, 4)]),
    "flatten": (lambda L, F, a: (a.flatten(), a.flatten(1), a.flatten(0, 1), a.flatten(-2, -1)), [randn(2, 3, 4)]),
    "permute_transpose": (
        lambda L, F, a: (a.permute(2, 0, 1), a.permute((1, 2, 0)), a.transpose(0, 2), a.transpose(-1, -2)),
        [randn(2, 3, 4)],
    ),
    "T": (lambda L, F, a: a.T, [randn(3, 4)]),
    "expand": (lambda L, F, a: (a.expand(2, 3, 4), a.expand(-1, 4), a.expand(5, -1, -1)), [randn(3, 1)]),
    "squeeze_unsqueeze": (
        lambda L, F, a: (a.squeeze(), a.squeeze(1), a.squeeze(0), a.unsqueeze(0), a.unsqueeze(-1), a.unsqueeze(2)),
        [randn(2, 1, 3)],
    ),
    # ---- indexing
    "getitem_basic": (
        lambda L, F, a: (a[1], a[-1, 1:], a[:, ::2], a[None, 0], a[..., 1], a[0, :, None], a[1:, -2]),
        [randn(3, 4, 2)],
    ),
    "getitem_int_array_repeats": (
        lambda L, F, a: (
            a[const(L, np.array([0, 2, 0, 0]))], a[[1, 1, -1]], a[:, const(L, np.array([[0, 0], [3, 1]]))]
        ),
        [randn(3, 4)],
    ),
    "getitem_mixed_advanced": (
        lambda L, F, a: (
            a[const(L, np.array([0, 1, 1])), :, const(L, np.array([1, 0, 1]))],
            a[:, const(L, np.array([2, 0])), const(L, np.array([1, 1]))],
            a[const(L, np.array([[0], [1]])), 1:, const(L, np.array([0, 1]))],
            a[1, :, const(L, np.array([1, 1, 0]))],
        ),
        [randn(2, 3, 2)],
    ),
    "getitem_bool_mask": (
        lambda L, F, a: (a[a > 0], a[const(L, np.array([True, False, True]))]),
        [randn(3, 4)],
    ),
    "cat_negative_dim": (lambda L, F, a, b: (L.cat([a, b], dim=-1), L.cat([b, a], 1)), [randn(2, 3), randn(2, 1)]),
    "cat_dim0": (lambda L, F, a, b: L.cat((a, b, a)), [randn(2, 3), randn(1, 3)]),
    "concatenate": (lambda L, F, a, b: L.concatenate([a, b], dim=-2), [randn(2, 3, 2), randn(2, 1, 2)]),
    "stack": (
        lambda L, F, a, b: (L.stack([a, b]), L.stack([a, b], dim=-1), L.stack((b, a), 1)),
        [randn(2, 3), randn(2, 3)],
    ),
    "split": (lambda L, F, a: a.split(2, dim=1) + L.split(a, [1, 3], dim=-1) + a.split(1), [randn(2, 4)]),
    "chunk": (lambda L, F, a: a.chunk(3, dim=1) + L.chunk(a, 2, -1) + a.chunk(2), [randn(3, 5)]),
    "unbind_by_iteration": (lambda L, F, a: tuple(a), [randn(3, 2)]),
    # ---- functional
    "cross_entropy": (
        lambda L, F, a: (
            F.cross_entropy(a, const(L, np.array([0, 3, 1, 3]))),
            F.cross_entropy(a, const(L, np.array([0, 3, 1, 3])), reduction="sum"),
            F.cross_entropy(a, const(L, np.array([0, 3, 1, 3])), reduction="none"),
        ),
        [randn(4, 5) * 3],
    ),
    "cross_entropy_ignore_index": (
        lambda L, F, a: (
            F.cross_entropy(a, const(L, np.array([0, -100, 1, 2]))),
            F.cross_entropy(a, const(L, np.array([0, 4, 4, 2])), ignore_index=4, reduction="none"),
            F.cross_entropy(a, const(L, np.array([0, 4, 4, 2])), ignore_index=4, reduction="sum"),
        ),
        [randn(4, 5)],
    ),
    "cross_entropy_sequence_and_1d": (
        lambda L, F, a, b: (
            F.cross_entropy(a, const(L, np.array([[0, 2, 1], [3, 3, 0]]))),
            F.cross_entropy(b, const(L, np.array(2))),
        ),
        [randn(2, 4, 3), randn(4)],
    ),
    "cross_entropy_large_logits": (
        lambda L, F, a: F.cross_entropy(a, const(L, np.array([0, 1]))),
        [np.array([[1000.0, -1000.0, 0.0], [-500.0, 500.0, 499.0]])],
    ),
    "nll_loss": (
        lambda L, F, a: (
            F.nll_loss(F.log_softmax(a, dim=1), const(L, np.array([1, 0, 2]))),
            F.nll_loss(a, const(L, np.array([1, -100, 2])), reduction="none"),
            F.nll_loss(a, const(L, np.array([1, 0, 2])), reduction="sum"),
        ),
        [randn(3, 4)],
    ),
    "mse_loss": (
        lambda L, F, a, b: (F.mse_loss(a, b), F.mse_loss(a, b, reduction="sum"), F.mse_loss(a, b, reduction="none")),
        [randn(3, 4), randn(3, 4)],
    ),
    "layer_norm": (
        lambda L, F, x, w, b: (F.layer_norm(x, (4,), w, b), F.layer_norm(x, (3, 4)), F.layer_norm(x, [4], eps=1e-3)),
        [randn(2, 3, 4) * 3 + 1, randn(4), randn(4)],
    ),
    "embedding": (lambda L, F, w: F.embedding(const(L, np.array([[0, 2], [2, 2]])), w), [randn(4, 3)]),
    "dropout_identity": (
        lambda L, F, a: (F.dropout(a, 0.5, training=False), F.dropout(a, p=0.0)),
        [randn(3, 4)],
    ),
    "activations": (lambda L, F, a: (F.relu(a), F.sigmoid(a), F.tanh(a)), [randn(3, 4)]),
}


def _run(lib, F, fn, arrays):
    make = tg.tensor if lib is tg else torch.tensor
    inputs = [make(a, dtype=lib.float64 if lib is torch else np.float64, requires_grad=True) for a in arrays]
    out = fn(lib, F, *inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    weights = np.random.default_rng(7)
    loss = 0
    for o in outs:
        w = weights.uniform(0.5, 1.5, tuple(o.shape))
        loss = loss + (make(w) * (o + 1) ** 2).mean()
    loss.backward()
    values = [np.array(o.detach().numpy() if lib is torch else o.numpy(), dtype=np.float64) for o in outs]
    grads = [None if x.grad is None else np.array(x.grad.numpy()) for x in inputs]
    return values, grads


def _assert_close(ours, theirs, what):
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    scale = max(1.0, float(np.abs(theirs).max(initial=0)))
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * scale, err_msg=what)


@pytest.mark.parametrize("name", sorted(CASES))
def test_parity_with_torch(name):
    fn, arrays = CASES[name]
    ours_v, ours_g = _run(tg, tg_F, fn, arrays)
    ref_v, ref_g = _run(torch, torch_F, fn, arrays)
    assert len(ours_v) == len(ref_v)
    for k, (o, r) in enumerate(zip(ours_v, ref_v)):
        _assert_close(o, r, f"{name}: output {k}")
    for k, (o, r) in enumerate(zip(ours_g, ref_g)):
        assert (o is None) == (r is None), f"{name}: gradient of input {k} present in one library only"
        if o is not None:
            _assert_close(o, r, f"{name}: gradient of input {k}")


def test_max_min_dim_indices_match_torch():
    a = ties(4, 5)
    for dim in (0, 1, -1):
        for keepdim in (False, True):
            ours = tg.tensor(a).max(dim, keepdim)
            theirs = torch.tensor(a).max(dim, keepdim)
            np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
            ours = tg.tensor(a).min(dim, keepdim)
            theirs = torch.tensor(a).min(dim, keepdim)
            np.testing.assert_array_equal(ours[1].numpy(), theirs[1].numpy())


def test_one_hot_matches_torch():
    target = np.array([[0, 3], [2, 2]])
    np.testing.assert_array_equal(tg_F.one_hot(tg.tensor(target), 5).numpy(), torch_F.one_hot(torch.tensor(target), 5))
    np.testing.assert_array_equal(tg_F.one_hot(target).numpy(), torch_F.one_hot(torch.tensor(target)))


def test_second_derivatives_match_torch():
    """Hessian-vector products through a small LSTM-like expression agree with torch.autograd.grad(create_graph)."""
    arrays = [randn(3, 4) * 0.5, randn(4, 4) * 0.5, randn(4)]

    def f(lib, x, W, b):
        h = (x @ W + b).tanh()
        g = (h @ W).sigmoid() * h
        return (g * g).sum() + (x.abs() ** 1.5).sum() + g.softmax(-1).max()

    results = {}
    for lib in (tg, torch):
        make = tg.tensor if lib is tg else torch.tensor
        xs = [make(a, requires_grad=True) for a in arrays]
        grad = torch.autograd.grad if lib is torch else tg.grad
        grads = grad(f(lib, *xs), xs, create_graph=True)
        v = [make(np.random.default_rng(k).standard_normal(a.shape)) for k, a in enumerate(arrays)]
        dot = sum((g * vi).sum() for g, vi in zip(grads, v))
        hvp = grad(dot, xs)
        results[lib.__name__] = [np.array(g.detach().numpy()) for g in grads + tuple(hvp)]
    for k, (o, r) in enumerate(zip(results["tinygrad_seq"], results["torch"])):
        _assert_close(o, r, f"first (k < 3) or second derivative {k}")
