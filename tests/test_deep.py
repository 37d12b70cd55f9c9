"""Deep recurrent networks (nn/deep.py) and the analytic BPTT of the deep transition (bptt/deep.py).

Each model is checked against its equations written again in plain numpy, against nn.RNN / nn.LSTM
(and nn.Linear) where it reduces to them, and by gradcheck in float64.
"""

import dataclasses

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import tinygrad_seq as tg
from tinygrad_seq import nn
from tinygrad_seq.bptt import deep as deep_bptt

T, B, D, H = 6, 2, 3, 4


def sig(a):
    return 1 / (1 + np.exp(-a))


def arrays(m):
    return {k: v.astype(np.float64) for k, v in m.state_dict().items()}


def rand(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)


def places(root):
    """{(scope, name)} of every tensor in the graph behind root."""
    seen, todo, found = set(), [root], set()
    while todo:
        t = todo.pop()
        if id(t) not in seen:
            seen.add(id(t))
            found.add((t.scope, t.name))
            todo.extend(t.parents)
    return found


def grads(m, *inputs):
    return {k: p.grad.data for k, p in m.named_parameters()}


# --------------------------------------------------------------------------- the equations, again in numpy


def np_deep_transition(p, x, h0, L, shortcut, phi=np.tanh):
    """z_1 = φ(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh); z_k = φ(z W_kᵀ + b_k); h = φ(z W_Lᵀ + b_L + h W_sᵀ)."""
    h, hs = h0, []
    for t in range(len(x)):
        z = phi(x[t] @ p["weight_ih_l0"].T + p["bias_ih_l0"] + h @ p["weight_hh_l0"].T + p["bias_hh_l0"])
        for k in range(2, L + 1):
            a = z @ p[f"weight_transition_{k}"].T + p[f"bias_transition_{k}"]
            if k == L and shortcut:
                a = a + h @ p["weight_shortcut"].T
            z = phi(a)
        h = z
        hs.append(h)
    return np.stack(hs)


def np_deep_output(p, hs, M, shortcut, phi=np.tanh):
    u = hs
    for k in range(1, M):
        u = phi(u @ p[f"weight_out_{k}"].T + p[f"bias_out_{k}"])
    o = u @ p[f"weight_out_{M}"].T + p[f"bias_out_{M}"]
    return o + hs @ p["weight_out_shortcut"].T if shortcut else o


def np_depth_gated_lstm(p, x, h0, c0, layers):
    y, h_n, c_n, cells_below = x, [], [], None
    for l in range(layers):
        h, c, outs, cells = h0[l], c0[l], [], []
        for t in range(len(y)):
            a = y[t] @ p[f"weight_ih_l{l}"].T + p[f"bias_ih_l{l}"] + h @ p[f"weight_hh_l{l}"].T + p[f"bias_hh_l{l}"]
            a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
            c_new = sig(a_f) * c + sig(a_i) * np.tanh(a_g)
            if l:
                d = sig(y[t] @ p[f"weight_ih_depth_l{l}"].T + p[f"bias_depth_l{l}"]
                        + p[f"weight_cell_depth_l{l}"] * c + p[f"weight_lower_depth_l{l}"] * cells_below[t])
                c_new = c_new + d * cells_below[t]
            c = c_new
            h = sig(a_o) * np.tanh(c)
            outs.append(h)
            cells.append(c)
        y, cells_below = np.stack(outs), cells
        h_n.append(h)
        c_n.append(c)
    return y, np.stack(h_n), np.stack(c_n)


def np_dilated(p, x, past, d):
    """past: the d states h(−d) … h(−1)."""
    hs = list(past)
    for t in range(len(x)):
        hs.append(np.tanh(x[t] @ p["weight_ih_l0"].T + p["bias_ih_l0"] + hs[t] @ p["weight_hh_l0"].T + p["bias_hh_l0"]))
    return np.stack(hs[d:])


@pytest.mark.parametrize("L, S, shortcut", [(2, None, False), (2, None, True), (3, 5, False), (4, 3, True)])
def test_deep_transition_follows_its_equations(L, S, shortcut, float64):
    m = nn.DeepTransitionRNN(D, H, transition_layers=L, transition_size=S, shortcut=shortcut)
    p, x, h0 = arrays(m), rand(0, T, B, D), rand(1, B, H)
    want = np_deep_transition(p, x, h0, L, shortcut)
    out, h_n = m(tg.tensor(x), tg.tensor(h0[None]))
    np.testing.assert_allclose(out.data, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n.data, want[-1:], rtol=1e-12, atol=1e-14)
    assert m.weight_hh_l0.shape == (S or H, H) and getattr(m, f"weight_transition_{L}").shape == (H, S or H)
    assert ("weight_shortcut" in p) == shortcut


def test_deep_transition_relu_and_no_bias(float64):
    m = nn.DeepTransitionRNN(D, H, transition_layers=3, nonlinearity="relu", bias=False)
    p = arrays(m)
    assert not any("bias" in k for k in p)
    p.update({k: 0.0 for k in ("bias_ih_l0", "bias_hh_l0", "bias_transition_2", "bias_transition_3")})
    x = rand(2, T, B, D)
    want = np_deep_transition(p, x, np.zeros((B, H)), 3, False, phi=lambda a: np.maximum(a, 0))
    np.testing.assert_allclose(m(tg.tensor(x))[0].data, want, rtol=1e-12, atol=1e-14)


def test_one_layer_transition_is_nn_rnn(float64):
    rnn, m = nn.RNN(D, H), nn.DeepTransitionRNN(D, H, transition_layers=1)
    m.load_state_dict(rnn.state_dict())  # strict: the same names and shapes
    x = tg.randn(T, B, D)
    (o1, h1), (o2, h2) = rnn(x), m(x)
    np.testing.assert_allclose(o2.data, o1.data, rtol=1e-14)
    np.testing.assert_allclose(h2.data, h1.data, rtol=1e-14)
    ((o1 ** 2).sum()).backward()
    ((o2 ** 2).sum()).backward()
    for k, g in grads(rnn).items():
        np.testing.assert_allclose(grads(m)[k], g, rtol=1e-12)


@pytest.mark.parametrize("M, L, shortcut", [(2, 1, False), (3, 1, True), (2, 2, True)])
def test_deep_output_follows_its_equations(M, L, shortcut, float64):
    C = 5
    m = nn.DeepOutputRNN(D, H, C, output_layers=M, output_hidden_size=6, output_shortcut=shortcut,
                         transition_layers=L, shortcut=L > 1)
    p, x = arrays(m), rand(3, T, B, D)
    hs = np_deep_transition(p, x, np.zeros((B, H)), L, L > 1)
    out, h_n = m(tg.tensor(x))
    np.testing.assert_allclose(out.data, np_deep_output(p, hs, M, shortcut), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n.data[0], hs[-1], rtol=1e-12, atol=1e-14)
    assert out.shape == (T, B, C) and getattr(m, f"weight_out_{M}").shape == (C, 6)


def test_one_layer_output_is_nn_rnn_with_a_linear_readout(float64):
    rnn, readout, m = nn.RNN(D, H), nn.Linear(H, 5), nn.DeepOutputRNN(D, H, 5, output_layers=1)
    m.load_state_dict({**rnn.state_dict(), "weight_out_1": readout.weight.data, "bias_out_1": readout.bias.data})
    x = tg.randn(T, B, D)
    o_ref = readout(rnn(x)[0])
    o = m(x)[0]
    np.testing.assert_allclose(o.data, o_ref.data, rtol=1e-13)
    y = np.arange(T * B) % 5
    tg.functional.cross_entropy(o_ref.reshape(-1, 5), y).backward()
    tg.functional.cross_entropy(o.reshape(-1, 5), y).backward()
    np.testing.assert_allclose(m.weight_out_1.grad.data, readout.weight.grad.data, rtol=1e-12)
    np.testing.assert_allclose(m.weight_hh_l0.grad.data, rnn.weight_hh_l0.grad.data, rtol=1e-12)


@pytest.mark.parametrize("layers", [2, 3])
def test_depth_gated_lstm_follows_its_equations(layers, float64):
    m = nn.DepthGatedLSTM(D, H, num_layers=layers)
    p, x = arrays(m), rand(4, T, B, D)
    h0, c0 = rand(5, layers, B, H), rand(6, layers, B, H)
    want, h_want, c_want = np_depth_gated_lstm(p, x, h0, c0, layers)
    out, (h_n, c_n) = m(tg.tensor(x), (tg.tensor(h0), tg.tensor(c0)))
    np.testing.assert_allclose(out.data, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n.data, h_want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_n.data, c_want, rtol=1e-12, atol=1e-14)


def test_depth_gate_closed_is_nn_lstm(float64):
    lstm, m = nn.LSTM(D, H, num_layers=3), nn.DepthGatedLSTM(D, H, num_layers=3)
    missing, unexpected = m.load_state_dict(lstm.state_dict(), strict=False)
    assert not unexpected and all("depth" in k for k in missing)
    for layer in (1, 2):  # σ(−800) is exactly 0 in float64: the gate is shut
        getattr(m, f"bias_depth_l{layer}").data[:] = -800.0
    x = tg.randn(T, B, D)
    (o1, (h1, c1)), (o2, (h2, c2)) = lstm(x), m(x)
    for a, b in ((o1, o2), (h1, h2), (c1, c2)):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-13)
    (o1 ** 2).sum().backward()
    (o2 ** 2).sum().backward()
    for k, g in grads(lstm).items():
        np.testing.assert_allclose(grads(m)[k], g, rtol=1e-11, atol=1e-15)
    one = nn.DepthGatedLSTM(D, H, num_layers=1)
    one.load_state_dict(nn.LSTM(D, H).state_dict())  # one layer: nothing below to gate, the same names
    assert [n for n, _ in one.named_parameters()] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]


@pytest.mark.parametrize("d", [1, 2, 3])
def test_dilated_rnn_follows_its_equation_and_continues_exactly(d, float64):
    m = nn.DilatedRNN(D, H, dilation=d)
    p, x = arrays(m), rand(7, T, B, D)
    past = rand(8, d, B, H)
    out, h_n = m(tg.tensor(x), tg.tensor(past))
    want = np_dilated(p, x, past, d)
    np.testing.assert_allclose(out.data, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n.data, np.concatenate([past, want])[-d:], rtol=1e-12, atol=1e-14)
    one = rand(9, 1, B, H)  # a single state stands for every step before the start
    np.testing.assert_allclose(m(tg.tensor(x), tg.tensor(one))[0].data, np_dilated(p, x, [one[0]] * d, d),
                               rtol=1e-12, atol=1e-14)
    first, h_mid = m(tg.tensor(x[:4]))
    second, _ = m(tg.tensor(x[4:]), h_mid)
    np.testing.assert_allclose(np.concatenate([first.data, second.data]), m(tg.tensor(x))[0].data, rtol=1e-13)


def test_dilated_rnn_is_d_separate_chains_and_d1_is_nn_rnn(float64):
    d = 3
    m = nn.DilatedRNN(D, H, dilation=d)
    x = rand(10, 9, B, D)
    x2 = x.copy()
    x2[4] += 1.0  # change the input at step 4: only steps 4, 7 (its chain) may change
    changed = np.abs(m(tg.tensor(x))[0].data - m(tg.tensor(x2))[0].data).max(axis=(1, 2)) > 0
    assert changed.tolist() == [t in (4, 7) for t in range(9)]
    rnn, one = nn.RNN(D, H), nn.DilatedRNN(D, H, dilation=1)
    one.load_state_dict(rnn.state_dict())
    xt = tg.tensor(x)
    np.testing.assert_allclose(one(xt)[0].data, rnn(xt)[0].data, rtol=1e-14)


def test_time_skip_without_length_one_connections_is_the_dilated_rnn(float64):
    d = 3
    skip = nn.TimeSkipRNN(D, H, skip=d, length_one=False)
    assert "weight_hh_l0" not in dict(skip.named_parameters()) and skip.weight_hh_l0 is None
    dilated = nn.DilatedRNN(D, H, dilation=d)
    sd = skip.state_dict()
    sd["weight_hh_l0"] = sd.pop("weight_skip_l0")
    dilated.load_state_dict(sd)
    x, h0 = tg.randn(T, B, D), tg.randn(1, B, H)
    np.testing.assert_allclose(skip(x, h0)[0].data, dilated(x, h0)[0].data, rtol=1e-13)
    assert "length_one=False" in repr(skip)


def test_layouts_batch_first_and_unbatched(float64):
    x = tg.randn(T, B, D)
    for make in (lambda **k: nn.DeepTransitionRNN(D, H, shortcut=True, **k),
                 lambda **k: nn.DeepOutputRNN(D, H, 2, **k),
                 lambda **k: nn.DepthGatedLSTM(D, H, **k),
                 lambda **k: nn.DilatedRNN(D, H, dilation=2, **k)):
        tg.manual_seed(0)
        m = make()
        tg.manual_seed(0)
        mb = make(batch_first=True)
        out, state = m(x)
        out_b, state_b = mb(x.transpose(0, 1))
        np.testing.assert_allclose(out_b.data, out.data.transpose(1, 0, 2), rtol=1e-14)
        single, single_state = m(x[:, 0])
        np.testing.assert_allclose(single.data, out.data[:, 0], rtol=1e-13)
        h = state[0] if isinstance(state, tuple) else state
        h1 = single_state[0] if isinstance(single_state, tuple) else single_state
        np.testing.assert_allclose(h1.data, h.data[:, 0], rtol=1e-13)


# --------------------------------------------------------------------------- gradients, scopes, errors


MODELS = {
    "DT-RNN": lambda: nn.DeepTransitionRNN(D, H, transition_layers=3, transition_size=3),
    "DT(S)-RNN": lambda: nn.DeepTransitionRNN(D, H, transition_layers=2, shortcut=True),
    "DO-RNN shortcut": lambda: nn.DeepOutputRNN(D, H, 2, output_layers=3, output_shortcut=True),
    "DOT(S)-RNN": lambda: nn.DeepOutputRNN(D, H, 2, transition_layers=2, shortcut=True),
    "DepthGatedLSTM": lambda: nn.DepthGatedLSTM(D, H, num_layers=2),
    "DilatedRNN": lambda: nn.DilatedRNN(D, H, dilation=2),
    "TimeSkipRNN no length-one": lambda: nn.TimeSkipRNN(D, H, skip=2, length_one=False),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_gradcheck(name, float64):
    m = MODELS[name]()
    x = tg.randn(4, 2, D, requires_grad=True)
    if name == "DepthGatedLSTM":
        h0, c0 = tg.randn(2, 2, H, requires_grad=True), tg.randn(2, 2, H, requires_grad=True)
        assert tg.gradcheck(lambda x, h, c, *_: [m(x, (h, c))[0], *m(x, (h, c))[1]], [x, h0, c0, *m.parameters()])
    else:
        n = 2 if name == "DilatedRNN" else 1
        h0 = tg.randn(n, 2, H, requires_grad=True)
        assert tg.gradcheck(lambda x, h, *_: list(m(x, h)), [x, h0, *m.parameters()])


def test_stages_are_named_for_pictures():
    out, _ = nn.DeepTransitionRNN(D, H, transition_layers=3, shortcut=True)(tg.randn(3, 1, D))
    found = places(out)
    for place in [("DeepTransitionRNN/l0/t=2/transition_1", "z_1"), ("DeepTransitionRNN/l0/t=2/transition_2", "z_2"),
                  ("DeepTransitionRNN/l0/t=2/shortcut", "shortcut"), ("DeepTransitionRNN/l0/t=2/h", "h"),
                  ("DeepTransitionRNN/l0", "x_proj")]:
        assert place in found, place
    out, _ = nn.DeepOutputRNN(D, H, 2, output_layers=2, output_shortcut=True)(tg.randn(3, 1, D))
    found = places(out)
    for place in [("DeepOutputRNN/l0/t=1/output_1", "u_1"), ("DeepOutputRNN/l0/t=1/o", "o"),
                  ("DeepOutputRNN/l0/t=1/output_shortcut", "output_shortcut"), ("DeepOutputRNN/l0/t=1", "h")]:
        assert place in found, place
    out, _ = nn.DepthGatedLSTM(D, H)(tg.randn(3, 1, D))
    found = places(out)
    assert ("DepthGatedLSTM/l1/t=2/depth_gate", "depth_gate") in found
    assert ("DepthGatedLSTM/l0/t=2/forget_gate", "forget_gate") in found


def test_errors():
    with pytest.raises(ValueError, match=r"DeepTransitionRNN: shortcut=True needs transition_layers >= 2"):
        nn.DeepTransitionRNN(D, H, transition_layers=1, shortcut=True)
    with pytest.raises(ValueError, match=r"DeepOutputRNN: output_shortcut=True needs output_layers >= 2"):
        nn.DeepOutputRNN(D, H, 2, output_layers=1, output_shortcut=True)
    with pytest.raises(ValueError, match=r"DeepTransitionRNN: transition_layers must be a positive integer, got 0"):
        nn.DeepTransitionRNN(D, H, transition_layers=0)
    with pytest.raises(ValueError, match=r"DilatedRNN: dilation must be a positive integer, got 1.5"):
        nn.DilatedRNN(D, H, dilation=1.5)
    with pytest.raises(ValueError, match=r"DeepTransitionRNN: nonlinearity must be 'tanh' or 'relu'"):
        nn.DeepTransitionRNN(D, H, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"DepthGatedLSTM: expects input_size=3 .* got 2"):
        nn.DepthGatedLSTM(D, H)(tg.randn(4, 1, 2))
    with pytest.raises(ValueError, match=r"DilatedRNN: h_0 has shape \(2, 1, 4\), expected \(1, 1, 4\) or \(3, 1, 4\)"):
        nn.DilatedRNN(D, H, dilation=3)(tg.randn(4, 1, D), tg.zeros(2, 1, 4))
    with pytest.raises(TypeError, match=r"DepthGatedLSTM: the initial state must be a pair"):
        nn.DepthGatedLSTM(D, H)(tg.randn(4, 1, D), tg.zeros(2, 1, 4))
    with pytest.raises(ValueError, match=r"DeepOutputRNN: input must be \(seq_len, batch, input_size\)"):
        nn.DeepOutputRNN(D, H, 2)(tg.randn(D))


def test_repr():
    assert repr(nn.DeepTransitionRNN(3, 4, 3, 5, shortcut=True)) == \
        "DeepTransitionRNN(3, 4, transition_layers=3, transition_size=5, shortcut=True)"
    assert repr(nn.DeepOutputRNN(3, 4, 2)) == "DeepOutputRNN(3, 4, 2, output_layers=2)"
    assert repr(nn.DilatedRNN(3, 4, 2)) == "DilatedRNN(3, 4, dilation=2)"


# --------------------------------------------------------------------------- analytic BPTT of the deep transition


@st.composite
def deep_transition_cases(draw):
    L = draw(st.integers(1, 4))
    sizes = dict(T=draw(st.integers(1, 5)), N=draw(st.integers(1, 3)), D=draw(st.integers(1, 3)),
                 H=draw(st.integers(1, 4)), S=draw(st.integers(1, 4)), C=draw(st.integers(2, 4)))
    return dict(L=L, shortcut=L > 1 and draw(st.booleans()), relu=draw(st.booleans()), bias=draw(st.booleans()),
                given_h0=draw(st.booleans()), seed=draw(st.integers(0, 2**16)), **sizes)


@given(deep_transition_cases())
# found by hypothesis: finite differences of a bias the model lacks (relu, bias=False: its pre-activation at the kink)
@example(dict(L=4, shortcut=True, relu=True, bias=False, given_h0=False, seed=594, T=1, N=1, D=1, H=1, S=3, C=2))
def test_analytic_bptt_of_the_deep_transition_matches_autodiff(case):
    tg.set_default_dtype(np.float64)
    try:
        tg.manual_seed(case["seed"])
        rng = np.random.default_rng(case["seed"])
        T, N, C = case["T"], case["N"], case["C"]
        rnn = nn.DeepTransitionRNN(case["D"], case["H"], transition_layers=case["L"], transition_size=case["S"],
                                   shortcut=case["shortcut"], nonlinearity="relu" if case["relu"] else "tanh",
                                   bias=case["bias"])
        readout = nn.Linear(case["H"], C)
        x, y = rng.standard_normal((T, N, case["D"])), rng.integers(0, C, (T, N))
        h0 = rng.standard_normal((N, case["H"])) if case["given_h0"] else None
        report = deep_bptt.compare(rnn, readout, x, y, h0)
        assert report.ok, str(report)
        assert report.max_rel_error < 1e-10
        assert {r.label for r in report.rows} >= {f"∇h({t}) L" for t in range(1, T + 1)} | {"∇U", "∇W_1", "∇V", "∇c"}
        assert ("∇W_s" in {r.label for r in report.rows}) == case["shortcut"]
    finally:
        tg.set_default_dtype(np.float32)


def test_analytic_bptt_gradients_and_a_planted_slip(float64):
    rnn = nn.DeepTransitionRNN(3, 4, transition_layers=3, transition_size=5, shortcut=True)
    readout = nn.Linear(4, 3)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 2, 3)), rng.integers(0, 3, (6, 2))
    report = deep_bptt.compare(rnn, readout, x, y)
    assert report.ok and "verdict: OK" in str(report), str(report)
    cache = deep_bptt.forward(x, y, deep_bptt.params_of(rnn, readout))
    g = deep_bptt.backward(cache)
    assert g.dh.shape == (6, 2, 4) and g.gates["a_2"].shape == (6, 2, 5) and g.dh0.shape == (2, 4)
    assert np.isclose(cache.loss, report_loss(rnn, readout, x, y), rtol=1e-12)

    def forgets_the_shortcut(cache):  # a slip: the shortcut's share of ∇h(t) L left out
        return deep_bptt.backward(dataclasses.replace(cache, shortcut=False))

    bad = deep_bptt.compare(rnn, readout, x, y, backward_fn=forgets_the_shortcut)
    assert not bad.ok and bad.first_disagreement.label == "∇h(5) L", str(bad)  # ∇h(6) L is still right


def report_loss(rnn, readout, x, y):
    out, _ = rnn(tg.tensor(x))
    return tg.functional.cross_entropy(readout(out).reshape(-1, readout.out_features), y.reshape(-1),
                                       reduction="sum").item()
