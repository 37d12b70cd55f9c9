"""Backward semantics, the Tensor API around it, and every error the engine promises.

The gradients themselves are checked op by op in test_ops.py (finite
differences) and test_parity_ops.py (PyTorch); here: what backward does with
them (accumulate, retain, hook, detach, no_grad, higher order), what it
frees, how deep it can go, and what it says when it is used wrongly.
"""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import Function, Tensor
from tinygrad_seq import functional as F


def leaf(values, dtype=np.float64, name=None):
    return tg.tensor(np.asarray(values, dtype=dtype), requires_grad=True, name=name)


# --------------------------------------------------------------------------- accumulation, retain_grad, hooks


def test_gradients_accumulate_across_backward_calls_and_uses():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()  # x used twice in one op: 2x
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    (3 * x).sum().backward()  # a second backward adds to .grad, as in PyTorch
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])
    x.grad = None
    y = x * 2
    (y + y * y).sum().backward()  # y reaches the loss along two paths: 2 (1 + 2y)
    np.testing.assert_array_equal(x.grad.numpy(), 2 * (1 + 2 * np.array([2.0, 4.0])))


def test_shared_weight_gets_the_sum_over_time_steps():
    W = leaf([[0.5, -0.2], [0.1, 0.3]])
    h = tg.tensor(np.array([1.0, 1.0]))
    hs = []
    for _ in range(3):
        h = h @ W
        hs.append(h)
    sum(hk.sum() for hk in hs).backward()
    # the same sum, with the three uses of W made separate leaves
    Ws = [leaf(W.data) for _ in range(3)]
    h2 = tg.tensor(np.array([1.0, 1.0]))
    total = 0
    for Wk in Ws:
        h2 = h2 @ Wk
        total = total + h2.sum()
    total.backward()
    np.testing.assert_allclose(W.grad.numpy(), sum(Wk.grad.numpy() for Wk in Ws), rtol=1e-14)


def test_retain_grad_keeps_intermediate_gradients():
    x = leaf([1.0, -2.0])
    h = x * 3
    h.retain_grad()
    other = x * 4  # not retained
    (h * h + other).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), 2 * h.numpy())
    with pytest.warns(UserWarning, match="not a leaf.*retain_grad"):  # as PyTorch: say why it is None
        assert other.grad is None
    assert h.grad.dtype == h.dtype


def test_retain_grad_over_time_steps_reads_dL_dh():
    W = leaf([[0.9]])
    h = tg.tensor(np.array([[1.0]]))
    hs = []
    for _ in range(4):
        h = (h @ W).tanh()
        h.retain_grad()
        hs.append(h)
    h.sum().backward()
    # dL/dh(t) = dL/dh(t+1) · (1 − h(t+1)²) · w
    for t in range(3):
        expect = hs[t + 1].grad.numpy() * (1 - hs[t + 1].numpy() ** 2) * 0.9
        np.testing.assert_allclose(hs[t].grad.numpy(), expect, rtol=1e-14)


def test_register_hook_sees_and_replaces_the_gradient():
    x = leaf([1.0, 2.0])
    seen = []
    y = x * 3
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    y.register_hook(lambda g: g * 10)  # a returned tensor replaces the gradient
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    (y * y).sum().backward()
    np.testing.assert_array_equal(seen[0], 2 * y.numpy())
    np.testing.assert_array_equal(seen[1], 10 * 2 * y.numpy() * 3)  # the leaf's hook sees the replaced value
    np.testing.assert_array_equal(x.grad.numpy(), seen[1])


def test_hooks_run_in_create_graph_mode_on_tensors():
    x = leaf([1.0, 2.0])
    y = x * x
    y.register_hook(lambda g: g * x)  # the hook's own op is recorded
    (gx,) = tg.grad(y.sum(), x, create_graph=True)
    np.testing.assert_array_equal(gx.numpy(), 2 * x.numpy() ** 2)
    (ggx,) = tg.grad(gx.sum(), x)
    np.testing.assert_array_equal(ggx.numpy(), 4 * x.numpy())


def test_register_hook_needs_requires_grad():
    with pytest.raises(RuntimeError, match="register_hook on a tensor that does not require grad"):
        tg.tensor([1.0]).register_hook(print)


# --------------------------------------------------------------------------- detach, requires_grad_, no_grad


def test_detach_cuts_the_graph_and_shares_the_values():
    x = leaf([1.0, 2.0])
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf and d.op is None
    (x * d).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), d.numpy())  # d is a constant: no 4x term
    y = x.detach()
    assert np.shares_memory(y.numpy(), x.numpy())


def test_requires_grad_():
    x = tg.tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    x.requires_grad_(False)
    assert not (x * x).requires_grad
    with pytest.raises(TypeError, match="only float tensors can require gradients; got dtype int64"):
        tg.tensor([1, 2]).requires_grad_()
    with pytest.raises(TypeError, match="only float tensors can require gradients"):
        tg.tensor([1, 2], requires_grad=True)
    y = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match=r"requires_grad_\(False\) on a non-leaf tensor; use detach\(\)"):
        y.requires_grad_(False)


def test_no_grad_records_nothing_and_enable_grad_reopens():
    x = leaf([1.0, 2.0])
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = x * 2
        with tg.enable_grad():
            assert tg.is_grad_enabled()
            z = x * 2
        w = x * 3
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.op is None and y.parents == ()
    assert not w.requires_grad
    assert z.requires_grad and z.op == "mul"
    with pytest.raises(RuntimeError, match="does not require grad.*no_grad"):
        y.sum().backward()


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ValueError), tg.no_grad():
        raise ValueError
    assert tg.is_grad_enabled()


def test_parameter_updates_in_place_under_no_grad():
    w = leaf([1.0, 2.0])
    (w * w).sum().backward()
    with tg.no_grad():
        w -= 0.1 * w.grad  # the optimizer's update
    np.testing.assert_allclose(w.numpy(), [0.8, 1.6])
    with pytest.raises(RuntimeError, match="in-place change of a leaf that requires grad.*no_grad"):
        w += 1


# --------------------------------------------------------------------------- tg.grad and higher order


def test_grad_returns_instead_of_accumulating():
    x, y = leaf([1.0, 2.0]), leaf([3.0])
    out = (x * y).sum()
    gx, gy = tg.grad(out, [x, y], retain_graph=True)
    np.testing.assert_array_equal(gx.numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(gy.numpy(), [3.0])
    assert x.grad is None and y.grad is None
    (gx_only,) = tg.grad([out], x, grad_outputs=[tg.tensor(2.0, dtype=np.float64)])
    np.testing.assert_array_equal(gx_only.numpy(), [6.0, 6.0])


def test_grad_of_an_intermediate_and_of_vector_outputs():
    x = leaf([1.0, 2.0])
    h = x * x
    out = h * 3
    (gh,) = tg.grad(out, h, grad_outputs=tg.tensor(np.array([1.0, -1.0])))
    np.testing.assert_array_equal(gh.numpy(), [3.0, -3.0])


def test_grad_unused_input():
    x, unused = leaf([1.0]), leaf([2.0], name="bias")
    out = (x * 2).sum()
    unused_msg = r"not used to compute the outputs \(input named 'bias', shape \(1,\)\).*allow_unused"
    with pytest.raises(RuntimeError, match=unused_msg):
        tg.grad(out, [x, unused], retain_graph=True)
    gx, gu = tg.grad(out, [x, unused], allow_unused=True)
    assert gu is None and gx.numpy()[0] == 2.0


def test_grad_needs_scalar_or_grad_outputs():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"grad: output of shape \(2,\) is not a scalar; pass grad_outputs"):
        tg.grad(x * 2, x)
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.grad(tg.tensor(1.0), x)
    with pytest.raises(RuntimeError, match=r"grad: an input \(shape \(1,\), name 'c'\) does not require grad"):
        tg.grad((x * 2).sum(), tg.tensor([1.0], name="c"))


def test_grad_results_are_writable_arrays_of_their_own():
    x = leaf([1.0, 2.0])
    (g,) = tg.grad(x.sum(), x)  # sum's rule returns a read-only broadcast view
    g += 1
    np.testing.assert_array_equal(g.numpy(), [2.0, 2.0])


def test_higher_order_derivatives():
    x = leaf([0.5, -1.5])
    y = (x**4).sum()
    (g1,) = tg.grad(y, x, create_graph=True)
    (g2,) = tg.grad(g1.sum(), x, create_graph=True)
    (g3,) = tg.grad(g2.sum(), x, create_graph=True)
    (g4,) = tg.grad(g3.sum(), x)
    v = x.numpy()
    np.testing.assert_allclose(g1.numpy(), 4 * v**3, rtol=1e-14)
    np.testing.assert_allclose(g2.numpy(), 12 * v**2, rtol=1e-14)
    np.testing.assert_allclose(g3.numpy(), 24 * v, rtol=1e-14)
    np.testing.assert_allclose(g4.numpy(), [24.0, 24.0], rtol=1e-14)


def test_gradient_penalty_through_backward_create_graph():
    """The lecture's gradient-flow regulariser: penalise |dL/dh|², then differentiate that w.r.t. W."""
    W = leaf([[0.3, -0.4], [0.2, 0.5]])
    x = tg.tensor(np.array([[1.0, 2.0]]))
    h = (x @ W).tanh()
    loss = (h * h).sum()
    loss.backward(create_graph=True)
    penalty = (W.grad * W.grad).sum()
    W_grad_of_loss = W.grad.numpy().copy()
    W.grad = None
    penalty.backward()
    # finite differences of the penalty
    eps, num = 1e-6, np.zeros((2, 2))

    def pen(Wv):
        Wt = leaf(Wv)
        hh = (x @ Wt).tanh()
        (gW,) = tg.grad((hh * hh).sum(), Wt)
        return float((gW.numpy() ** 2).sum())

    for i in np.ndindex(2, 2):
        d = np.zeros((2, 2))
        d[i] = eps
        num[i] = (pen(W.numpy() + d) - pen(W.numpy() - d)) / (2 * eps)
    np.testing.assert_allclose(W.grad.numpy(), num, rtol=1e-6, atol=1e-9)
    assert np.abs(W_grad_of_loss).sum() > 0


def test_backward_with_gradient_and_retain_graph():
    x = leaf([1.0, 2.0, 3.0])
    y = x * x
    y.backward(gradient=tg.tensor(np.array([1.0, 0.0, -1.0])), retain_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, -6.0])
    y.backward(np.array([1.0, 1.0, 1.0]))  # a second pass works because the first retained the graph
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0, 0.0])


# --------------------------------------------------------------------------- errors that name op, shapes and scope


def test_backward_on_a_non_scalar_needs_a_gradient():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"needs a scalar output; this one has shape \(2,\).*loss.sum\(\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\) but the tensor has shape \(2,\)"):
        y.backward(gradient=np.ones(3))


def test_second_backward_through_a_freed_graph_hints_at_retain_graph():
    x = leaf([1.0, 2.0])
    with tg.scope("t=3"):
        y = x.tanh()
    loss = y.sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"backward through (sum|tanh)( in t=3)? a second time.*retain_graph=True"):
        loss.backward()


def test_in_place_change_after_use_is_caught_by_the_version_counter():
    x = leaf([1.0, 2.0])
    h = x * 2
    with tg.scope("LSTM"):
        y = (h * h).sum()  # backward needs h's value
    h_data_before = h.numpy().copy()
    with pytest.raises(RuntimeError, match="an op of the graph already used its old value"):
        h += 1  # recorded in place would send y's gradient into the new value: refused, nothing changed
    np.testing.assert_array_equal(h.numpy(), h_data_before)
    with tg.no_grad():
        h.data += 0  # a write through .data is counted too, even of the same values
    with pytest.raises(RuntimeError, match=r"backward of mul in LSTM needs was modified in place"):
        y.backward()
    # on a tensor that does not require grad the in-place op is allowed, and backward refuses later
    c = tg.tensor(np.array([1.0, 2.0]), name="c")
    z = (x * c).sum()
    c += 1
    msg = (r"backward of mul needs was modified in place after it was used "
           r"\(one of: an input of shape \(2,\), name 'c', version 1\).*x = x \+ 1")
    with pytest.raises(RuntimeError, match=msg):
        z.backward()
    c2 = tg.tensor(np.array([3.0]))
    w = (x * c2).sum()
    c2[0] = 5.0  # __setitem__ counts as well
    with pytest.raises(RuntimeError, match="modified in place"):
        w.backward()


def test_construction_rejects_strings_objects_and_ragged_lists():
    with pytest.raises(TypeError, match="must be numbers, got a string: 'abc'"):
        Tensor("abc")
    with pytest.raises(TypeError, match="must be numbers, got strings"):
        tg.tensor([1.0, "2"])
    with pytest.raises(TypeError, match="must be numeric.*got object"):
        Tensor(object())
    with pytest.raises(TypeError, match="must be numeric.*got NoneType"):
        tg.tensor([1.0, None])
    with pytest.raises(TypeError, match="rectangular.*ragged"):
        tg.tensor([[1.0, 2.0], [3.0]])
    with pytest.raises(TypeError, match="numeric.*complex"):
        tg.tensor([1 + 2j])


def test_shape_errors_name_the_op_the_shapes_and_the_scope():
    a, b = tg.ones(32, 65), tg.ones(64, 256)
    msg = r"matmul in RNN/t=4: \(32, 65\) @ \(64, 256\): inner sizes 65 and 64 differ"
    with tg.scope("RNN"), tg.scope("t=4"), pytest.raises(ValueError, match=msg):
        a @ b
    with pytest.raises(ValueError, match=r"^add: inputs of shapes \(2, 3\), \(4,\):"):
        tg.ones(2, 3) + tg.ones(4)
    with pytest.raises(ValueError, match=r"^mul: inputs of shapes \(2, 3\), \(2,\):"):
        tg.ones(2, 3) * np.ones(2)
    with pytest.raises(ValueError, match=r"^cat: inputs of shapes \(2, 3\), \(2, 4\):"):
        tg.cat([tg.ones(2, 3), tg.ones(2, 4)])
    with pytest.raises(ValueError, match=r"^stack: all tensors need the same shape, got \[\(2,\), \(3,\)\]"):
        tg.stack([tg.ones(2), tg.ones(3)])
    with pytest.raises(ValueError, match=r"^reshape: inputs of shapes \(2, 3\).*size 6"):
        tg.ones(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match=r"^expand: inputs of shapes \(2, 3\)"):
        tg.ones(2, 3).expand(4, 3)
    with pytest.raises(IndexError, match=r"^getitem: inputs of shapes \(2, 3\).*out of bounds"):
        tg.ones(2, 3)[5]
    with pytest.raises(ValueError, match=r"matmul: both operands need at least 1 dim, got shapes \(\) and \(2,\)"):
        tg.tensor(1.0) @ tg.ones(2)
    with pytest.raises(IndexError, match=r"dim 2 is out of range for a tensor of shape \(2, 3\)"):
        tg.ones(2, 3).sum(2)
    with pytest.raises(ValueError, match=r"permute: \(0, 0\) is not a permutation of the 2 dims"):
        tg.ones(2, 3).permute(0, 0)
    with pytest.raises(ValueError, match=r"split sizes \[1, 1\] add up to 2, but dim 0 has size 3"):
        tg.ones(3).split([1, 1])


def test_other_usage_errors():
    with pytest.raises(ValueError, match="clip needs min or max"):
        tg.ones(2).clip()
    with pytest.raises(TypeError, match="exponent must be a number or a Tensor, got str"):
        tg.ones(2) ** "2"
    with pytest.raises(ValueError, match=r"item\(\) needs a tensor with one element; this one has shape \(2,\)"):
        tg.ones(2).item()
    with pytest.raises(RuntimeError, match=r"truth value of a tensor with shape \(2,\) is ambiguous"):
        bool(tg.ones(2))
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(tg.tensor(1.0))
    with pytest.raises(TypeError, match="pass dim or axis, not both"):
        tg.ones(2).sum(dim=0, axis=0)
    with pytest.raises(TypeError, match="default dtype must be float32 or float64, got int64"):
        tg.set_default_dtype(np.int64)
    with pytest.raises(ValueError, match="scope name must be non-empty and contain no '/'"):
        with tg.scope("a/b"):
            pass
    with pytest.raises(TypeError, match="max/min take one dim"):
        tg.ones(2, 2).max(dim=(0, 1))


# --------------------------------------------------------------------------- depth, memory, anomalies


def test_a_chain_of_100_000_ops_in_default_recursion_limits():
    limit = sys.getrecursionlimit()
    x = leaf(np.ones(2))
    c = tg.tensor(np.array([0.5, -0.5]))
    h = x
    for _ in range(100_000):
        h = h + c
    h.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    np.testing.assert_allclose(h.numpy(), [1 + 50_000, 1 - 50_000])
    ref = weakref.ref(h.parents[0])
    del h  # freeing the chain must not recurse 100,000 deep either
    assert ref() is None
    assert sys.getrecursionlimit() == limit


def test_memory_is_released_after_backward_and_when_the_output_is_dropped():
    x = leaf(np.ones(3))
    data = tg.tensor(np.full(3, 2.0))  # a constant input (a data batch)
    h = (x * data).relu()  # relu saves a mask for backward
    mid = weakref.ref(h)
    data_ref = weakref.ref(data)
    saved = h._ctx  # (private access, only to observe what it holds)
    loss = (h * h).sum()
    del h, data
    assert mid() is not None  # the graph keeps intermediates alive until backward
    loss.backward()
    assert not saved.__dict__  # the relu mask is gone
    assert loss.op == "sum" and len(loss.parents) == 1  # the graph's shape stays for viz,
    assert data_ref() is not None  # with its constant inputs (a picture drawn now still shows x)
    del loss, saved
    gc.collect()
    assert mid() is None
    assert data_ref() is None  # and all of it goes with the output


def test_intermediates_die_with_the_output_without_the_cycle_collector():
    gc.disable()
    try:
        x = leaf(np.ones(3))
        h = x.tanh() * 2
        ref = weakref.ref(h)
        out = (h * h).sum()
        del h
        assert ref() is not None
        del out  # reference counting alone frees the graph: it has no cycles
        assert ref() is None
    finally:
        gc.enable()


def test_detect_anomaly_names_the_op_and_the_scope():
    x = leaf([1.0, -1.0])
    with tg.detect_anomaly(), tg.scope("LSTM"), tg.scope("t=17"):
        with pytest.raises(FloatingPointError, match="NaN first produced by log in LSTM/t=17"):
            with np.errstate(invalid="ignore"):
                x.log()
    z = leaf([0.0, 4.0])
    with tg.scope("loss"):
        y = z.sqrt().sum()  # finite value, infinite gradient at 0
    with tg.detect_anomaly(), np.errstate(divide="ignore"):
        with pytest.raises(FloatingPointError, match="Inf first produced by the backward of sqrt in loss"):
            y.backward()
    with np.errstate(invalid="ignore"):
        x.log()  # outside detect_anomaly nothing is checked


# --------------------------------------------------------------------------- dtypes


def test_dtype_promotion_follows_numpy_and_gradients_keep_the_input_dtype():
    a32 = tg.tensor(np.ones(2, np.float32), requires_grad=True)
    b64 = tg.tensor(np.ones(2, np.float64), requires_grad=True)
    out = a32 * b64
    assert out.dtype == np.float64
    assert (a32 * 2.5).dtype == np.float32  # Python numbers do not promote
    # nor numpy scalars, as in PyTorch (numpy itself makes float32 * np.float64(0.5) a float64 array)
    assert (a32 * np.float64(0.5)).dtype == (a32 / np.sqrt(128.0)).dtype == (np.int64(2) + a32).dtype == np.float32
    assert (a32 + tg.tensor([1, 2])).dtype == np.float64  # float32 with int64, as numpy
    (out * a32).sum().backward()
    assert a32.grad.dtype == np.float32 and b64.grad.dtype == np.float64
    c = tg.tensor(np.ones(2, np.float32), requires_grad=True)
    (c.to(np.float64) * 3).sum().backward()
    assert c.grad.dtype == np.float32
    np.testing.assert_array_equal(c.grad.numpy(), [3.0, 3.0])
    d = tg.tensor(np.ones(2), requires_grad=True)
    e = d.float()
    assert e.dtype == np.float32 and e.op == "cast" and d.double() is d
    (e * e).sum().backward()
    assert d.grad.dtype == np.float64
    assert tg.tensor([1.5]).long().dtype == np.int64


def test_float32_attention_stays_float32_with_a_numpy_scale():
    q = tg.randn(2, 3, 4, requires_grad=True)
    s = q @ q.transpose(1, 2) * (1 / np.sqrt(4))  # the usual 1/√d, a numpy float64 scalar
    p = s.softmax(-1)
    loss = (p @ q).sum()
    loss.backward()
    assert s.dtype == p.dtype == loss.dtype == q.grad.dtype == np.float32
    assert F.scaled_dot_product_attention(q, q, q, is_causal=True).dtype == np.float32


def test_second_derivative_through_a_cast():
    x = leaf([0.5, -2.0])
    (g,) = tg.grad((x.float() ** 3).sum(), x, create_graph=True)  # 3x², computed in float32
    assert g.dtype == np.float64 and g.op == "cast"
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2, rtol=1e-7)
    (gg,) = tg.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), 6 * x.numpy(), rtol=1e-7)


def test_amax_of_float32_keeps_float32_gradients():
    x = tg.tensor(np.array([[1.0, 3.0, 3.0]], np.float32), requires_grad=True)
    x.amax().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.5, 0.5]])


def test_default_dtype_is_float32_and_settable():
    assert tg.get_default_dtype() == np.float32
    assert tg.tensor(1.0).dtype == np.float32
    assert tg.tensor([1, 2]).dtype == np.int64
    assert tg.tensor(np.array([1.0])).dtype == np.float64  # arrays keep their dtype
    assert tg.tensor([1.0], dtype=tg.float64).dtype == np.float64
    tg.set_default_dtype(np.float64)
    try:
        for t in (tg.tensor(1.0), tg.zeros(2), tg.ones(2), tg.randn(2), tg.rand(2), tg.full((2,), 3.0), tg.eye(2),
                  tg.arange(0.0, 1.0, 0.5)):
            assert t.dtype == np.float64
    finally:
        tg.set_default_dtype(np.float32)
    assert tg.zeros(2).dtype == np.float32 and tg.arange(3).dtype == np.int64


def test_manual_seed_makes_random_tensors_repeatable():
    tg.manual_seed(5)
    a = tg.randn(3).numpy()
    tg.manual_seed(5)
    np.testing.assert_array_equal(a, tg.randn(3).numpy())


# --------------------------------------------------------------------------- introspection and the Tensor API


def test_scopes_names_ops_and_parents_are_recorded():
    W = leaf([[1.0]], name="W")
    assert W.is_leaf and W.op is None and W.parents == () and W.scope == ""
    with tg.scope("LSTM") as path:
        assert path == tg.current_scope() == "LSTM"
        with tg.scope("t=3"):
            z = W * 2
            h = z.tanh()
    assert tg.current_scope() == ""
    assert h.op == "tanh" and h.scope == "LSTM/t=3" and h.parents == (z,) and z.parents == (W,)
    assert W.name == "W" and "name='W'" in repr(W)
    assert "op='tanh'" in repr(h) and "scope='LSTM/t=3'" in repr(h)
    assert not h.is_leaf and h.grad_fn is not None
    for attr in ("op", "parents", "scope"):
        with pytest.raises(AttributeError):
            setattr(h, attr, None)


def test_tensor_api_conversions():
    x = tg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert x.shape == (2, 3) and x.ndim == 2 and x.dim() == 2
    assert x.size() == (2, 3) and x.size(-1) == 3 and x.numel() == 6 and len(x) == 2
    assert x.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(x), x.numpy())
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    # np.asarray shares the values read-only (writes go through .data or in-place ops, which are counted)
    assert np.shares_memory(np.asarray(x), x.data) and not np.asarray(x).flags.writeable
    assert not np.shares_memory(np.array(x, copy=True), x.data)
    assert abs(-x).tolist() == x.tolist() and x.contiguous() is x
    np.testing.assert_array_equal(x.T.numpy(), x.numpy().T)
    assert tg.tensor([[2.5]]).item() == 2.5 and float(tg.tensor(2.5)) == 2.5 and int(tg.tensor(3)) == 3
    assert x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    rows = list(x)
    assert len(rows) == 2 and rows[1].tolist() == [4.0, 5.0, 6.0]
    assert repr(tg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert (x > 2).dtype == np.bool_ and (x == x).numpy().all()
    assert np.ones(3) * tg.tensor([1.0, 2.0, 3.0]) is not None  # ndarray op Tensor defers to the Tensor
    assert isinstance(np.ones(3) * tg.tensor([1.0, 2.0, 3.0]), Tensor)
    y = tg.tensor(x)  # a copy, as torch.tensor
    assert not np.shares_memory(y.numpy(), x.numpy())


def test_creation_functions():
    assert tg.zeros(2, 3).shape == (2, 3) and tg.zeros((2, 3)).numpy().sum() == 0
    assert tg.ones(4).numpy().sum() == 4 and tg.full((2, 2), 7.0).numpy().sum() == 28
    assert tg.arange(5).tolist() == [0, 1, 2, 3, 4] and tg.arange(1, 7, 2).tolist() == [1, 3, 5]
    np.testing.assert_array_equal(tg.eye(3).numpy(), np.eye(3))
    x = tg.randn(2, 3)
    assert tg.zeros_like(x).shape == (2, 3) and tg.ones_like(x).numpy().sum() == 6
    assert tg.randn(100, requires_grad=True).requires_grad
    r = tg.rand(1000).numpy()
    assert 0 <= r.min() and r.max() < 1
    assert tg.zeros(2, requires_grad=True).is_leaf


def test_max_and_min_with_a_dim_return_values_and_indices():
    x = tg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]])
    values, indices = x.max(dim=1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    assert x.max(1).values.tolist() == [5.0, 7.0] and x.min(dim=0).indices.tolist() == [0, 1, 0]
    assert x.max(1, keepdim=True).values.shape == (2, 1)
    assert x.max().item() == 7.0 and x.min().item() == 0.0


def test_custom_function_with_needs_input_grad():
    class Cube(Function):
        op = "cube"  # z = x³, dz/dx = 3x²

        def forward(self, x, scale):
            return scale * x**3

        def backward(self, g, x, scale, z):
            need_x, need_scale = self.needs_input_grad
            return (3 * scale * x * x * g if need_x else None, x**3 * g if need_scale else None)

    x = leaf([1.0, 2.0])
    y = Cube.apply(x, 2.0)  # the Python number is a constant
    assert y.op == "cube" and y.parents == (x,)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 24.0])
    s = leaf(2.0)
    assert tg.gradcheck(lambda a, b: Cube.apply(a, b), [leaf([0.5, -1.0]), s])
    assert tg.gradgradcheck(lambda a, b: Cube.apply(a, b), [leaf([0.5, -1.0]), s])


def test_a_rule_returning_a_wrong_shape_is_named():
    class Bad(Function):
        op = "bad"

        def forward(self, x):
            return x.sum(0)

        def backward(self, g, x, z):
            return (g,)  # forgot to expand back to x's shape

    x = leaf(np.ones((3, 2)))
    msg = r"the backward of bad in cell returned a gradient of shape \(2,\) for an input of shape \(3, 2\)"
    with tg.scope("cell"), pytest.raises(RuntimeError, match=msg):
        Bad.apply(x).sum().backward()


def test_gradcheck_reports_the_input_and_the_worst_element():
    class Wrong(Function):
        op = "wrong"

        def forward(self, x):
            return x * x

        def backward(self, g, x, z):
            return (g * x,)  # should be 2 g x

    msg = r"gradcheck failed for input 0 \(name 'x', shape \(3,\)\): at index \(2,\) autodiff gives [-.\d]+, finite"
    with pytest.raises(AssertionError, match=msg):
        tg.gradcheck(lambda x: Wrong.apply(x).sum(), [leaf([0.1, 0.2, 3.0], name="x")])
    assert not tg.gradcheck(lambda x: Wrong.apply(x), [leaf([1.0])], raise_exception=False)
    with pytest.raises(TypeError, match="gradcheck needs float64 inputs"):
        tg.gradcheck(lambda x: x * 2, [leaf([1.0], dtype=np.float32)])


@np.errstate(invalid="ignore", divide="ignore")  # numpy's own warnings are what detect_anomaly turns into errors
def test_detect_anomaly_sees_nan_and_inf_in_zero_dim_results():
    x = tg.tensor(-1.0, requires_grad=True)
    with tg.detect_anomaly(), pytest.raises(FloatingPointError, match="NaN first produced by log"):
        x.log()
    y = tg.tensor(0.0, requires_grad=True)
    with tg.detect_anomaly(), pytest.raises(FloatingPointError, match="Inf first produced by the backward of sqrt"):
        y.sqrt().backward()
