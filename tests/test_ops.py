"""Every differentiable op against central finite differences, first and second order (float64).

Each entry of CASES draws one example: a function of Tensors and the float64
arrays to call it with (generated shapes, broadcasting and size-1 dims
included).  ``test_gradient`` checks autodiff against finite differences;
``test_second_order`` does the same for the create_graph=True gradient
(gradgradcheck), and checks that this differentiable backward gives the same
first gradient as the fast numpy one.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinygrad_seq as tg
from tests.strategies import (
    away_from,
    axis_args,
    broadcastable_shapes,
    distinct,
    interleaved,
    matmul_shapes,
    rngs,
    shapes,
    uniform,
)
from tinygrad_seq import ops
from tinygrad_seq.nn import fused

CASES = {}


def case(name):
    """Register a hypothesis example builder: ``draw -> (fn, [float64 arrays])``."""

    def register(builder):
        CASES[name] = st.composite(builder)()
        return builder

    return register


# --------------------------------------------------------------------------- arithmetic


def _binary(name, fn, positive_b=False):
    @case(name)
    def _(draw):
        sa, sb = draw(broadcastable_shapes(2))
        rng = draw(rngs())
        b = uniform(rng, sb, 0.5, 2.0) if positive_b else uniform(rng, sb)
        return fn, [uniform(rng, sa), b]


_binary("add", lambda a, b: a + b)
_binary("sub", lambda a, b: a - b)
_binary("mul", lambda a, b: a * b)
_binary("div", lambda a, b: a / b, positive_b=True)


@case("pow_tensor_exponent")
def _(draw):
    sa, sb = draw(broadcastable_shapes(2))
    rng = draw(rngs())
    return (lambda a, b: a**b), [uniform(rng, sa, 0.5, 2.0), uniform(rng, sb, -2, 2)]


def _unary(name, fn, low=-2.0, high=2.0, kinks=None):
    @case(name)
    def _(draw):
        rng = draw(rngs())
        x = uniform(rng, draw(shapes()), low, high)
        return fn, [x if kinks is None else away_from(x, kinks)]


_unary("neg", lambda x: -x)
_unary("scalar_add", lambda x: 2.5 + x + 1)
_unary("scalar_sub", lambda x: (1.5 - x) - 0.5)
_unary("scalar_mul", lambda x: 3 * x * -0.5)
_unary("scalar_div", lambda x: 2 / x / 3, 0.5, 2.0)
_unary("pow_int", lambda x: x**3)
_unary("pow_negative_int", lambda x: x**-2, 0.5, 2.0)
_unary("pow_fraction", lambda x: x**1.5, 0.2, 2.0)
_unary("pow_method", lambda x: x.pow(2), -2, 2)
_unary("rpow", lambda x: 2.5**x)
_unary("exp", lambda x: x.exp())
_unary("log", lambda x: x.log(), 0.2, 3.0)
_unary("sqrt", lambda x: x.sqrt(), 0.2, 3.0)
_unary("tanh", lambda x: x.tanh())
_unary("sin_cos", lambda x: x.sin() * tg.cos(x) + tg.sinh(x) - x.cosh())
_unary("tril_triu", lambda x: tg.tril(x.reshape(-1, 1) * x.reshape(1, -1)) - tg.triu(x.reshape(1, -1) * 2, 1))
_unary("sigmoid", lambda x: x.sigmoid(), -6, 6)
_unary("gelu_erf", lambda x: tg.functional.gelu(x), -3, 3)
_unary("relu", lambda x: x.relu(), kinks=(0,))
_unary("abs", lambda x: x.abs(), kinks=(0,))
_unary("clip", lambda x: x.clip(-0.5, 1.0), kinks=(-0.5, 1.0))
_unary("clip_min_only", lambda x: x.clip(min=0.3), kinks=(0.3,))
_unary("clamp_max_only", lambda x: x.clamp(max=-0.3), kinks=(-0.3,))
_unary("function_forms", lambda x: tg.exp(x) + tg.tanh(x) + tg.sigmoid(x) + tg.relu(x + 3) + tg.log(x + 3))


@case("matmul")
def _(draw):
    sa, sb = draw(matmul_shapes())
    rng = draw(rngs())
    return (lambda a, b: a @ b), [uniform(rng, sa), uniform(rng, sb)]


@case("matmul_function_and_constant")
def _(draw):
    sa, sb = draw(matmul_shapes())
    rng = draw(rngs())
    const = uniform(rng, sb)
    return (lambda a: tg.matmul(a, const) + (a.detach() @ tg.tensor(const)) * 0), [uniform(rng, sa)]


def _maxmin(name, fn):
    @case(name)
    def _(draw):
        sa, sb = draw(broadcastable_shapes(2))
        return fn, list(interleaved(draw(rngs()), sa, sb))


_maxmin("maximum", lambda a, b: a.maximum(b))
_maxmin("minimum", lambda a, b: tg.minimum(a, b))


@case("where")
def _(draw):
    sc, sa, sb = draw(broadcastable_shapes(3))
    rng = draw(rngs())
    cond = rng.random(sc) < 0.5
    return (lambda a, b: tg.where(cond, a, b)), [uniform(rng, sa), uniform(rng, sb)]


@case("where_scalar_and_method")
def _(draw):
    shape = draw(shapes())
    rng = draw(rngs())
    cond = tg.tensor(rng.random(shape) < 0.5)
    return (lambda a: tg.where(cond, a, 0.5) + tg.where(cond, -1.0, a) + a.masked_fill(cond, 2.0)), [
        uniform(rng, shape)
    ]


# --------------------------------------------------------------------------- reductions


def _reduction(name, method, values=uniform, at_least=1, **extra):
    @case(name)
    def _(draw):
        shape = draw(shapes())
        axis = draw(axis_args(shape))
        reduced = [shape[a] for a in range(len(shape))] if axis is None else [shape[a] for a in np.atleast_1d(axis)]
        assume(np.prod(reduced) >= at_least)  # the unbiased variance of one number is 0/0
        keepdim = draw(st.booleans())
        x = values(draw(rngs()), shape)
        if draw(st.booleans()):  # PyTorch spelling
            return (lambda t: getattr(t, method)(dim=axis, keepdim=keepdim, **extra)), [x]
        return (lambda t: getattr(t, method)(axis=axis, keepdims=keepdim, **extra)), [x]


_reduction("sum", "sum")
_reduction("mean", "mean")
_reduction("amax", "amax", values=distinct)
_reduction("amin", "amin", values=distinct)
_reduction("var", "var", at_least=2)
_reduction("var_biased", "var", correction=0)
_reduction("std", "std", values=distinct, at_least=2)


@case("max_min_full")
def _(draw):
    return (lambda t: t.max() * 2 + t.min()), [distinct(draw(rngs()), draw(shapes()))]


@case("max_min_dim")
def _(draw):
    shape = draw(shapes(min_dims=1))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    keepdim = draw(st.booleans())
    return (lambda t: (t.max(dim, keepdim)[0], t.min(dim=dim, keepdim=keepdim).values)), [
        distinct(draw(rngs()), shape)
    ]


def _along_dim(name, method, keepdim_arg=False):
    @case(name)
    def _(draw):
        shape = draw(shapes(min_dims=1))
        dim = draw(st.integers(-len(shape), len(shape) - 1))
        x = uniform(draw(rngs()), shape, -3, 3)
        if keepdim_arg:
            keepdim = draw(st.booleans())
            return (lambda t: getattr(t, method)(dim, keepdim)), [x]
        return (lambda t: getattr(t, method)(dim)), [x]


_along_dim("softmax", "softmax")
_along_dim("log_softmax", "log_softmax")
_along_dim("logsumexp", "logsumexp", keepdim_arg=True)


# --------------------------------------------------------------------------- shapes and indexing


@case("reshape_view_flatten")
def _(draw):
    shape = draw(shapes(min_dims=1))
    n = int(np.prod(shape))
    x = uniform(draw(rngs()), shape)
    return (lambda t: (t.reshape(n, 1), t.view(-1), t.reshape((1, n)), t.flatten(), t.flatten(-1))), [x]


@case("permute_transpose_T")
def _(draw):
    shape = draw(shapes(min_dims=2))
    perm = draw(st.permutations(range(len(shape))))
    x = uniform(draw(rngs()), shape)
    return (lambda t: (t.permute(*perm), t.transpose(0, -1), t.T, t.swapaxes(-1, 0))), [x]


@case("expand")
def _(draw):
    small, big = draw(broadcastable_shapes(2))
    target = np.broadcast_shapes(small, big)
    x = uniform(draw(rngs()), small)
    return (lambda t: t.expand(*target) * 1.5), [x]


@case("squeeze_unsqueeze")
def _(draw):
    shape = draw(shapes(min_side=1, max_side=2))
    dim = draw(st.integers(-len(shape) - 1, len(shape)))
    x = uniform(draw(rngs()), shape)
    return (lambda t: (t.squeeze(), t.unsqueeze(dim), t.unsqueeze(dim).squeeze(dim))), [x]


@case("getitem_basic")
def _(draw):
    shape = draw(shapes(min_dims=1))
    index = []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "all", "reverse", "none"]))
        if kind == "int":
            index.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            start = draw(st.integers(0, n - 1))
            index.append(slice(start, draw(st.integers(start + 1, n))))
        elif kind == "reverse":
            index.append(slice(None, None, -1))
        elif kind == "none":
            index += [None, slice(None)]
        else:
            index.append(slice(None))
    if draw(st.booleans()):
        index = [Ellipsis] + index[len(index) // 2:] if None not in index else index
    index = tuple(index)
    return (lambda t: t[index]), [uniform(draw(rngs()), shape)]


@case("getitem_int_array_with_repeats")
def _(draw):
    shape = draw(shapes(min_dims=1))
    rng = draw(rngs())
    idx = rng.integers(-shape[0], shape[0], size=draw(shapes(min_dims=1, max_dims=2)))
    as_tensor = draw(st.booleans())
    index = tg.tensor(idx) if as_tensor else idx
    return (lambda t: t[index] * 2), [uniform(rng, shape)]


@case("getitem_mixed_advanced")
def _(draw):
    shape = draw(shapes(min_dims=3, max_dims=3))
    rng = draw(rngs())
    n = draw(st.integers(1, 4))
    i0 = rng.integers(0, shape[0], n)
    i2 = rng.integers(0, shape[2], (1, n))  # broadcasts against i0
    forms = [
        (i0, slice(None), i2),  # arrays separated by a slice: the broadcast dims go first
        (slice(None), i0 % shape[1], i0 % shape[2]),  # adjacent arrays: they stay in place
        (i0, 0),
        (Ellipsis, list(i0 % shape[2])),
        (None, i0, slice(1, None)),
    ]
    index = draw(st.sampled_from(forms))
    return (lambda t: t[index]), [uniform(rng, shape)]


@case("getitem_bool_mask")
def _(draw):
    shape = draw(shapes(min_dims=1))
    rng = draw(rngs())
    mask = rng.random(shape) < 0.5
    if draw(st.booleans()):
        return (lambda t: t[tg.tensor(mask)]), [uniform(rng, shape)]
    row_mask = rng.random(shape[0]) < 0.5
    return (lambda t: t[row_mask]), [uniform(rng, shape)]


@case("cat_concatenate")
def _(draw):
    shape = draw(shapes(min_dims=1))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    rng = draw(rngs())
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    xs = []
    for s in sizes:
        sh = list(shape)
        sh[dim] = s
        xs.append(uniform(rng, tuple(sh)))
    join = tg.cat if draw(st.booleans()) else tg.concatenate
    return (lambda *ts: join(list(ts), dim=dim)), xs


@case("stack")
def _(draw):
    shape = draw(shapes())
    dim = draw(st.integers(-len(shape) - 1, len(shape)))
    rng = draw(rngs())
    k = draw(st.integers(1, 3))
    return (lambda *ts: tg.stack(ts, dim=dim)), [uniform(rng, shape) for _ in range(k)]


@case("split_chunk")
def _(draw):
    shape = draw(shapes(min_dims=1, max_side=4))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    rng = draw(rngs())
    size = draw(st.integers(1, n))
    sections = draw(st.lists(st.integers(1, 2), min_size=1, max_size=4).filter(lambda s: True))
    sections = sections if sum(sections) == n else [n]
    chunks = draw(st.integers(1, n))
    return (
        lambda t: t.split(size, dim) + tg.split(t, sections, dim=dim) + t.chunk(chunks, dim) + tg.chunk(t, 1, dim)
    ), [uniform(rng, shape)]


@case("iterate_rows")
def _(draw):
    shape = draw(shapes(min_dims=1))
    return (lambda t: tg.stack(list(t)[::-1])), [uniform(draw(rngs()), shape)]


@case("composite_rnn_step")
def _(draw):
    """A small recurrence: shared weights used at every step, so their gradients add up over time."""
    rng = draw(rngs())
    steps = draw(st.integers(1, 4))
    xs = uniform(rng, (steps, 2, 3))
    return (
        lambda W, U, b: _unroll(W, U, b, xs)
    ), [uniform(rng, (3, 3), -0.5, 0.5), uniform(rng, (3, 3), -0.5, 0.5), uniform(rng, (3,))]


@case("setitem")
def _(draw):
    """``buf[index] = v`` recorded into the graph: the gradient reaches both the old values and v."""
    rng = draw(rngs())
    n = draw(st.integers(2, 4))
    index = draw(st.sampled_from([0, slice(1, None), (slice(None), 0), np.array([0, n - 1])]))

    def assign(x, v):
        buf = x * 1.0  # a non-leaf: in-place ops on it are recorded
        buf[index] = v * 2.0
        return buf * buf

    picked = np.zeros((n, 3))[index]
    return assign, [uniform(rng, (n, 3)), uniform(rng, picked.shape[-1:])]


@case("time_steps")
def _(draw):
    """Reading a sequence one step at a time (ops.TimeSteps: one unbind node, a select per step)."""
    rng = draw(rngs())
    steps, batch = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    order = draw(st.permutations(range(steps)))  # steps read in any order, some twice
    weights = uniform(rng, (steps,))

    def read(x):
        seq = ops.TimeSteps(x)
        return tg.stack([seq[t] * float(weights[t]) + seq[order[t]] for t in range(steps)])

    return read, [uniform(rng, (steps, batch, 3))]


def _fused_case(name, step, gates, extra=()):
    @case(name)
    def _(draw):
        """One fused step (nn/fused.py): its backward is the analytic formula, its second derivative too."""
        rng = draw(rngs())
        B, H = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        arrays = [uniform(rng, (B, gates * H)), uniform(rng, (B, H), -0.8, 0.8)]
        arrays += [uniform(rng, (B, H)) for _ in extra] + [uniform(rng, (gates * H, H), -0.6, 0.6)]
        return step, arrays


_fused_case("rnn_cell", lambda x, h, w: fused.RNNStep.apply(x, h, w, nonlinearity="tanh"), 1)
_fused_case("lstm_cell", lambda x, h, c, w: fused.LSTMStep.apply(x, h, c, w), 4, extra=("c",))


@case("gru_cell")
def _(draw):
    rng = draw(rngs())
    B, H = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    arrays = [uniform(rng, (B, 3 * H)), uniform(rng, (B, H), -0.8, 0.8), uniform(rng, (3 * H, H), -0.6, 0.6),
              uniform(rng, (3 * H,))]
    return (lambda x, h, w, b: fused.GRUStep.apply(x, h, w, b)), arrays


def _unroll(W, U, b, xs):
    h = tg.zeros(2, 3, dtype=np.float64)
    outs = []
    for t in range(len(xs)):
        h = (tg.tensor(xs[t]) @ U + h @ W + b).tanh()
        outs.append(h)
    return tg.stack(outs).sum(0)


# --------------------------------------------------------------------------- the tests


def as_tensors(arrays):
    return [tg.tensor(a, dtype=np.float64, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_gradient(name, data):
    fn, arrays = data.draw(CASES[name])
    inputs = as_tensors(arrays)
    assert tg.gradcheck(fn, inputs, atol=1e-6, rtol=1e-5)


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=max(2, settings().max_examples // 6))
@given(data=st.data())
def test_second_order(name, data):
    fn, arrays = data.draw(CASES[name])
    inputs = as_tensors(arrays)
    # the differentiable backward (rules run on Tensors) gives the same first gradient as the fast one
    outs = [o for o in _outputs(fn(*inputs)) if o.requires_grad]
    weights = [tg.tensor(np.random.default_rng(3).standard_normal(o.shape)) for o in outs]
    fast = tg.grad(outs, inputs, weights, retain_graph=True, allow_unused=True)
    slow = tg.grad(outs, inputs, weights, create_graph=True, allow_unused=True)
    for f, s in zip(fast, slow):
        assert (f is None) == (s is None)
        if f is not None:
            np.testing.assert_allclose(s.data, f.data, rtol=1e-12, atol=1e-12)
    assert tg.gradgradcheck(fn, inputs, atol=1e-5, rtol=1e-4)


def _ops_in_graph(tensors):
    names, seen, stack = set(), set(), list(tensors)
    while stack:
        t = stack.pop()
        if id(t) not in seen:
            seen.add(id(t))
            names.add(t.op)
            stack.extend(t.parents)
    return names - {None}


@settings(max_examples=1, database=None)
@given(data=st.data())
def test_every_function_of_the_package_has_a_case(data):
    """Each Function of the package (ops.py, nn/fused.py, ...) occurs, forward or in a create_graph backward,
    in some case above."""
    reached = set()
    for strategy in CASES.values():
        fn, arrays = data.draw(strategy)
        inputs = as_tensors(arrays)
        outs = [o for o in _outputs(fn(*inputs)) if o.requires_grad]
        loss = sum((o * o).sum() for o in outs)  # its gradient depends on the inputs: backward is recorded
        grads = tg.grad(loss, inputs, create_graph=True, allow_unused=True)
        reached |= _ops_in_graph(outs + [g for g in grads if g is not None])
    import tinygrad_seq.bptt  # noqa: F401  (import every part of the package that could define a Function)
    import tinygrad_seq.nn  # noqa: F401

    defined, todo = set(), list(tg.Function.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("tinygrad_seq."):
            defined.add(cls.op)
        todo += cls.__subclasses__()
    assert {"add", "lstm_cell", "select"} <= defined  # the search itself works
    elsewhere = {"cast": "test_autograd.py", "cross_entropy": "test_functional.py",
                 "recurrent_layer": "test_fused_sequence.py"}  # (first order only: it refuses create_graph)
    assert defined - reached - set(elsewhere) == set()
