"""Long-term dependencies: ∂h(T)/∂h(t), the lecture's bound, the eigenvalue view, and Pascanu's regularizer Ω."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_seq as tg
from tinygrad_seq import bptt
from tinygrad_seq.bptt import gru, jacobian, lstm, notation, regularizer, rnn, unroll

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def rnn_params(rng, D, H, C, w_scale=1.0):
    return dict(U=rng.standard_normal((D, H)), W=rng.standard_normal((H, H)) * w_scale / np.sqrt(H),
                b=rng.standard_normal(H) * 0.3, V=rng.standard_normal((H, C)), c=rng.standard_normal(C))


def test_rnn_jacobians_equal_the_engines(float64):
    """∂h(T)/∂h(t) from the products D(k+1) Wᵀ equals the engine's, row by row (one backward per unit of h(T))."""
    rng = np.random.default_rng(0)
    T, N, D, H, C = 6, 2, 3, 4, 3
    layer = bptt.Recurrent("rnn", D, H, trace=True)
    layer.load_state_dict({k: rng.standard_normal(v.shape) for k, v in layer.state_dict().items()})
    x = rng.standard_normal((T, N, D))
    layer(tg.tensor(x))
    hs = [step["h"] for step in layer.steps]
    p = notation.from_pytorch({k: v.data for k, v in layer.named_parameters()},
                              dict(weight=np.zeros((C, H))), "rnn")
    cache = rnn.rnn_forward(x, np.zeros((T, N), dtype=int), p)
    n = 1
    J = jacobian.hidden_jacobians(cache, n)
    for t in range(1, T):
        engine = np.zeros((H, H))
        for u in range(H):
            unit = np.zeros((N, H))
            unit[n, u] = 1
            (g,) = tg.grad(hs[T - 1], hs[t - 1], grad_outputs=tg.tensor(unit), retain_graph=True)
            engine[u] = g.data[n]
        np.testing.assert_allclose(J[t], engine, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(J[T], np.eye(H))


@pytest.mark.parametrize("cell,G,extra", [(lstm.cell(), 4, ()), (lstm.cell(peephole=True), 4, ("p_i", "p_f", "p_o")),
                                          (gru.cell(), 3, ("b_hn",))], ids=["lstm", "lstm_peephole", "gru"])
def test_gated_state_jacobians_equal_finite_differences(cell, G, extra):
    """For s = (h, c) or h: ∂s(T)/∂s(t) by central differences of the forward run from a perturbed s(t)."""
    rng = np.random.default_rng(1)
    T, N, D, H, C = 5, 2, 3, 3, 2
    p = dict(U=rng.standard_normal((D, G * H)), W=rng.standard_normal((H, G * H)), b=rng.standard_normal(G * H),
             V=rng.standard_normal((H, C)), c=rng.standard_normal(C))
    p.update({k: rng.standard_normal(H) for k in extra})
    x, y = rng.standard_normal((T, N, D)), rng.integers(0, C, (T, N))
    cache = unroll.forward(cell, x, y, p)
    n, t = 1, 2
    J = jacobian.hidden_jacobians(cache, n)[t]
    k = len(cell.state_names)
    base = np.concatenate([s[n] for s in cache.states[t - 1]])

    def run_from(s):
        state = tuple(s[None, j * H:(j + 1) * H] for j in range(k))
        for step in range(t, T):
            state, _ = cell.step_forward(x[step, n:n + 1], state, p)
        return np.concatenate([a[0] for a in state])

    numeric = np.zeros((k * H, k * H))
    for u in range(k * H):
        e = np.zeros(k * H)
        e[u] = 1e-6
        numeric[:, u] = (run_from(base + e) - run_from(base - e)) / 2e-6
    np.testing.assert_allclose(J, numeric, rtol=1e-6, atol=1e-8)


@settings(max_examples=40)
@given(T=st.integers(1, 12), H=st.integers(1, 6), w_scale=st.floats(0.1, 3.0), nl=st.sampled_from(["tanh", "relu"]),
       seed=st.integers(0, 2**16))
def test_jacobian_norm_never_exceeds_the_bound(T, H, w_scale, nl, seed):
    """‖∂h(T)/∂h(t)‖₂ ≤ ∏ σmax(D(k+1)) σmax(W) for every t, on random weights of every scale."""
    rng = np.random.default_rng(seed)
    p = rnn_params(rng, 3, H, 2, w_scale)
    x, y = rng.standard_normal((T, 2, 3)), rng.integers(0, 2, (T, 2))
    cache = rnn.rnn_forward(x, y, p, nonlinearity=nl)
    for n in range(2):
        norms, bound = jacobian.jacobian_norms(cache, n), jacobian.jacobian_bound(cache, n)
        assert np.all(norms <= bound * (1 + 1e-10) + 1e-300)
        assert norms[-1] == pytest.approx(1.0) and bound[-1] == 1.0


def test_vanishing_below_spectral_radius_one_and_exploding_above():
    T = 30
    linear = jacobian.spectral_radius_sweep((0.5, 0.9, 1.0, 1.1, 1.5), H=6, T=T, nonlinearity="identity")
    gaps = T - np.arange(T + 1)
    for rho, norms in linear.items():  # exactly ρ^{T−t}: the eigenvalue of largest modulus, to the power of the gap
        np.testing.assert_allclose(norms, rho ** gaps, rtol=1e-9)
    assert linear[0.9][0] < 0.05 and linear[1.5][0] > 1e5
    squashed = jacobian.spectral_radius_sweep((0.9, 1.5), H=6, T=T, nonlinearity="tanh")
    assert np.all(squashed[0.9] <= 0.9 ** gaps * (1 + 1e-9))  # tanh' ≤ 1 only makes it vanish faster
    assert np.all(np.diff(squashed[0.9]) > 0)  # monotone: every step back multiplies by less than 0.9


def test_eigen_view_h_t_equals_q_lambda_power_q_h0():
    rng = np.random.default_rng(2)
    for rho in (0.8, 1.2):
        W = jacobian.with_spectral_radius(5, rho, rng)
        h0 = rng.standard_normal(5)
        view = jacobian.eigen_view(W, h0, 15)
        np.testing.assert_allclose(view.h_eigen, view.h, rtol=1e-10, atol=1e-12)
        assert view.spectral_radius == pytest.approx(rho)
        # each eigen-coordinate is multiplied by its eigenvalue at every step
        np.testing.assert_allclose(view.components[1:], view.components[:-1] * view.eigenvalues, rtol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(view.Q @ view.Q.T - np.eye(5)), 0, atol=1e-12)
    with pytest.raises(ValueError, match="symmetric W"):
        jacobian.eigen_view(rng.standard_normal((3, 3)), np.ones(3), 2)
    W = jacobian.with_spectral_radius(4, 0.7, rng, symmetric=False)
    assert np.abs(np.linalg.eigvals(W)).max() == pytest.approx(0.7)


# --------------------------------------------------------------------------- the regularizer


def random_lm(mode, D, H, C, seed, scale=0.8):
    net = bptt.RecurrentLM(mode, D, H, C)
    rng = np.random.default_rng(seed)
    net.load_state_dict({k: scale * rng.standard_normal(v.shape) for k, v in net.state_dict().items()})
    return net


def test_regularizer_value_equals_the_analytic_formula(float64):
    """Ω from the engine (double backward) = Ω from the BPTT formulas in numpy: Σ (‖v D(t) Wᵀ‖/‖v‖ − 1)²."""
    rng = np.random.default_rng(3)
    T, N, D, H, C = 6, 3, 3, 4, 3
    net = random_lm("rnn", D, H, C, seed=3)
    x, y = rng.standard_normal((T, N, D)), rng.integers(0, C, (T, N))
    omega, L = bptt.gradient_flow_regularizer(net, x, y)
    p = notation.from_pytorch({k: v.data for k, v in net.rnn.named_parameters()},
                              {k: v.data for k, v in net.readout.named_parameters()}, "rnn")
    cache = rnn.rnn_forward(x, y, p)
    assert omega.item() == pytest.approx(regularizer.rnn_omega_numpy(cache), rel=1e-12)
    assert L.item() == pytest.approx(cache.loss, rel=1e-12)


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_regularizer_gradient_passes_gradcheck(float64, mode):
    rng = np.random.default_rng(4)
    T, N, D, H, C = 3, 2, 2, 2, 2
    net = random_lm(mode, D, H, C, seed=4)
    x, y = rng.standard_normal((T, N, D)), rng.integers(0, C, (T, N))
    checked = net.parameters() if mode == "rnn" else [net.rnn.weight_hh_l0, net.rnn.weight_ih_l0]
    assert tg.gradcheck(lambda *ps: bptt.gradient_flow_regularizer(net, x, y)[0], checked)


def test_pascanus_constant_upstream_keeps_the_value_and_changes_the_gradient(float64):
    rng = np.random.default_rng(5)
    net = random_lm("rnn", 2, 3, 2, seed=5)
    x, y = rng.standard_normal((4, 2, 2)), rng.integers(0, 2, (4, 2))
    W = net.rnn.weight_hh_l0
    exact, _ = bptt.gradient_flow_regularizer(net, x, y)
    surrogate, _ = bptt.gradient_flow_regularizer(net, x, y, constant_upstream=True)
    assert exact.item() == pytest.approx(surrogate.item(), rel=1e-14)
    (g_exact,) = tg.grad(exact, [W])
    (g_surrogate,) = tg.grad(surrogate, [W])
    assert np.linalg.norm(g_exact.data - g_surrogate.data) > 1e-3 * np.linalg.norm(g_exact.data)


def test_regularizer_reaches_the_models_own_parameters():
    net = bptt.RecurrentLM("gru", 2, 3, 2)
    omega, L = bptt.gradient_flow_regularizer(net, np.random.default_rng(0).standard_normal((3, 1, 2)),
                                              np.zeros((3, 1), dtype=int))
    (omega + L).backward()
    assert all(p.grad is not None for p in net.rnn.parameters())
    assert net.readout.weight.grad is not None
