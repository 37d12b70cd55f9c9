"""The analytic BPTT formulas against the engine's autodiff, and the compare() report."""

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_seq as tg
from tinygrad_seq import bptt
from tinygrad_seq.bptt import gru, lstm, notation, rnn, unroll
from tinygrad_seq.bptt.compare import describe

VARIANTS = {  # name -> (RecurrentLM keyword arguments, analytic cell)
    "rnn": (dict(mode="rnn"), rnn.cell()),
    "rnn_relu": (dict(mode="rnn", nonlinearity="relu"), rnn.cell("relu")),
    "lstm": (dict(mode="lstm"), lstm.cell()),
    "lstm_peephole": (dict(mode="lstm", peephole=True), lstm.cell(peephole=True)),
    "lstm_coupled": (dict(mode="lstm", coupled=True), lstm.cell(coupled=True)),
    "lstm_peephole_coupled": (dict(mode="lstm", peephole=True, coupled=True), lstm.cell(peephole=True, coupled=True)),
    "gru": (dict(mode="gru"), gru.cell()),
}

sizes = st.fixed_dictionaries(
    dict(T=st.integers(1, 5), N=st.integers(1, 3), D=st.integers(1, 4), H=st.integers(1, 5), C=st.integers(2, 4),
         seed=st.integers(0, 2**16))
)


# the float64 fixture only switches the default dtype, so sharing it across examples is safe
fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def random_model(variant, D, H, C, seed, scale=1.0, use_nn=False):
    kwargs, _ = VARIANTS[variant]
    net = bptt.RecurrentLM(input_size=D, hidden_size=H, output_size=C, use_nn=use_nn, **kwargs)
    rng = np.random.default_rng(seed)
    net.load_state_dict({k: scale * rng.standard_normal(v.shape) for k, v in net.state_dict().items()})
    return net


def random_batch(T, N, D, C, seed):
    rng = np.random.default_rng(seed + 1)
    return rng.standard_normal((T, N, D)), rng.integers(0, C, (T, N))


def rel(a, b):
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else np.linalg.norm(a - b) / scale


@pytest.mark.parametrize("variant", list(VARIANTS))
@fixture_ok
@given(s=sizes)
def test_analytic_equals_autodiff(float64, variant, s):
    """Every parameter gradient from the formulas equals the engine's nn layers', to 1e-10 relative, in float64."""
    net = random_model(variant, s["D"], s["H"], s["C"], s["seed"], scale=0.7, use_nn=True)
    x, y = random_batch(s["T"], s["N"], s["D"], s["C"], s["seed"])
    loss = net.loss(tg.tensor(x), y)
    loss.backward()

    kind = describe(net.rnn)["kind"]
    rnn_state = {k: p.data for k, p in net.rnn.named_parameters()}
    readout_state = {k: p.data for k, p in net.readout.named_parameters()}
    p = notation.from_pytorch(rnn_state, readout_state, kind)
    cache = unroll.forward(VARIANTS[variant][1], x, y, p)
    grads = unroll.backward(cache)
    assert abs(cache.loss - loss.item()) <= 1e-12 * abs(loss.item())
    g_rnn, g_readout = notation.to_pytorch(grads.params, kind)
    for k, param in net.rnn.named_parameters():
        assert rel(g_rnn[k], param.grad.data) < 1e-10, k
    for k, param in net.readout.named_parameters():
        assert rel(g_readout[k], param.grad.data) < 1e-10, k


@pytest.mark.parametrize("variant", list(VARIANTS))
@fixture_ok
@given(s=sizes)
def test_compare_report_agrees_per_step_and_gate(float64, variant, s):
    """compare() finds every ∇h(t), ∇c(t), ∇o(t) and gate gradient equal to autodiff's, with an initial state.

    (The model here is bptt.Recurrent, the op-by-op layer; the nn layers are the model of the test above.)
    """
    net = random_model(variant, s["D"], s["H"], s["C"], s["seed"], scale=0.7)
    x, y = random_batch(s["T"], s["N"], s["D"], s["C"], s["seed"])
    rng = np.random.default_rng(s["seed"] + 2)
    n_states = 2 if variant.startswith("lstm") else 1
    h0 = tuple(rng.standard_normal((s["N"], s["H"])) for _ in range(n_states))
    report = bptt.compare(net, x, y, h0=h0 if n_states == 2 else h0[0], fd_samples=0)
    assert report.ok, str(report)
    assert report.max_rel_error < 1e-10
    steps = [r for r in report.rows if r.t is not None]
    per_t = len(steps) - n_states  # the initial-state rows come last
    gates = notation.GATES[describe(net.rnn)["kind"]]
    assert per_t == s["T"] * (2 + (n_states == 2) + len(gates))
    assert sorted({r.t for r in steps}) == list(range(s["T"] + 1))


def test_explicit_rnn_backward_equals_generic_loop():
    """rnn.py's lecture-form loop and the generic step-by-step loop are the same computation."""
    rng = np.random.default_rng(0)
    T, N, D, H, C = 6, 3, 4, 5, 3
    p = dict(U=rng.standard_normal((D, H)), W=rng.standard_normal((H, H)) * 0.5, b=rng.standard_normal(H),
             V=rng.standard_normal((H, C)), c=rng.standard_normal(C))
    x, y = rng.standard_normal((T, N, D)), rng.integers(0, C, (T, N))
    for nl in rnn.NONLINEARITIES:
        cache = rnn.rnn_forward(x, y, p, h0=rng.standard_normal((N, H)), nonlinearity=nl)
        a, b = rnn.rnn_backward(cache), unroll.backward(cache)
        for k in p:
            np.testing.assert_allclose(a.params[k], b.params[k], rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(a.dh, b.dh, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(a.gates["a"], b.gates["a"], rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(a.dh0, b.dh0, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(a.dx, b.dx, rtol=1e-13, atol=1e-13)


def test_finite_differences_of_every_weight_agree_with_the_formulas():
    """A full central-difference gradient (every weight, not a sample) for each cell, independent of the engine."""
    rng = np.random.default_rng(3)
    T, N, D, H, C = 4, 2, 3, 3, 3
    x, y = rng.standard_normal((T, N, D)), rng.integers(0, C, (T, N))
    for variant, (kwargs, cell) in VARIANTS.items():
        G = len(notation.GATES[cell.kind])
        p = dict(U=rng.standard_normal((D, G * H)), W=rng.standard_normal((H, G * H)) * 0.6,
                 b=rng.standard_normal(G * H), V=rng.standard_normal((H, C)), c=rng.standard_normal(C))
        p.update({k: rng.standard_normal(H) for k in ("p_i", "p_f", "p_o") if kwargs.get("peephole")})
        if kwargs.get("coupled"):
            p.pop("p_f", None)
        if kwargs["mode"] == "gru":
            p["b_hn"] = rng.standard_normal(H)
        state0 = tuple(rng.standard_normal((N, H)) for _ in cell.state_names)
        grads = unroll.backward(unroll.forward(cell, x, y, p, state0))
        for k, v in p.items():
            numeric = np.zeros_like(v)
            for idx in np.ndindex(v.shape):
                old = v[idx]
                v[idx] = old + 1e-6
                plus = unroll.loss_only(cell, x, y, p, state0)
                v[idx] = old - 1e-6
                minus = unroll.loss_only(cell, x, y, p, state0)
                v[idx] = old
                numeric[idx] = (plus - minus) / 2e-6
            assert rel(grads.params[k], numeric) < 1e-7, (variant, k)


# --------------------------------------------------------------------------- a wrong formula is found, and located


def rnn_backward_without_tanh_derivative(cache):
    """The RNN backward with the classic mistake: ∇h(t) = W ∇h(t+1) + V ∇o(t) (the (1 − h(t+1)²) factor dropped)."""
    p, h = cache.params, cache.h
    T = len(h)
    do = cache.yhat - unroll.one_hot(cache.y, p["V"].shape[1])
    dh = np.zeros_like(h)
    dh[T - 1] = do[T - 1] @ p["V"].T
    for t in reversed(range(T - 1)):
        dh[t] = dh[t + 1] @ p["W"].T + do[t] @ p["V"].T  # wrong: no (1 − h(t+1)²)
    right = rnn.rnn_backward(cache)
    da = dh * (1 - h**2)
    h_prev = np.concatenate([cache.state0[0][None], h[:-1]])
    grads = dict(right.params, U=np.einsum("tnd,tnj->dj", cache.x, da), W=np.einsum("tni,tnj->ij", h_prev, da),
                 b=da.sum(axis=(0, 1)))
    return unroll.Gradients(grads, dh, None, do, {"a": da}, da @ p["U"].T, (da[0] @ p["W"].T,))


def test_dropping_the_tanh_derivative_is_located_at_t_equals_T_minus_1(float64):
    T = 5
    net = random_model("rnn", 3, 4, 3, seed=1)
    x, y = random_batch(T, 2, 3, 3, seed=1)
    report = bptt.compare(net, x, y, backward=rnn_backward_without_tanh_derivative, fd_samples=6)
    assert not report.ok
    bad = report.first_disagreement
    assert (bad.quantity, bad.t) == ("dL/dh", T - 1)
    assert bad.rel_error > 1e-3
    # everything the backward pass computes before ∇h(T−1) (∇o(T), ∇h(T), ∇a(T), ∇o(T−1)) still agrees
    before = report.rows[1: report.rows.index(bad)]
    assert [(r.quantity, r.t) for r in before] == [("dL/do", T), ("dL/dh", T), ("dL/da", T), ("dL/do", T - 1)]
    assert all(r.rel_error < 1e-12 for r in before)
    assert f"t = {T - 1}" in report.verdict and "DISAGREE" in report.verdict
    assert "DISAGREE" in str(report)
    # the third witness sides with autodiff on the recurrent weights
    fd_w = [f for f in report.fd if f.parameter == "weight_hh_l0"]
    assert fd_w and all(abs(f.autodiff - f.numeric) < 1e-6 * max(1, abs(f.numeric)) for f in fd_w)


def lstm_step_backward_without_forget_derivative(dstate, cache):
    """An LSTM step backward whose ∇a_f forgets the sigmoid's derivative f(1 − f)."""
    dstate_prev, dx, dp, dlocal = lstm.cell().step_backward(dstate, cache)
    f = cache["f"]
    H = f.shape[1]
    wrong = dlocal["f"] / (f * (1 - f))
    da = np.concatenate([dlocal["i"], wrong, dlocal["g"], dlocal["o"]], axis=1)
    dp = dict(dp, U=cache["x"].T @ da, W=cache["h_prev"].T @ da, b=da.sum(axis=0))
    dh_prev = da @ cache["p"]["W"].T
    assert dh_prev.shape[1] == H
    return (dh_prev, dstate_prev[1]), da @ cache["p"]["U"].T, dp, dict(dlocal, f=wrong)


def test_a_wrong_gate_derivative_is_located_at_its_gate_and_step(float64):
    T = 4
    net = random_model("lstm", 3, 4, 3, seed=2)
    x, y = random_batch(T, 2, 3, 3, seed=2)
    wrong = functools.partial(unroll.backward, step_backward=lstm_step_backward_without_forget_derivative)
    report = bptt.compare(net, x, y, backward=wrong, fd_samples=0)
    bad = report.first_disagreement
    assert (bad.quantity, bad.t, bad.gate) == ("dL/da", T, "f")
    assert "gate f" in report.verdict and f"t = {T}" in report.verdict
    # the per-gate slices of the parameter gradients point at f too: i, g, o of weight_ih_l0 only go wrong later
    f_slice = next(r for r in report.rows if r.quantity == "weight_ih_l0" and r.gate == "f")
    assert not f_slice.ok


def test_gru_wrong_update_gate_sign_is_located(float64):
    def wrong_step(dstate, cache):
        dstate_prev, dx, dp, dlocal = gru.cell().step_backward(dstate, cache)
        return dstate_prev, dx, dp, dict(dlocal, z=-dlocal["z"])  # a sign slip in the reported ∇a_z only

    net = random_model("gru", 2, 3, 3, seed=4)
    x, y = random_batch(3, 2, 2, 3, seed=4)
    report = bptt.compare(net, x, y, backward=functools.partial(unroll.backward, step_backward=wrong_step),
                          fd_samples=0)
    bad = report.first_disagreement
    assert (bad.quantity, bad.t, bad.gate) == ("dL/da", 3, "z")


# --------------------------------------------------------------------------- the report as data and as text


def test_report_is_a_table_and_data():
    report = bptt.check_random("lstm", hidden=3, steps=3, seed=5, fd_samples=4)
    text = str(report)
    assert report.ok and "agree" in report.verdict
    for heading in ("per time step", "parameter gradients", "finite differences", "∇a_f", "weight_hh_l0", "verdict"):
        assert heading in text
    records = report.records()
    assert len(records) == len(report.rows) + 4
    assert {r["kind"] for r in records} == {"autodiff", "finite-difference"}
    assert report.max_rel_error < 1e-12
    assert report.fd_max_rel_error < 1e-5
    assert report.first_disagreement is None


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_check_random_is_deterministic_and_agrees(model):
    a = bptt.check_random(model, hidden=4, steps=3, seed=7, fd_samples=3)
    b = bptt.check_random(model, hidden=4, steps=3, seed=7, fd_samples=3)
    assert a.ok, str(a)
    assert a.max_rel_error < 1e-12
    assert [r.rel_error for r in a.fd] == [r.rel_error for r in b.fd]
    assert a.rows[0].analytic_norm == b.rows[0].analytic_norm  # the same loss


def test_compare_leaves_the_model_alone():
    net = random_model("gru", 3, 4, 3, seed=8)
    net.to(np.float32)
    before = {k: v.copy() for k, v in net.state_dict().items()}
    x, y = random_batch(3, 2, 3, 3, seed=8)
    report = bptt.compare(net, x.astype(np.float32), y, fd_samples=4)
    assert report.ok
    for k, v in net.state_dict().items():
        assert v.dtype == np.float32 and np.array_equal(v, before[k]), k
    assert all(p.grad is None for p in net.parameters())
    assert tg.get_default_dtype() == np.float32


def test_token_ids_batch_first_and_single_sequences(float64):
    net = bptt.RecurrentLM("rnn", 4, 3, 4, batch_first=True, use_nn=False)
    ids = np.array([[0, 1, 2, 3, 1], [2, 2, 0, 1, 3]])  # (N, T) because batch_first
    targets = np.roll(ids, -1, axis=1)
    report = bptt.compare(net, ids, targets, fd_samples=2)
    assert report.ok and report.sizes == dict(T=5, N=2, D=4, H=3, C=4)
    net2 = bptt.RecurrentLM("lstm", 4, 3, 4, use_nn=False)
    one = bptt.compare(net2, np.array([0, 1, 2]), np.array([1, 2, 3]), fd_samples=0)
    assert one.ok and one.sizes["N"] == 1


def test_bad_input_names_the_shapes():
    net = bptt.RecurrentLM("lstm", 3, 4, 5, use_nn=False)
    with pytest.raises(ValueError, match=r"targets of shape \(4, 3\) do not match inputs of shape \(4, 2, 3\)"):
        bptt.compare(net, np.zeros((4, 2, 3)), np.zeros((4, 3), dtype=int))
    with pytest.raises(ValueError, match=r"inputs must have shape \(T, N, 3\)"):
        bptt.compare(net, np.zeros((4, 2, 5)), np.zeros((4, 2), dtype=int))
    with pytest.raises(IndexError, match=r"targets must lie in \[0, 5\)"):
        bptt.compare(net, np.zeros((4, 2, 3)), np.full((4, 2), 5))
    with pytest.raises(ValueError, match="needs 2 initial state"):
        bptt.compare(net, np.zeros((4, 2, 3)), np.zeros((4, 2), dtype=int), h0=np.zeros((2, 4)))
    with pytest.raises(TypeError, match="RecurrentLM, a pair"):
        bptt.compare(object(), np.zeros((4, 2, 3)), np.zeros((4, 2), dtype=int))
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        bptt.check_random("rnn", hidden=0)
    with pytest.raises(ValueError, match="unknown recurrent cell 'transformer'"):
        bptt.check_random("transformer")


# --------------------------------------------------------------------------- the library's own nn layers


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("cell", ["composite", "fused"])
def test_compare_accepts_nn_layers_with_a_linear_readout(mode, cell):
    from tinygrad_seq import nn

    kwargs = dict(nonlinearity="relu") if mode == "RNN" and cell == "fused" else {}
    layer = getattr(nn, mode)(3, 4, batch_first=True, cell=cell, **kwargs)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, 5, 3)), rng.integers(0, 6, (2, 5))  # batch first: (N, T, ...)
    report = bptt.compare((layer, nn.Linear(4, 6)), x, y, fd_samples=3)
    assert report.ok, str(report)
    assert report.max_rel_error < 1e-12
    assert mode in report.autodiff_source
    assert report.sizes == dict(T=5, N=2, D=3, H=4, C=6)


def test_compare_refuses_what_the_formulas_do_not_cover():
    from tinygrad_seq import nn

    x, y = np.zeros((3, 1, 2)), np.zeros((3, 1), dtype=int)
    with pytest.raises(TypeError, match="got LeakyRNN"):
        bptt.compare((nn.LeakyRNN(2, 3), nn.Linear(3, 2)), x, y)
    with pytest.raises(ValueError, match="one direction.*bidirectional=True"):
        bptt.compare((nn.GRU(2, 3, bidirectional=True), nn.Linear(6, 2)), x, y)


@pytest.mark.parametrize("cls,kwargs", [("PeepholeLSTM", {}), ("CoupledLSTM", {}), ("CoupledLSTM", {"peephole": True})])
def test_compare_accepts_the_nn_lstm_variants(cls, kwargs):
    from tinygrad_seq import nn

    layer = getattr(nn, cls)(2, 3, **kwargs)
    rng = np.random.default_rng(1)
    report = bptt.compare((layer, nn.Linear(3, 4)), rng.standard_normal((4, 2, 2)), rng.integers(0, 4, (4, 2)),
                          fd_samples=2)
    assert report.ok and report.max_rel_error < 1e-12, str(report)
    assert report.model.startswith("LSTM (")


# --------------------------------------------------------------------------- truncated BPTT


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("k1,k2", [(3, 3), (2, 5), (1, 1), (4, 20), (11, 11)])
def test_truncated_formulas_equal_the_engines_truncated_helper(float64, mode, k1, k2):
    """bptt.truncated_backward gives what train.truncated_bptt accumulates in .grad, window for window."""
    from tinygrad_seq import functional as F
    from tinygrad_seq import train
    from tinygrad_seq.bptt import truncated
    from tinygrad_seq.bptt.compare import make_cell

    T, N, D, H, C = 11, 2, 3, 4, 5
    net = random_model(mode, D, H, C, seed=3, use_nn=True)
    x, y = random_batch(T, N, D, C, seed=3)

    def forward(xs, state):
        out, state = net.rnn(xs, state)
        return net.readout(out), state

    def loss_fn(o, targets):
        return F.cross_entropy(o.reshape(-1, C), np.asarray(targets).reshape(-1), reduction="sum")

    train.truncated_bptt(forward, loss_fn, tg.tensor(x), y, k1, k2, time_dim=0)
    assert [(w.start, w.loss_start, w.stop) for w in train.tbptt_windows(T, k1, k2)] == truncated.windows(T, k1, k2)

    spec = describe(net.rnn)
    p = notation.from_pytorch({k: v.data for k, v in net.rnn.named_parameters()},
                              {k: v.data for k, v in net.readout.named_parameters()}, spec["kind"])
    cache = unroll.forward(make_cell(spec), x, y, p)
    got = bptt.truncated_backward(cache, k1, k2)
    g_rnn, g_readout = notation.to_pytorch(got.params, spec["kind"])
    for k, param in net.rnn.named_parameters():
        assert rel(g_rnn[k], param.grad.data) < 1e-10, k
    for k, param in net.readout.named_parameters():
        assert rel(g_readout[k], param.grad.data) < 1e-10, k
    full = unroll.backward(cache).params
    reaches_start = k2 >= T
    assert (max(rel(got.params[k], full[k]) for k in p) < 1e-12) == reaches_start
    assert len(got.per_window) == len(got.windows) == -(-T // k1)


def test_truncated_windows_reject_nonsense():
    from tinygrad_seq.bptt import truncated

    with pytest.raises(ValueError, match="k2 .* must be >= k1"):
        truncated.windows(10, 4, 2)
    with pytest.raises(ValueError, match="k1 must be a positive integer"):
        truncated.windows(10, 0)


# --------------------------------------------------------------------------- two (or more) stacked layers

stack_sizes = st.fixed_dictionaries(
    dict(T=st.integers(1, 4), N=st.integers(1, 3), D=st.integers(1, 4), H=st.integers(1, 4), C=st.integers(2, 4),
         L=st.integers(2, 3), seed=st.integers(0, 2**16))
)


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
@fixture_ok
@given(s=stack_sizes)
def test_stacked_layers_analytic_equals_autodiff_per_layer_step_and_gate(float64, mode, s):
    """nn.RNN/LSTM/GRU(num_layers=L): every ∇h⁽ˡ⁾(t), gate and parameter gradient as autodiff's, to 1e-10."""
    T, N, D, H, C, L = (s[k] for k in "TNDHCL")
    net = bptt.RecurrentLM(mode, D, H, C, num_layers=L)
    rng = np.random.default_rng(s["seed"])
    net.load_state_dict({k: 0.7 * rng.standard_normal(v.shape) for k, v in net.state_dict().items()})
    x, y = random_batch(T, N, D, C, s["seed"])
    n_states = 2 if mode == "lstm" else 1
    h0 = tuple(rng.standard_normal((L, N, H)) for _ in range(n_states))
    report = bptt.compare(net, x, y, h0=h0 if n_states == 2 else h0[0], fd_samples=2)
    assert report.ok, str(report)
    assert report.max_rel_error < 1e-10
    assert report.sizes["layers"] == L and f"{L} stacked layers" in report.model
    layers = [r.layer for r in report.rows if r.quantity in ("dL/dh", "dL/da")]
    assert sorted(set(layers)) == list(range(1, L + 1))
    assert layers == sorted(layers, reverse=True)  # the backward pass runs through the top layer first
    names = {r.quantity for r in report.rows if r.t is None}
    assert {f"weight_hh_l{k}" for k in range(L)} <= names


def random_stack(T, N, D, H, C, L, seed, gates=1):
    rng = np.random.default_rng(seed)
    layers = [dict(U=rng.standard_normal((D if k == 0 else H, gates * H)),
                   W=0.6 * rng.standard_normal((H, gates * H)), b=rng.standard_normal(gates * H)) for k in range(L)]
    p = notation.stack_params(layers, dict(V=rng.standard_normal((H, C)), c=rng.standard_normal(C)))
    return p, rng.standard_normal((T, N, D)), rng.integers(0, C, (T, N))


def test_stacked_rnn_backward_written_out_equals_the_generic_stack():
    """rnn.stacked_rnn_backward (the lecture's two formulas per layer) = stacked.backward (the cell loop)."""
    from tinygrad_seq.bptt import stacked

    T, N, D, H, C, L = 6, 3, 4, 5, 3, 3
    p, x, y = random_stack(T, N, D, H, C, L, seed=4)
    rng = np.random.default_rng(5)
    for nl in rnn.NONLINEARITIES:
        h0 = [rng.standard_normal((N, H)) for _ in range(L)]
        cache = rnn.stacked_rnn_forward(x, y, p, h0=h0, nonlinearity=nl)
        a, b = rnn.stacked_rnn_backward(cache), stacked.backward(cache)
        for k in p:
            np.testing.assert_allclose(a.params[k], b.params[k], rtol=1e-13, atol=1e-13)
        for la, lb in zip(a.layers, b.layers):
            for field in ("dh", "dx"):
                np.testing.assert_allclose(getattr(la, field), getattr(lb, field), rtol=1e-13, atol=1e-13)
            np.testing.assert_allclose(la.gates["a"], lb.gates["a"], rtol=1e-13, atol=1e-13)
            np.testing.assert_allclose(la.dh0, lb.dh0, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_stacked_formulas_agree_with_finite_differences_of_every_weight(mode):
    """Central differences of the numpy stack's loss, every weight of both layers: no engine involved."""
    from tinygrad_seq.bptt import stacked

    cell = {"rnn": rnn.cell(), "lstm": lstm.cell(), "gru": gru.cell()}[mode]
    G = len(notation.GATES[mode])
    p, x, y = random_stack(3, 2, 2, 3, 3, 2, seed=6, gates=G)
    if mode == "gru":
        p |= {"b_hn1": np.full(3, 0.3), "b_hn2": np.full(3, -0.2)}
    grads = stacked.backward(stacked.forward(cell, x, y, p)).params
    for k, v in p.items():
        numeric = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            old = v[idx]
            v[idx] = old + 1e-6
            plus = stacked.loss_only(cell, x, y, p)
            v[idx] = old - 1e-6
            minus = stacked.loss_only(cell, x, y, p)
            v[idx] = old
            numeric[idx] = (plus - minus) / 2e-6
        assert rel(grads[k], numeric) < 1e-7, k


def test_a_slip_in_the_lower_layer_is_located_at_layer_1(float64):
    """Drop tanh' in layer 1's step only: layer 2 still agrees everywhere, the first bad row is ∇a⁽¹⁾(T)."""
    from tinygrad_seq.bptt import stacked

    def no_tanh_derivative(dstate, cache):
        x, h_prev, p = cache["x"], cache["h_prev"], cache["p"]
        da = dstate[0]  # wrong: should be dstate[0] * (1 − h²)
        return (da @ p["W"].T,), da @ p["U"].T, {"U": x.T @ da, "W": h_prev.T @ da, "b": da.sum(0)}, {"a": da}

    T = 4
    net = bptt.RecurrentLM("rnn", 3, 4, 3, num_layers=2)
    x, y = random_batch(T, 2, 3, 3, seed=9)
    wrong = functools.partial(stacked.backward, step_backward=[no_tanh_derivative, None])
    report = bptt.compare(net, x, y, backward=wrong, fd_samples=4)
    bad = report.first_disagreement
    assert (bad.quantity, bad.t, bad.layer) == ("dL/da", T, 1), str(report)
    assert all(r.ok for r in report.rows[: report.rows.index(bad)])
    assert all(r.ok for r in report.rows if r.layer == 2)
    assert "layer 1, t = 4" in report.verdict and "∇a⁽¹⁾(4) L" in report.verdict
    assert not next(r for r in report.rows if r.quantity == "weight_ih_l0" and r.gate is None).ok
    assert next(r for r in report.rows if r.quantity == "weight_ih_l1" and r.gate is None).ok


def test_stacked_names_round_trip_and_refusals():
    from tinygrad_seq import nn

    layer = nn.GRU(3, 2, num_layers=2)
    state = {k: v.data for k, v in layer.named_parameters()}
    p = notation.from_pytorch(state, {"weight": np.ones((4, 2)), "bias": np.zeros(4)}, "gru")
    assert sorted(p) == sorted(["U1", "W1", "b1", "b_hn1", "U2", "W2", "b2", "b_hn2", "V", "c"])
    assert p["U2"].shape == (2, 6) and p["U1"].shape == (3, 6)
    back, _ = notation.to_pytorch(p, "gru")
    assert sorted(back) == sorted(state)
    for k in ("weight_ih_l1", "weight_hh_l0"):
        np.testing.assert_array_equal(back[k], state[k])
    b_ih, b_hh = state["bias_ih_l1"].astype(np.float64), state["bias_hh_l1"].astype(np.float64)
    np.testing.assert_allclose(back["bias_ih_l1"], b_ih + np.r_[b_hh[:4], 0, 0], rtol=1e-12)
    with pytest.raises(ValueError, match="num_layers=2 needs the library's nn.RNN"):
        bptt.RecurrentLM("lstm", 3, 4, 5, num_layers=2, use_nn=False)
    with pytest.raises(ValueError, match=r"initial state must have shape \(2, 1, 2\)"):
        bptt.compare((layer, nn.Linear(2, 3)), np.zeros((3, 1, 3)), np.zeros((3, 1), dtype=int), h0=np.zeros((1, 2)))
    with pytest.raises(ValueError, match="covers one recurrent layer"):
        bptt.gradient_flow_regularizer((layer, nn.Linear(2, 3)), np.zeros((3, 1, 3)), np.zeros((3, 1), dtype=int))
    dropped = nn.LSTM(3, 2, num_layers=2, dropout=0.5)
    with pytest.raises(ValueError, match=r"call \.eval\(\) first"):
        bptt.compare((dropped, nn.Linear(2, 3)), np.zeros((3, 1, 3)), np.zeros((3, 1), dtype=int))
    assert bptt.compare((dropped.eval(), nn.Linear(2, 3)), np.zeros((3, 1, 3)), np.zeros((3, 1), dtype=int)).ok


# --------------------------------------------------------------------------- the gradient-flow regularizer


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_regularizers_written_out_rnn_product_equals_the_engines_vjp(float64, nonlinearity):
    """Ω's one-step product (v ⊙ φ'(a)) W_hh for the RNN = tg.grad(h(t), h(t−1), v), value and second derivative."""
    from tinygrad_seq import nn
    from tinygrad_seq.bptt import regularizer

    layer = nn.RNN(3, 4, nonlinearity=nonlinearity)
    rng = np.random.default_rng(0)
    h_prev = tg.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    h, _ = layer(tg.tensor(rng.standard_normal((1, 2, 3))), h_prev[None])
    h = h[0]
    v = tg.tensor(rng.standard_normal((2, 4)))
    spec = describe(layer)
    ours = regularizer.one_step_vjp(layer, spec, h, h_prev, v)
    (engine,) = tg.grad(h, h_prev, grad_outputs=v, create_graph=True)
    np.testing.assert_allclose(ours.data, engine.data, rtol=1e-13, atol=1e-14)
    (g_ours,) = tg.grad((ours * ours).sum(), [layer.weight_hh_l0], retain_graph=True)
    (g_engine,) = tg.grad((engine * engine).sum(), [layer.weight_hh_l0])
    np.testing.assert_allclose(g_ours.data, g_engine.data, rtol=1e-12, atol=1e-13)


def test_regularizer_ignores_targets_of_minus_100(float64):
    """A loss at the last step only (targets −100 elsewhere): L is that step's, Ω is made of its ∇h(t) L."""
    net = random_model("rnn", 2, 3, 2, seed=11, scale=0.7, use_nn=True)
    x, y = random_batch(5, 3, 2, 2, seed=11)
    last = np.full_like(y, -100)
    last[-1] = y[-1]
    omega, L = bptt.gradient_flow_regularizer(net, x, last)
    o = net(tg.tensor(x)).data[-1]
    log_p = o - np.log(np.exp(o).sum(-1, keepdims=True))
    assert L.item() == pytest.approx(-log_p[np.arange(3), y[-1]].sum(), rel=1e-12)
    assert np.isfinite(omega.item()) and omega.item() > 0
