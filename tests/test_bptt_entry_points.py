"""The whole-sequence entry points of bptt.lstm and bptt.gru: the loss, and the gradient of the initial state.

``lstm_forward``/``lstm_backward`` and ``gru_forward``/``gru_backward`` are what a student calls to run
the lecture's formulas on a sequence; here their ∂L/∂h(0) (and ∂L/∂c(0)) meet central differences of
their own loss, which involves no engine at all.
"""

import numpy as np
import pytest

from tinygrad_seq.bptt import gru, lstm
from tinygrad_seq.gradcheck import _numeric_grad


def _central(f, x):
    return _numeric_grad(f, x, 1e-6)  # the central differences tg.gradcheck uses


def _params(rng, D, H, C, gates):
    return dict(U=rng.standard_normal((D, gates * H)) * 0.5, W=rng.standard_normal((H, gates * H)) * 0.5,
                b=rng.standard_normal(gates * H) * 0.1, V=rng.standard_normal((H, C)), c=rng.standard_normal(C))


@pytest.mark.parametrize("peephole, coupled", [(False, False), (True, False), (False, True)])
def test_lstm_entry_points_give_the_initial_state_gradients(peephole, coupled):
    rng = np.random.default_rng(1)
    T, N, D, H, C = 4, 2, 3, 3, 3
    p = _params(rng, D, H, C, 3 if coupled else 4)  # the coupled LSTM has no forget gate of its own
    if peephole:
        p.update({k: rng.standard_normal(H) * 0.3 for k in ("p_i", "p_f", "p_o")})
    x, y = rng.standard_normal((T, N, D)), rng.integers(0, C, (T, N))
    h0, c0 = rng.standard_normal((N, H)) * 0.5, rng.standard_normal((N, H)) * 0.5
    grads = lstm.lstm_backward(lstm.lstm_forward(x, y, p, h0, c0, peephole=peephole, coupled=coupled))
    loss = lambda: lstm.lstm_forward(x, y, p, h0, c0, peephole=peephole, coupled=coupled).loss  # noqa: E731
    np.testing.assert_allclose(grads.dstate0[0], _central(loss, h0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grads.dstate0[1], _central(loss, c0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grads.params["W"], _central(loss, p["W"]), rtol=1e-6, atol=1e-8)


def test_gru_entry_points_give_the_initial_state_gradient():
    rng = np.random.default_rng(2)
    T, N, D, H, C = 4, 2, 3, 3, 3
    p = _params(rng, D, H, C, 3)
    p["b_hn"] = rng.standard_normal(H) * 0.1
    x, y = rng.standard_normal((T, N, D)), rng.integers(0, C, (T, N))
    h0 = rng.standard_normal((N, H)) * 0.5
    grads = gru.gru_backward(gru.gru_forward(x, y, p, h0))
    loss = lambda: gru.gru_forward(x, y, p, h0).loss  # noqa: E731
    np.testing.assert_allclose(grads.dstate0[0], _central(loss, h0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grads.params["U"], _central(loss, p["U"]), rtol=1e-6, atol=1e-8)
