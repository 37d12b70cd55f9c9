"""Real-time recurrent learning gives BPTT's gradient, at the cost the theory predicts."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_seq.bptt import gru, lstm, rnn, rtrl, unroll

sizes = st.fixed_dictionaries(
    dict(T=st.integers(1, 6), N=st.integers(1, 3), D=st.integers(1, 4), H=st.integers(1, 5), C=st.integers(2, 4),
         seed=st.integers(0, 2**16))
)


def random_params(rng, D, H, C, G=1, extra=()):
    p = dict(U=rng.standard_normal((D, G * H)), W=rng.standard_normal((H, G * H)) * 0.6, b=rng.standard_normal(G * H),
             V=rng.standard_normal((H, C)), c=rng.standard_normal(C))
    p.update({k: rng.standard_normal(H) for k in extra})
    return p


def rel(a, b):
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else np.linalg.norm(a - b) / scale


@pytest.mark.parametrize("nonlinearity", rnn.NONLINEARITIES)
@given(s=sizes)
def test_rnn_rtrl_equals_bptt(nonlinearity, s):
    rng = np.random.default_rng(s["seed"])
    p = random_params(rng, s["D"], s["H"], s["C"])
    x, y = rng.standard_normal((s["T"], s["N"], s["D"])), rng.integers(0, s["C"], (s["T"], s["N"]))
    h0 = rng.standard_normal((s["N"], s["H"]))
    loss, grads = rtrl.rnn_rtrl(x, y, p, h0, nonlinearity)
    cache = rnn.rnn_forward(x, y, p, h0, nonlinearity)
    expected = rnn.rnn_backward(cache).params
    assert abs(loss - cache.loss) <= 1e-12 * abs(cache.loss)
    for k in p:
        assert rel(grads[k], expected[k]) < 1e-10, k


CELLS = {
    "rnn": (rnn.cell(), 1, ()),
    "lstm": (lstm.cell(), 4, ()),
    "lstm_peephole": (lstm.cell(peephole=True), 4, ("p_i", "p_f", "p_o")),
    "lstm_coupled": (lstm.cell(coupled=True), 3, ()),
    "gru": (gru.cell(), 3, ("b_hn",)),
}


@pytest.mark.parametrize("name", list(CELLS))
@given(s=sizes)
def test_generic_rtrl_equals_bptt_for_every_cell(name, s):
    cell, G, extra = CELLS[name]
    rng = np.random.default_rng(s["seed"])
    p = random_params(rng, s["D"], s["H"], s["C"], G, extra)
    x, y = rng.standard_normal((s["T"], s["N"], s["D"])), rng.integers(0, s["C"], (s["T"], s["N"]))
    state0 = tuple(rng.standard_normal((s["N"], s["H"])) for _ in cell.state_names)
    loss, grads = rtrl.rtrl(cell, x, y, p, state0)
    cache = unroll.forward(cell, x, y, p, state0)
    expected = unroll.backward(cache).params
    assert abs(loss - cache.loss) <= 1e-12 * abs(cache.loss)
    for k in p:
        assert rel(grads[k], expected[k]) < 1e-10, (name, k)


def test_rtrl_does_not_keep_the_past():
    """RTRL's memory for the gradient is H·P floats whatever T is; BPTT's grows with T."""
    short, long = rtrl.measure_cost((3, 6), T=4, repeats=1), rtrl.measure_cost((3, 6), T=40, repeats=1)
    for a, b in zip(short.rows, long.rows):
        assert a.rtrl_floats == b.rtrl_floats == a.hidden * a.params
        assert b.bptt_floats == 10 * a.bptt_floats


def test_cost_table_grows_like_h_to_the_fourth():
    table = rtrl.measure_cost((8, 16, 48), T=10, D=4, C=4, repeats=3)
    P = [r.params for r in table.rows]
    assert P == [4 * H + H * H + H for H in (8, 16, 48)]
    small, large = table.rows[1], table.rows[2]  # H = 16 → 48
    # counted multiply-adds: RTRL's grow ~H⁴ (×81 for ×3 in H, within lower-order terms), BPTT's ~H²
    assert 50 < large.rtrl_flops / small.rtrl_flops < 90
    assert large.bptt_flops / small.bptt_flops < 10
    # measured: at H = 48 RTRL is clearly the slower one (several times, though the machine is shared)
    assert large.rtrl_ms > 2 * large.bptt_ms
    text = str(table)
    assert "RTRL ms" in text and "BPTT ms" in text and "from H=16 to H=48" in text
