"""The engine refuses what would give a wrong or surprising result, with an error that says what and where."""

import threading

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import nn


@pytest.mark.parametrize("call, op", [
    (lambda x: x.unsqueeze(10), "unsqueeze"), (lambda x: x.unsqueeze(-4), "unsqueeze"),
    (lambda x: x.permute(0, 5), "permute"), (lambda x: x.permute(0, 3), "permute"),
    (lambda x: x.flatten(start_dim=9), "flatten"), (lambda x: x.transpose(0, 2), "transpose"),
    (lambda x: x.sum(2), "sum"), (lambda x: x.squeeze(3), "squeeze"), (lambda x: x.split(1, dim=4), "split"),
])
def test_dims_out_of_range_are_index_errors_naming_the_op(call, op):
    x = tg.zeros(2, 3)
    with pytest.raises(IndexError, match=rf"{op}: dim -?\d+ is out of range for a tensor of shape \(2, 3\)"):
        call(x)


def test_dims_in_range_still_work_from_either_end():
    x = tg.zeros(2, 3)
    assert x.unsqueeze(2).shape == (2, 3, 1) and x.unsqueeze(-1).shape == (2, 3, 1)
    assert x.unsqueeze(-3).shape == (1, 2, 3)
    assert x.permute(-1, 0).shape == (3, 2) and x.transpose(-1, -2).shape == (3, 2) and x.flatten(-2).shape == (6,)


@pytest.mark.parametrize("other", [1j, np.array([1j, 2]), np.array([object(), 1], dtype=object)])
def test_complex_and_object_constants_are_refused(other):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"^mul: a constant of type \w+ \(dtype (complex128|object)\): tensors hold"):
        x * other


def test_grad_mode_scopes_and_anomaly_are_per_thread():
    seen = {}
    inside = threading.Event()
    done = threading.Event()

    def quiet():
        with tg.no_grad(), tg.scope("A"), tg.detect_anomaly():
            inside.set()
            done.wait(5)

    t = threading.Thread(target=quiet)
    t.start()
    inside.wait(5)
    x = tg.tensor([1.0], requires_grad=True)
    seen["recorded"] = (x * 2).requires_grad
    seen["scope"] = tg.current_scope()
    seen["nan allowed"] = float((tg.tensor([0.0]) / 0.0).sum().item()) != 0  # no anomaly check in this thread
    done.set()
    t.join()
    assert seen == {"recorded": True, "scope": "", "nan allowed": True}
    assert tg.is_grad_enabled()


def test_anomaly_names_an_input_that_already_held_the_nan():
    w = tg.tensor([1.0, float("nan")], requires_grad=True, name="w")
    with tg.detect_anomaly(), pytest.raises(FloatingPointError,
                                            match=r"NaN already in a parameter named 'w' .*index \(1,\).*input of mul"):
        w * 2
    lstm = nn.LSTM(3, 4)
    x = tg.randn(6, 2, 3)
    x.data[3, 1, 2] = np.inf
    with tg.detect_anomaly(), pytest.raises(FloatingPointError, match=r"Inf already in an input .*index \(3, 1, 2\)"):
        lstm(x)  # the first index is the time step


def overflowing(mode, cell):
    """A layer whose recurrent product W_hh h(t−1) overflows float32 at step t=2 (h(1) = 0 from h(0) = 0)."""
    m = getattr(nn, mode)(2, 3, cell=cell)
    with tg.no_grad():
        for p in m.parameters():
            p.data[...] = 0
        m.weight_hh_l0.data[...] = 3e38  # h(t−1) W_hhᵀ = inf as soon as h(t−1) is not small
        if mode == "GRU":
            m.bias_ih_l0.data[6:] = 30.0  # n = tanh(30) = 1, z = σ(0) = ½: h(1) = ½ (1 + h(0)) > 0
        else:
            m.bias_ih_l0.data[...] = 30.0  # every gate open: h(1) = tanh(1)·σ(30) > 0, a(2) overflows
    return m


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("cell", ["composite", "fused", "sequence"])
def test_every_cell_reports_the_inf_inside_its_step(mode, cell):
    # a fused cell computes inside what the composite cell checks op by op; a saturated gate (σ(inf) = 1)
    # would turn the Inf into a finite output and hide it, so the fused cells check their pre-activations
    x = tg.ones(4, 1, 2)
    with tg.no_grad():
        out, _ = overflowing(mode, cell)(x)
    assert np.isfinite(out.data).all()  # all that a check of the cell's outputs alone would have seen
    where = rf"^(NaN|Inf) first produced by .* in {mode}/l0/t=1$"
    with tg.detect_anomaly(), pytest.raises(FloatingPointError, match=where):
        overflowing(mode, cell)(x)  # step t=1 (the scopes of nn layers count from 0, as PyTorch indexes)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_a_sequence_layer_names_the_step_in_its_own_order_when_reversed():
    m = nn.LSTM(2, 3, cell="sequence", bidirectional=True)
    with tg.no_grad():
        for p in m.parameters():
            p.data[...] = 0
        m.weight_hh_l0_reverse.data[...] = 3e38
        m.bias_ih_l0_reverse.data[...] = 30.0
    with tg.detect_anomaly(), pytest.raises(FloatingPointError, match=r"in LSTM/l0_reverse/t=3$"):
        m(tg.ones(5, 1, 2))  # the reverse direction starts at t=4: its second step is t=3


def test_anomaly_checks_the_given_gradient_and_hooks():
    x = tg.tensor([1.0, 2.0], requires_grad=True, name="x")
    with tg.detect_anomaly(), pytest.raises(FloatingPointError, match="gradient given to backward"):
        (x * 2).backward(tg.tensor([1.0, np.nan]))
    h = x * 3
    h.name = "h"
    h.register_hook(lambda g: tg.tensor(np.full(g.shape, np.inf)))
    with tg.detect_anomaly(), pytest.raises(FloatingPointError, match="hook on the tensor 'h'"):
        h.sum().backward()


def test_grad_of_an_intermediate_warns_and_names_retain_grad():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    (h * h).sum().backward()
    with pytest.warns(UserWarning, match="retain_grad"):
        assert h.grad is None
    h2 = (x * 2).retain_grad()
    (h2 * h2).sum().backward()
    np.testing.assert_allclose(h2.grad.numpy(), 2 * h2.numpy())


def test_mixed_float_matmul_promotes_as_numpy_does():
    """A documented difference from PyTorch (which raises): float32 @ float64 is float64, gradients in each dtype."""
    a, b = tg.randn(2, 3, requires_grad=True), tg.randn(3, 2, dtype=np.float64, requires_grad=True)
    out = a @ b
    out.sum().backward()
    assert out.dtype == np.float64 and a.grad.dtype == np.float32 and b.grad.dtype == np.float64
