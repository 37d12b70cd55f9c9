"""RNN, LSTM, GRU and their cells: composite versus fused, scopes and names, shapes, errors, lengths, gradients."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_seq as tg
from tinygrad_seq import nn
from tinygrad_seq.ops import TimeSteps

UNROLLED = {
    "RNN_tanh": lambda **kw: nn.RNN(3, 4, nonlinearity="tanh", **kw),
    "RNN_relu": lambda **kw: nn.RNN(3, 4, nonlinearity="relu", **kw),
    "LSTM": lambda **kw: nn.LSTM(3, 4, **kw),
    "GRU": lambda **kw: nn.GRU(3, 4, **kw),
}
CELLS = {
    "RNNCell_tanh": lambda **kw: nn.RNNCell(3, 4, nonlinearity="tanh", **kw),
    "RNNCell_relu": lambda **kw: nn.RNNCell(3, 4, nonlinearity="relu", **kw),
    "LSTMCell": lambda **kw: nn.LSTMCell(3, 4, **kw),
    "GRUCell": lambda **kw: nn.GRUCell(3, 4, **kw),
}


def outputs(result):
    """Flatten (output, h_n) / (output, (h_n, c_n)) / (h, c) / h into a list of tensors."""
    if isinstance(result, tg.Tensor):
        return [result]
    flat = []
    for r in result:
        flat.extend(outputs(r))
    return flat


def twin(make, **kw):
    """The same module twice, composite and fused, with equal weights."""
    a, b = make(cell="composite", **kw), make(cell="fused", **kw)
    b.load_state_dict(a.state_dict())
    return a, b


def run_and_grad(module, x, weights, states=None):
    xs = tg.tensor(x, requires_grad=True)
    res = module(xs) if states is None else module(xs, states)
    outs = outputs(res)
    loss = sum((((o + 1) ** 2) * tg.tensor(w)).sum() for o, w in zip(outs, weights))
    loss.backward()
    grads = [xs.grad.data] + [p.grad.data for p in module.parameters()]
    return [o.data for o in outs], grads


def assert_close(a, b, tol=1e-12):
    for x, y in zip(a, b):
        scale = max(np.abs(y).max(), 1e-300)
        assert np.abs(x - y).max() / scale < tol


# --------------------------------------------------------------------------- composite and fused agree


@pytest.mark.parametrize("kind", list(UNROLLED))
def test_fused_equals_composite_unrolled(kind, float64):
    rng = np.random.default_rng(0)
    a, b = twin(UNROLLED[kind], num_layers=2, bidirectional=True)
    x = rng.standard_normal((6, 2, 3))
    shapes = [o.shape for o in outputs(a(tg.tensor(x)))]
    weights = [rng.standard_normal(s) for s in shapes]
    out_a, grads_a = run_and_grad(a, x, weights)
    out_b, grads_b = run_and_grad(b, x, weights)
    assert_close(out_b, out_a)
    assert_close(grads_b, grads_a)


@pytest.mark.parametrize("kind", list(CELLS))
def test_fused_equals_composite_cells(kind, float64):
    rng = np.random.default_rng(1)
    a, b = twin(CELLS[kind])
    x = rng.standard_normal((5, 3))
    weights = [rng.standard_normal((5, 4)) for _ in range(2)]
    out_a, grads_a = run_and_grad(a, x, weights)
    out_b, grads_b = run_and_grad(b, x, weights)
    assert_close(out_b, out_a)
    assert_close(grads_b, grads_a)


@pytest.mark.parametrize("kind", ["RNN_tanh", "RNN_relu", "LSTM", "GRU"])
def test_fused_second_derivatives_equal_composite(kind, float64):
    """create_graph through the fused rules: the gradient of ‖∂L/∂W_hh‖² matches the composite graph's."""
    rng = np.random.default_rng(2)
    a, b = twin(UNROLLED[kind])
    x = rng.standard_normal((4, 2, 3))
    results = []
    for m in (a, b):
        xs = tg.tensor(x, requires_grad=True)
        out = outputs(m(xs))[0]
        (g,) = tg.grad(((out + 1) ** 2).sum(), [m.weight_hh_l0], create_graph=True)
        second = tg.grad((g * g).sum(), [xs] + list(m.parameters()))
        results.append([t.data for t in second])
    assert_close(results[1], results[0], tol=1e-11)


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("cell", ["composite", "fused"])
def test_cells_gradcheck_and_gradgradcheck(kind, cell, float64):
    m = CELLS[kind](cell=cell)
    x = tg.randn(2, 3, requires_grad=True)
    h = tg.randn(2, 4, requires_grad=True)
    if kind == "LSTMCell":
        c = tg.randn(2, 4, requires_grad=True)
        inputs = [x, h, c, m.weight_hh, m.weight_ih]

        def fn(x, h, c, *_):
            return m(x, (h, c))
    else:
        inputs = [x, h, m.weight_hh, m.weight_ih]

        def fn(x, h, *_):
            return m(x, h)
    assert tg.gradcheck(fn, inputs)
    assert tg.gradgradcheck(fn, inputs)


@settings(max_examples=5 if os.environ.get("TGS_FAST") == "1" else 15)  # each example is a few hundred forward passes
@given(T=st.integers(1, 5), B=st.integers(1, 3), layers=st.integers(1, 2), bidirectional=st.booleans(),
       kind=st.sampled_from(["RNN_tanh", "LSTM", "GRU"]), cell=st.sampled_from(["composite", "fused"]))
def test_unrolled_gradcheck(T, B, layers, bidirectional, kind, cell):
    tg.set_default_dtype(np.float64)
    try:
        m = UNROLLED[kind](num_layers=layers, bidirectional=bidirectional, cell=cell)
        x = tg.randn(T, B, 3, requires_grad=True)
        assert tg.gradcheck(lambda x, *_: outputs(m(x)), [x, m.weight_hh_l0, m.weight_ih_l0])
    finally:
        tg.set_default_dtype(np.float32)


# --------------------------------------------------------------------------- the graph: scopes and names


def graph_of(*roots):
    seen, stack, nodes = set(), list(roots), []
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        nodes.append(t)
        stack.extend(t.parents)
    return nodes


def test_lstm_graph_reads_layer_direction_step_gate():
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    out, (h, c) = m(tg.randn(5, 2, 3))
    by_place = {(t.scope, t.name) for t in graph_of(out, h, c)}
    for gate in ("input_gate", "forget_gate", "cell_candidate", "output_gate"):
        assert (f"LSTM/l0/t=3/{gate}", gate) in by_place
        assert (f"LSTM/l1_reverse/t=0/{gate}", gate) in by_place
    assert ("LSTM/l0/t=3/c", "c") in by_place and ("LSTM/l0/t=3/h", "h") in by_place
    assert ("LSTM/l1", "x_proj") in by_place  # the projection of all steps, made once per layer
    assert ("LSTM/l1/t=2", "x_proj(t)") in by_place  # and its step t, read inside the step's scope
    forget = next(t for t in graph_of(out) if t.name == "forget_gate" and t.scope == "LSTM/l0/t=3/forget_gate")
    assert forget.op == "sigmoid"


def test_gru_and_rnn_names_and_fused_nodes():
    out, h = nn.GRU(3, 4)(tg.randn(4, 2, 3))
    names = {(t.scope, t.name) for t in graph_of(out, h)}
    for gate in ("reset_gate", "update_gate", "candidate", "h"):
        assert (f"GRU/l0/t=2/{gate}", gate) in names
    out, h = nn.RNN(3, 4)(tg.randn(4, 2, 3))
    assert any(t.scope == "RNN/l0/t=1" and t.name == "h" and t.op == "tanh" for t in graph_of(out))
    out, (h, c) = nn.LSTM(3, 4, cell="fused")(tg.randn(4, 2, 3))
    cells = [t for t in graph_of(out) if t.op == "lstm_cell"]
    assert sorted(t.scope for t in cells) == [f"LSTM/l0/t={t}" for t in range(4)]


def test_module_inside_a_model_nests_its_scope():
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.GRU(3, 4)

        def forward(self, x):
            return self.encoder(x)[0]

    out = Tagger()(tg.randn(3, 1, 3))
    assert any(t.scope == "Tagger/encoder/l0/t=2/update_gate" for t in graph_of(out))


# --------------------------------------------------------------------------- shapes, layouts, states


@pytest.mark.parametrize("kind", list(UNROLLED))
def test_shapes_batch_first_and_unbatched(kind, float64):
    m = UNROLLED[kind](num_layers=2, bidirectional=True)
    x = tg.randn(5, 2, 3)
    out, state = m(x)
    assert out.shape == (5, 2, 8)
    for s in outputs(state):
        assert s.shape == (4, 2, 4)
    mb = UNROLLED[kind](num_layers=2, bidirectional=True, batch_first=True)
    mb.load_state_dict(m.state_dict())
    out_b, state_b = mb(x.transpose(0, 1))
    assert out_b.shape == (2, 5, 8)
    np.testing.assert_allclose(out_b.data.transpose(1, 0, 2), out.data, rtol=1e-12)
    out_u, state_u = m(x[:, 1])  # unbatched: (T, D)
    assert out_u.shape == (5, 8)
    np.testing.assert_allclose(out_u.data, out.data[:, 1], rtol=1e-12, atol=1e-15)
    for s_u, s in zip(outputs(state_u), outputs(state)):
        assert s_u.shape == (4, 4)
        np.testing.assert_allclose(s_u.data, s.data[:, 1], rtol=1e-12, atol=1e-15)


def test_initial_state_is_used_and_final_state_continues_the_sequence(float64):
    """Running 6 steps at once equals running 3, then 3 more from the returned state."""
    for kind in ("LSTM", "GRU", "RNN_tanh"):
        m = UNROLLED[kind](num_layers=2)
        x = tg.randn(6, 2, 3)
        full, _ = m(x)
        first, state = m(x[:3])
        second, _ = m(x[3:], state)
        np.testing.assert_allclose(tg.cat([first, second]).data, full.data, rtol=1e-12, atol=1e-15)


def test_parameters_init_and_names():
    m = nn.LSTM(3, 16, num_layers=2, bidirectional=True)
    names = [n for n, _ in m.named_parameters()]
    assert names[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse"]
    assert m.weight_ih_l1.shape == (64, 32) and m.weight_hh_l1_reverse.shape == (64, 16)
    assert len(m.all_weights) == 4 and m.all_weights[3][0] is m.weight_ih_l1_reverse
    for _, p in m.named_parameters():
        assert p.dtype == np.float32
        assert np.abs(p.data).max() <= 1 / 4 and np.abs(p.data).std() > 0.05  # uniform on ±1/√16
    assert "num_layers=2" in repr(m) and "bidirectional=True" in repr(m)
    assert [n for n, _ in nn.GRU(2, 3, bias=False).named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]


def test_dropout_between_layers_only_in_training(float64):
    m = nn.GRU(3, 4, num_layers=2, dropout=0.5)
    plain = nn.GRU(3, 4, num_layers=2)
    plain.load_state_dict(m.state_dict())
    x = tg.randn(4, 2, 3)
    m.eval()
    np.testing.assert_array_equal(m(x)[0].data, plain(x)[0].data)
    m.train()
    assert not np.allclose(m(x)[0].data, plain(x)[0].data)
    single = nn.GRU(3, 4, num_layers=1, dropout=0.5)  # nothing to drop between layers
    plain1 = nn.GRU(3, 4)
    plain1.load_state_dict(single.state_dict())
    np.testing.assert_array_equal(single(x)[0].data, plain1(x)[0].data)


@pytest.mark.parametrize("cell", ["composite", "fused"])
def test_lengths_equal_running_each_sequence_alone(cell, float64):
    m = nn.LSTM(3, 4, bidirectional=True, cell=cell)
    x = tg.randn(5, 3, 3)
    lengths = [5, 1, 3]
    out, (h, c) = m(x, lengths=lengths)
    for b, n in enumerate(lengths):
        out_b, (h_b, c_b) = m(x[:n, b:b + 1])
        np.testing.assert_allclose(out.data[:n, b], out_b.data[:, 0], rtol=1e-12, atol=1e-15)
        assert not out.data[n:, b].any()
        np.testing.assert_allclose(h.data[:, b], h_b.data[:, 0], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(c.data[:, b], c_b.data[:, 0], rtol=1e-12, atol=1e-15)


def test_long_unroll_backward_needs_no_recursion():
    m = nn.GRU(2, 3, cell="fused")
    x = tg.randn(3000, 1, 2, requires_grad=True)
    out, h = m(x)
    h.sum().backward()
    assert x.grad.shape == x.shape and np.isfinite(x.grad.data).all()
    assert np.abs(x.grad.data[-1]).sum() > 0


# --------------------------------------------------------------------------- reading a sequence step by step


def test_time_steps_gradient_equals_slicing_across_passes(float64):
    """Each backward pass gathers its own gradients, even when passes reach different steps."""
    x = tg.randn(6, 2, requires_grad=True)
    w = tg.randn(6, 2)
    steps = TimeSteps(x * 1.0)
    picks = [steps[t] for t in range(6)]
    running = [picks[0]]
    for t in range(1, 6):
        running.append((running[-1] * picks[t]).tanh())
    expected = []
    for t in (2, 5, 0):  # a loss reaching steps 0..2, then 0..5, then only step 0
        xr = tg.tensor(x.data, requires_grad=True)
        r = [xr[0]]
        for s in range(1, t + 1):
            r.append((r[-1] * xr[s]).tanh())
        (r[t] * w[t]).sum().backward()
        expected.append(xr.grad.data)
    for t, want in zip((2, 5, 0), expected):
        x.grad = None
        (running[t] * w[t]).sum().backward(retain_graph=True)
        np.testing.assert_allclose(x.grad.data, want, rtol=1e-13, atol=1e-15)


def test_time_steps_create_graph(float64):
    x = tg.randn(4, 3, requires_grad=True)
    steps = TimeSteps(x)
    y = sum((steps[t] ** 3).sum() * (t + 1) for t in range(4))
    (g,) = tg.grad(y, [x], create_graph=True)
    np.testing.assert_allclose(g.data, 3 * x.data**2 * np.arange(1, 5)[:, None], rtol=1e-13)
    (gg,) = tg.grad(g.sum(), [x])
    np.testing.assert_allclose(gg.data, 6 * x.data * np.arange(1, 5)[:, None], rtol=1e-13)


# --------------------------------------------------------------------------- errors


def test_clear_errors():
    m = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"LSTM: layer 0 expects input_size=3 .* got 5 \(input shape \(7, 2, 5\)\)"):
        m(tg.randn(7, 2, 5))
    with pytest.raises(ValueError, match=r"LSTM: input must be \(seq_len, batch, input_size\)"):
        m(tg.randn(7, 2, 1, 3))
    with pytest.raises(ValueError, match=r"LSTM: h_0 has shape \(1, 2, 4\), expected \(2, 2, 4\)"):
        m(tg.randn(7, 2, 3), (tg.zeros(1, 2, 4), tg.zeros(2, 2, 4)))
    with pytest.raises(ValueError, match=r"GRU: h_0 has shape \(2, 4\), expected \(1, 3, 4\)"):
        nn.GRU(3, 4)(tg.randn(7, 3, 3), tg.zeros(2, 4))
    with pytest.raises(ValueError, match=r"GRU: the input sequence is empty \(input shape \(2, 0, 3\)\)"):
        nn.GRU(3, 4, batch_first=True)(tg.randn(2, 0, 3))
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 7\]"):
        nn.GRU(3, 4)(tg.randn(7, 2, 3), lengths=[8, 1])
    with pytest.raises(ValueError, match=r"GRUCell: input must be \(batch, 3\) or \(3,\), got shape \(2, 5\)"):
        nn.GRUCell(3, 4)(tg.randn(2, 5))
    with pytest.raises(ValueError, match=r"LSTMCell: hx\[1\] \(c\) has shape \(2, 3\), expected \(2, 4\)"):
        nn.LSTMCell(3, 4)(tg.randn(2, 3), (tg.zeros(2, 4), tg.zeros(2, 3)))
    with pytest.raises(TypeError, match=r"LSTM: the initial state must be a pair \(h_0, c_0\), got Tensor"):
        m(tg.randn(7, 2, 3), tg.zeros(2, 2, 4))
    with pytest.raises(TypeError, match="GRU: the initial state is one tensor h_0, not a tuple"):
        nn.GRU(3, 4)(tg.randn(7, 2, 3), (tg.zeros(1, 2, 4), tg.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match="cell must be 'composite' or 'fused'"):
        nn.LSTM(3, 4, cell="fast")
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        nn.GRU(3, 0)
    with pytest.raises(ValueError, match="dropout must be a probability"):
        nn.GRU(3, 4, dropout=1.5)
