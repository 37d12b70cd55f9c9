"""viz.plots: every function returns a matplotlib Figure whose axes hold the data it was given or derived."""

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import tinygrad_seq as tg  # noqa: E402
from tinygrad_seq import nn  # noqa: E402
from tinygrad_seq.bptt import jacobian, rnn  # noqa: E402
from viz import examples, plots  # noqa: E402


def test_hidden_gradient_norms_equal_the_gradients_of_backward(float64):
    L, model, hs = examples.vanilla_rnn(6)
    ts, norms = plots.hidden_gradient_norms(L, name="h(*)")
    for h in hs:
        h.retain_grad()
    L.backward()
    np.testing.assert_array_equal(ts, np.arange(1, 7))
    np.testing.assert_allclose(norms, [np.linalg.norm(h.grad.data) for h in hs], rtol=1e-12)


def test_gradient_flow_puts_each_model_in_its_own_log_panel():
    curves = examples.gradient_flow_curves(T=12, hidden_size=8)
    assert list(curves) == ["RNN", "LSTM", "GRU"]
    fig = plots.gradient_flow(curves)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    for ax, (name, (ts, norms)) in zip(fig.axes, curves.items()):
        assert ax.get_title() == name and ax.get_yscale() == "log"
        (line,) = ax.get_lines()
        np.testing.assert_array_equal(line.get_xdata(), ts)
        np.testing.assert_allclose(line.get_ydata(), norms)
        # the loss sits on the last step only: its gradient reaches the first step weaker than the last
        assert norms[0] < norms[-1]


def test_jacobian_norms_stay_under_the_lecture_bound(float64):
    rng = np.random.default_rng(0)
    T, H = 15, 6
    p = dict(U=rng.standard_normal((3, H)), W=jacobian.with_spectral_radius(H, 1.1, rng), b=np.zeros(H),
             V=np.zeros((H, 2)), c=np.zeros(2))
    cache = rnn.rnn_forward(rng.standard_normal((T, 1, 3)), rng.integers(0, 2, (T, 1)), p)
    norms, bound = jacobian.jacobian_norms(cache), jacobian.jacobian_bound(cache)
    fig = plots.jacobian_norms(norms, bound)
    (ax,) = fig.axes
    measured, upper = ax.get_lines()
    np.testing.assert_allclose(measured.get_ydata(), norms)
    np.testing.assert_allclose(upper.get_ydata(), bound)
    assert np.all(measured.get_ydata() <= upper.get_ydata() * (1 + 1e-12))
    assert len(ax.get_legend().get_texts()) == 2


def test_eigenvalues_are_plotted_against_the_unit_circle():
    W = np.diag([0.5, -0.9, 1.3])
    fig = plots.eigenvalues(W)
    (ax,) = fig.axes
    (circle,) = [line for line in ax.get_lines() if line.get_label() == "|λ| = 1"]
    np.testing.assert_allclose(np.hypot(circle.get_xdata(), circle.get_ydata()), 1.0)
    points = ax.collections[0].get_offsets()
    np.testing.assert_allclose(sorted(points[:, 0]), [-0.9, 0.5, 1.3])
    assert "1.3" in ax.get_title()


def test_spectral_radius_decays_below_one_and_explodes_above():
    fig = plots.spectral_radius(rhos=(0.7, 1.3), H=10, T=60)
    circle, curves = fig.axes
    assert len(circle.collections) == 2  # one set of eigenvalues per ρ
    for points, rho in zip(circle.collections, (0.7, 1.3)):
        np.testing.assert_allclose(np.abs(points.get_offsets()[:, 0] + 1j * points.get_offsets()[:, 1]).max(), rho)
    low, high = curves.get_lines()
    assert low.get_ydata()[-1] < 1e-3 and high.get_ydata()[-1] > 1e3


def test_attention_heatmap_has_the_tokens_on_its_axes():
    w = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    fig = plots.attention(w, source=["le", "chat", "<eos>"], target=["the", "cat"])
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), w)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["le", "chat", "<eos>"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["the", "cat"]
    assert len(fig.axes) == 2  # with a colour bar
    with pytest.raises(ValueError, match="2 source tokens for 3"):
        plots.attention(w, source=["a", "b"])
    with pytest.raises(ValueError, match=r"\(T, S\)"):
        plots.attention(np.ones(3))


def test_attention_weights_of_a_real_model_sum_to_one():
    _, alignment = examples.seq2seq(S=5, T=4)
    fig = plots.attention(alignment)
    image = fig.axes[0].get_images()[0].get_array()
    assert image.shape == (4, 5)
    np.testing.assert_allclose(image.sum(axis=1), 1.0, rtol=1e-5)


def test_training_curves_convert_nats_to_bits_and_smooth():
    loss = np.linspace(3.0, 1.0, 50)
    fig = plots.training_curves({"train": loss, "valid": (np.arange(0, 50, 10), loss[::10] + 0.1)},
                                bits_per_character=True)
    (ax,) = fig.axes
    train, valid = ax.get_lines()
    np.testing.assert_allclose(train.get_ydata(), loss / math.log(2))
    np.testing.assert_array_equal(valid.get_xdata(), np.arange(0, 50, 10))
    assert ax.get_ylabel() == "bits per character"
    smooth = plots.training_curves({"train": loss}, smooth=5).axes[0].get_lines()
    assert len(smooth) == 2 and len(smooth[1].get_ydata()) == 46  # raw and its moving average


def test_gate_values_are_the_lstm_gates_over_time(float64):
    T, D, H = 5, 3, 4
    tg.manual_seed(0)
    lstm = nn.LSTM(D, H).double()
    x = tg.randn(T, 1, D)
    out, _ = lstm(x)
    gates = plots.gate_values(out.sum())
    assert list(gates) == list(plots.LSTM_GATES)
    assert all(v.shape == (T, H) for v in gates.values())
    # step 0 starts from h = c = 0: each gate is its activation of x(0) W_ih_gᵀ + b_ih_g + b_hh_g alone
    a = x.data[0, 0] @ lstm.weight_ih_l0.data.T + lstm.bias_ih_l0.data + lstm.bias_hh_l0.data
    sig = 1 / (1 + np.exp(-a))
    np.testing.assert_allclose(gates["input_gate"][0], sig[:H], rtol=1e-12)
    np.testing.assert_allclose(gates["forget_gate"][0], sig[H:2 * H], rtol=1e-12)
    np.testing.assert_allclose(gates["cell_candidate"][0], np.tanh(a[2 * H:3 * H]), rtol=1e-12)
    np.testing.assert_allclose(gates["output_gate"][0], sig[3 * H:], rtol=1e-12)
    fig = plots.gate_activations(gates)
    images = [ax.get_images()[0] for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in fig.axes if ax.get_images()] == list(plots.LSTM_GATES)
    for im, v in zip(images, gates.values()):
        np.testing.assert_array_equal(im.get_array(), v.T)  # units × time
    with pytest.raises(ValueError, match="none of the tensors"):
        plots.gate_values(out.sum(), gates=("no_such_gate",))


# --------------------------------------------------------------------------- time axes numbered 1 … T, as the graphs


def tick_labels(axis):
    """The tick labels a reader sees on an axis (within its limits), after the figure is laid out."""
    axis.figure.draw_without_rendering()
    low, high = sorted(axis.get_view_interval())
    return [t.get_text() for t, v in zip(axis.get_ticklabels(), axis.get_ticklocs()) if low <= v <= high]


def numbers_on(labels):
    return [float(s.replace("−", "-")) for s in labels if s and s.replace("−", "-").lstrip("-").isdigit()]


def test_hidden_gradient_norms_of_nn_layers_count_steps_from_one():
    """nn.RNN's scopes count from t=0; the norms are returned for t = 1 … T, as the graphs draw them."""
    curves = examples.gradient_flow_curves(T=7, hidden_size=4)
    for ts, _ in curves.values():
        np.testing.assert_array_equal(ts, np.arange(1, 8))


def test_gradient_flow_numbers_the_steps_from_one():
    curves = examples.gradient_flow_curves(T=9, hidden_size=4)
    fig = plots.gradient_flow(curves)
    for ax in fig.axes:
        (line,) = ax.get_lines()
        assert line.get_xdata()[0] == 1 and line.get_xdata()[-1] == 9
        ticks = numbers_on(tick_labels(ax.xaxis))
        assert ticks and min(ticks) >= 1 and all(t == int(t) for t in ticks), ticks
        assert "t" in ax.get_xlabel() and "1 … T" in ax.get_xlabel()
    # a long unroll: the margin before t = 1 gets no tick "0" (MaxNLocator alone puts one there)
    long = plots.gradient_flow({"RNN": np.geomspace(1e-6, 1, 60)})
    labels = tick_labels(long.axes[0].xaxis)
    assert "0" not in labels and min(numbers_on(labels)) >= 1, labels
    # plain norms (no t given) are steps 1 … T too
    (line,) = plots.gradient_flow({"RNN": [3.0, 2.0, 1.0]}).axes[0].get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])


def test_jacobian_norms_label_the_initial_state_h0_not_step_0(float64):
    T = 12
    norms, bound = np.geomspace(1e-3, 1, T + 1), np.geomspace(1e-2, 1, T + 1)
    fig = plots.jacobian_norms(norms, bound)
    (ax,) = fig.axes
    measured, _ = ax.get_lines()
    np.testing.assert_array_equal(measured.get_xdata(), np.arange(T + 1))  # entry t is h(t), entry 0 is h(0)
    labels = tick_labels(ax.xaxis)
    assert "h(0)" in labels and "0" not in labels, labels
    assert min(numbers_on(labels)) >= 1
    assert "time step t" in ax.get_xlabel() and "h(0)" in ax.get_xlabel()


def test_spectral_radius_labels_h0_not_step_0():
    _, curves = plots.spectral_radius(rhos=(0.9,), H=4, T=10).axes
    labels = tick_labels(curves.xaxis)
    assert "h(0)" in labels and "0" not in labels and min(numbers_on(labels)) >= 1, labels


def test_gate_heatmap_columns_are_steps_one_to_T(float64):
    for T in (5, 12, 30):
        gates = {"input_gate": np.linspace(0, 1, T * 3).reshape(T, 3)}
        fig = plots.gate_activations(gates)
        ax = fig.axes[0]
        left, right, _, _ = ax.get_images()[0].get_extent()
        assert (left, right) == (0.5, T + 0.5), "column k is drawn centred on t = k + 1"
        ticks = numbers_on(tick_labels(ax.xaxis))
        assert ticks[0] == 1 and max(ticks) <= T and "0" not in tick_labels(ax.xaxis), ticks
        assert ax.get_xlabel() == "time step t"
        if T == 5:
            assert ticks == [1, 2, 3, 4, 5]
        assert len(ticks) <= 8, f"{len(ticks)} labels under a 3-inch panel run into each other: {ticks}"


def test_attention_without_tokens_numbers_positions_from_one():
    w = np.full((2, 3), 1 / 3)
    ax = plots.attention(w).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "2"]
    assert "1 … S" in ax.get_xlabel() and "1 … T" in ax.get_ylabel()


def test_training_curves_count_updates_from_one():
    (ax,) = plots.training_curves({"train": [3.0, 2.0, 1.5, 1.2]}).axes
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4])
    assert min(numbers_on(tick_labels(ax.xaxis))) >= 1
    (ax,) = plots.training_curves({"train": np.linspace(3, 1, 270)}).axes
    assert "0" not in tick_labels(ax.xaxis), tick_labels(ax.xaxis)
