"""The lecture's variants: equations against plain numpy, reductions to the plain units, gradcheck, the ESN readouts."""

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import nn

T, B, D, H = 6, 2, 3, 4


def sig(a):
    return 1 / (1 + np.exp(-a))


def arrays(m):
    return {k: v.astype(np.float64) for k, v in m.state_dict().items()}


def proj(p, x_t):
    return x_t @ p["weight_ih_l0"].T + p["bias_ih_l0"] + p["bias_hh_l0"]


# --------------------------------------------------------------------------- equations, against numpy


@pytest.mark.parametrize("coupled", [False, True])
@pytest.mark.parametrize("peephole", [False, True])
def test_lstm_variants_follow_their_equations(coupled, peephole, float64):
    m = nn.PeepholeLSTM(D, H, coupled=coupled, peephole=peephole)
    p = arrays(m)
    x = np.random.default_rng(0).standard_normal((T, B, D))
    h, c = np.zeros((B, H)), np.zeros((B, H))
    outs = []
    for t in range(T):
        a = proj(p, x[t]) + h @ p["weight_hh_l0"].T
        blocks = np.split(a, 3 if coupled else 4, axis=1)
        a_i, a_g, a_o = (blocks[0], blocks[1], blocks[2]) if coupled else (blocks[0], blocks[2], blocks[3])
        i = sig(a_i + (p["weight_peephole_i"] * c if peephole else 0))
        f = 1 - i if coupled else sig(blocks[1] + (p["weight_peephole_f"] * c if peephole else 0))
        c = f * c + i * np.tanh(a_g)
        h = sig(a_o + (p["weight_peephole_o"] * c if peephole else 0)) * np.tanh(c)
        outs.append(h)
    out, (h_n, c_n) = m(tg.tensor(x))
    np.testing.assert_allclose(out.data, np.stack(outs), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n.data[0], h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_n.data[0], c, rtol=1e-12, atol=1e-14)
    assert ("weight_peephole_f" in p) == (peephole and not coupled)
    assert m.weight_ih_l0.shape == ((3 if coupled else 4) * H, D)


def test_coupled_lstm_class_and_peephole_off_is_lstm(float64):
    assert isinstance(nn.CoupledLSTM(D, H), nn.PeepholeLSTM) and nn.CoupledLSTM(D, H).coupled
    lstm = nn.LSTM(D, H)
    plain = nn.PeepholeLSTM(D, H, peephole=False)
    plain.load_state_dict(lstm.state_dict())
    x = tg.randn(T, B, D)
    np.testing.assert_allclose(plain(x)[0].data, lstm(x)[0].data, rtol=1e-13)


def test_leaky_rnn_equations_and_alpha_one_is_rnn(float64):
    alpha = np.array([1.0, 0.5, 0.1, 0.9])
    m = nn.LeakyRNN(D, H, alpha=alpha)
    p = arrays(m)
    x = np.random.default_rng(1).standard_normal((T, B, D))
    h, outs = np.zeros((B, H)), []
    for t in range(T):
        h = (1 - alpha) * h + alpha * np.tanh(proj(p, x[t]) + h @ p["weight_hh_l0"].T)
        outs.append(h)
    np.testing.assert_allclose(m(tg.tensor(x))[0].data, np.stack(outs), rtol=1e-12, atol=1e-14)

    rnn, leaky = nn.RNN(D, H), nn.LeakyRNN(D, H, alpha=1.0)
    leaky.load_state_dict(rnn.state_dict(), strict=False)
    np.testing.assert_allclose(leaky(tg.tensor(x))[0].data, rnn(tg.tensor(x))[0].data, rtol=1e-13)
    learned = nn.LeakyRNN(D, H, alpha=alpha.clip(0.05, 0.95), learn_alpha=True)
    np.testing.assert_allclose(learned.leak().data, alpha.clip(0.05, 0.95), rtol=1e-12)
    assert "leak_logit" in dict(learned.named_parameters())


def test_time_skip_rnn_equations_and_zero_skip_is_rnn(float64):
    d = 3
    m = nn.TimeSkipRNN(D, H, skip=d)
    p = arrays(m)
    x = np.random.default_rng(2).standard_normal((T, B, D))
    h0 = np.random.default_rng(3).standard_normal((B, H))
    hs = [h0]  # hs[s + 1] = h(s); h(s) = h_0 for s < 0
    for t in range(T):
        skip = hs[max(t - d + 1, 0)]
        hs.append(np.tanh(proj(p, x[t]) + hs[-1] @ p["weight_hh_l0"].T + skip @ p["weight_skip_l0"].T))
    out, h_n = m(tg.tensor(x), tg.tensor(h0[None]))
    np.testing.assert_allclose(out.data, np.stack(hs[1:]), rtol=1e-12, atol=1e-14)

    rnn = nn.RNN(D, H)
    m.load_state_dict({**rnn.state_dict(), "weight_skip_l0": np.zeros((H, H))})
    np.testing.assert_allclose(m(tg.tensor(x))[0].data, rnn(tg.tensor(x))[0].data, rtol=1e-13)


def test_clockwork_rnn_modules_tick_at_their_periods(float64):
    periods = (1, 2, 4)
    m = nn.ClockworkRNN(D, 6, periods=periods)
    p = arrays(m)
    W = p["weight_hh_l0"]
    module = np.arange(6) // 2
    assert (W[module[:, None] > module[None, :]] == 0).all()  # slow modules never read fast ones
    x = np.random.default_rng(4).standard_normal((9, B, D))
    h, outs = np.zeros((B, 6)), []
    for t in range(9):
        new = np.tanh(proj(p, x[t]) + h @ W.T)
        active = t % np.array(periods)[module] == 0
        h = np.where(active, new, h)
        outs.append(h)
    out, _ = m(tg.tensor(x))
    np.testing.assert_allclose(out.data, np.stack(outs), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(out.data[3, :, 2:], out.data[2, :, 2:])  # t = 3: only the period-1 module moves
    (out * out).sum().backward()
    assert (m.weight_hh_l0.grad.data[module[:, None] > module[None, :]] == 0).all()

    rnn, one = nn.RNN(D, 6), nn.ClockworkRNN(D, 6, periods=(1,))
    one.load_state_dict(rnn.state_dict(), strict=False)
    np.testing.assert_allclose(one(tg.tensor(x))[0].data, rnn(tg.tensor(x))[0].data, rtol=1e-13)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_deep_rnn_with_and_without_residual(mode, float64):
    x = tg.randn(T, B, H)
    plain = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[mode](H, H, num_layers=3)
    deep = nn.DeepRNN(H, H, num_layers=3, mode=mode, residual=False)
    deep.load_state_dict(plain.state_dict())
    np.testing.assert_allclose(deep(x)[0].data, plain(x)[0].data, rtol=1e-13)

    res = nn.DeepRNN(H, H, num_layers=3, mode=mode, residual=True)
    res.load_state_dict(plain.state_dict())
    y, states = x, []
    for k in range(3):
        layer = type(plain)(H, H)
        layer.load_state_dict({n.replace(f"_l{k}", "_l0"): v for n, v in plain.state_dict().items() if f"_l{k}" in n})
        out, s = layer(y)
        states.append(s[0] if mode == "LSTM" else s)
        y = out + y
    out, s = res(x)
    np.testing.assert_allclose(out.data, y.data, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose((s[0] if mode == "LSTM" else s).data, tg.cat(states).data, rtol=1e-12, atol=1e-14)
    assert (out.name, out.scope) == ("residual", "DeepRNN/l2_residual")


# --------------------------------------------------------------------------- gradcheck


VARIANTS = {
    "PeepholeLSTM": lambda: nn.PeepholeLSTM(D, H),
    "CoupledLSTM": lambda: nn.CoupledLSTM(D, H),
    "CoupledLSTM+peephole": lambda: nn.CoupledLSTM(D, H, peephole=True),
    "LeakyRNN": lambda: nn.LeakyRNN(D, H, alpha=[0.3, 0.6, 0.9, 1.0]),
    "LeakyRNN learned alpha": lambda: nn.LeakyRNN(D, H, alpha=0.4, learn_alpha=True),
    "TimeSkipRNN": lambda: nn.TimeSkipRNN(D, H, skip=2),
    "ClockworkRNN": lambda: nn.ClockworkRNN(D, H, periods=(1, 3)),
    "DeepRNN residual LSTM": lambda: nn.DeepRNN(D, H, num_layers=2, mode="LSTM", residual=True),
    "DeepRNN residual GRU fused": lambda: nn.DeepRNN(D, H, num_layers=3, mode="GRU", cell="fused"),
    "EchoStateNetwork": lambda: nn.EchoStateNetwork(D, 8, 2, leak_rate=0.7, bias_scaling=0.2),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_gradcheck(name, float64):
    m = VARIANTS[name]()
    x = tg.randn(5, 2, D, requires_grad=True)
    hidden = 8 if name == "EchoStateNetwork" else H
    h0 = tg.randn(1, 2, hidden, requires_grad=True)

    def flat(result):
        out, state = result
        return [out] + (list(state) if isinstance(state, tuple) else [state])

    if "LSTM" in name and "Deep" not in name:
        c0 = tg.randn(1, 2, H, requires_grad=True)
        inputs = [x, h0, c0] + list(m.parameters())
        assert tg.gradcheck(lambda x, h, c, *_: flat(m(x, (h, c))), inputs)
    elif "Deep" in name:
        inputs = [x] + list(m.parameters())
        assert tg.gradcheck(lambda x, *_: flat(m(x)), inputs)
    else:
        inputs = [x, h0] + list(m.parameters())
        assert tg.gradcheck(lambda x, h, *_: flat(m(x, h)), inputs)


# --------------------------------------------------------------------------- echo state network


def delayed_input_task(T=400, delay=3, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.uniform(-0.5, 0.5, (T, 1, 1))
    y = np.zeros_like(u)
    y[delay:] = u[:-delay]
    return u, y


def test_esn_reservoir_is_fixed_and_scaled_to_the_spectral_radius(float64):
    esn = nn.EchoStateNetwork(2, 50, 1, spectral_radius=0.8, density=0.2)
    assert np.isclose(np.abs(np.linalg.eigvals(esn.weight_hh.data)).max(), 0.8)
    assert 0.1 < (esn.weight_hh.data != 0).mean() < 0.3
    assert [n for n, _ in esn.named_parameters()] == ["readout.weight", "readout.bias"]
    assert {"weight_hh", "weight_ih", "bias"} <= set(esn.state_dict())
    states, h_n = esn.reservoir(tg.randn(7, 3, 2))
    assert states.shape == (7, 3, 50) and h_n.shape == (1, 3, 50)
    y, _ = esn(tg.randn(7, 3, 2, requires_grad=True))  # with an input that needs a gradient, a graph is kept
    assert ("EchoStateNetwork/reservoir/t=6", "h") in places(y)


def test_esn_ridge_and_gradient_descent_readouts_learn_a_delay_and_agree(float64):
    u, y = delayed_input_task()
    washout = 30
    ridge = nn.EchoStateNetwork(1, 60, 1, spectral_radius=0.9)
    var = y[washout:].var()
    nmse_ridge = ridge.fit_ridge(u, y, washout=washout, ridge=1e-8) / var
    gd = nn.EchoStateNetwork(1, 60, 1, spectral_radius=0.9)
    gd.load_state_dict(ridge.state_dict())
    gd.readout.weight.data[:] = 0
    gd.readout.bias.data[:] = 0
    nmse_gd = gd.fit_gradient_descent(u, y, washout=washout, steps=300) / var
    assert nmse_ridge < 0.01, nmse_ridge
    assert nmse_gd < 0.02, nmse_gd
    pred_ridge, pred_gd = ridge(u)[0].data[washout:], gd(u)[0].data[washout:]
    assert np.abs(pred_ridge - pred_gd).max() < 0.1
    assert np.corrcoef(pred_ridge.ravel(), pred_gd.ravel())[0, 1] > 0.99
    # and on fresh data the readout generalises
    u2, y2 = delayed_input_task(seed=1)
    err = ((ridge(u2)[0].data[washout:] - y2[washout:]) ** 2).mean() / y2[washout:].var()
    assert err < 0.02, err


def test_esn_leak_and_batch_first(float64):
    esn = nn.EchoStateNetwork(1, 10, 1, leak_rate=0.3, batch_first=True)
    u = tg.randn(2, 5, 1)
    y, h_n = esn(u)
    assert y.shape == (2, 5, 1)
    W, W_in, b = esn.weight_hh.data, esn.weight_ih.data, esn.bias.data
    h = np.zeros((2, 10))
    for t in range(5):
        h = 0.7 * h + 0.3 * np.tanh(u.data[:, t] @ W_in.T + b + h @ W.T)
    np.testing.assert_allclose(h_n.data[0], h, rtol=1e-12)
    esn.fit_ridge(u, tg.randn(2, 5, 1))  # batch-first targets are accepted


# --------------------------------------------------------------------------- scopes and errors


def places(root):
    """{(scope, name)} of every tensor in the graph behind root."""
    seen, stack, found = set(), [root], set()
    while stack:
        t = stack.pop()
        if id(t) not in seen:
            seen.add(id(t))
            found.add((t.scope, t.name))
            stack.extend(t.parents)
    return found


def test_variant_scopes():
    out, _ = nn.PeepholeLSTM(D, H)(tg.randn(4, 1, D))
    assert ("PeepholeLSTM/l0/t=2/forget_gate", "forget_gate") in places(out)
    assert ("PeepholeLSTM/l0/t=3/output_gate", "output_gate") in places(out)
    out, _ = nn.ClockworkRNN(D, H, periods=(1, 2))(tg.randn(4, 1, D))
    assert ("ClockworkRNN/l0/t=1/candidate", "candidate") in places(out)


def test_variant_errors():
    with pytest.raises(ValueError, match=r"ClockworkRNN: periods must be increasing .* got \(2, 1\)"):
        nn.ClockworkRNN(D, 4, periods=(2, 1))
    with pytest.raises(ValueError, match="count divides hidden_size"):
        nn.ClockworkRNN(D, 5, periods=(1, 2))
    with pytest.raises(ValueError, match=r"LeakyRNN: alpha must lie in \(0, 1\]"):
        nn.LeakyRNN(D, H, alpha=0)
    with pytest.raises(ValueError, match="DeepRNN: mode must be"):
        nn.DeepRNN(D, H, mode="lstm")
    with pytest.raises(ValueError, match=r"PeepholeLSTM: layer 0 expects input_size=3 .* got 2"):
        nn.PeepholeLSTM(D, H)(tg.randn(4, 1, 2))
    with pytest.raises(ValueError, match=r"TimeSkipRNN: h_0 has shape \(2, 4\), expected \(1, 1, 4\)"):
        nn.TimeSkipRNN(D, H)(tg.randn(4, 1, D), tg.zeros(2, 4))
    esn = nn.EchoStateNetwork(1, 10, 2)
    with pytest.raises(ValueError, match=r"EchoStateNetwork: target of shape \(5, 1, 1\) does not match"):
        esn.fit_ridge(tg.randn(5, 1, 1), tg.randn(5, 1, 1))
