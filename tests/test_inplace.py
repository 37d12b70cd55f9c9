"""In-place changes between forward and backward: the gradient is right, or backward refuses. Never a third outcome.

Each case of the probes that once gave a silently wrong gradient is here, with the
true gradient in a comment, and the PyTorch idioms that must keep working.

TGS_FUZZ=N runs the property test with N examples (the default is small, for CI).
"""

import os

import numpy as np
import pytest
from conftest import FAST
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_seq as tg
from tinygrad_seq import functional as F
from tinygrad_seq import nn

MODIFIED = "modified in place"
EXAMPLES = int(os.environ.get("TGS_FUZZ", 15 if FAST else 40))


def leaf(values):
    return tg.tensor(np.array(values, dtype=np.float64), requires_grad=True)


def test_tensor_copies_the_callers_array():
    a = np.array([1.0, 2.0])
    x = tg.Tensor(a, requires_grad=True)
    y = (x * x).sum()
    a[:] = 50  # the caller's array is not the tensor's
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


@pytest.mark.parametrize("edit", [
    lambda c: c.data.__setitem__(Ellipsis, 100),  # c.data[...] = 100
    lambda c: c.data.__iadd__(1),                  # c.data += 1 (through the view's in-place add)
    lambda c: c.data.fill(0),
    lambda c: np.add(c.data, 1, out=c.data),
    lambda c: setattr(c, "data", c.data - 0.5),    # c.data = c.data - 0.5
])
def test_writes_through_data_are_counted(edit):
    x = leaf([1.0, 1.0])
    c = x * tg.tensor([2.0, 3.0])
    y = (c * c).sum()  # saves c
    edit(c)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_augmented_assignment_on_data_is_counted():
    w = leaf([1.0, 2.0])
    loss = (w * w * 0.5).sum()  # true gradient [1, 2]
    w.data -= 0.1 * w.data  # an update between forward and backward
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_views_share_the_version_counter():
    base = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    w = leaf([1.0, 1.0])
    v = base[0]  # a view of base's values
    y = (v * w).sum()
    base += 10  # changes v too
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()
    r = base.reshape(4)
    z = (r * leaf([1.0] * 4)).sum()  # saves r
    r.detach()[0] = 7.0  # detach shares the values and the counter, as in PyTorch
    with pytest.raises(RuntimeError, match=MODIFIED):
        z.backward()


def test_lstm_input_changed_after_forward():
    tg.set_default_dtype(np.float64)
    lstm = nn.LSTM(3, 4)
    x = tg.randn(5, 2, 3)
    out, _ = lstm(x)
    x += 1  # the matmul saved a reshape view of x
    with pytest.raises(RuntimeError, match=MODIFIED):
        out.sum().backward()


def test_loss_accumulated_in_place_as_pytorch_programs_do():
    w = leaf([0.5, -0.3])
    loss = 0
    for t in range(3):
        loss += ((w * (t + 1)) ** 2).sum()  # a recorded in-place add from the second step on
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * w.numpy() * (1 + 4 + 9))


def test_index_assignment_is_recorded():
    # the seq2seq tutorial's encoder_outputs[ei] = encoder_output[0, 0]: the gradient must reach the encoder
    w = leaf([1.0, 2.0, 3.0])
    outputs = tg.zeros(4, 3, dtype=np.float64)
    for i in range(4):
        outputs[i] = w * (i + 1)
    loss = (outputs * outputs).sum()
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * w.numpy() * (1 + 4 + 9 + 16))
    assert outputs.requires_grad and outputs.op == "setitem"


def test_in_place_on_a_tensor_already_used_is_refused_and_changes_nothing():
    w = leaf([1.0, 2.0])
    h = w * 2
    y = h * h
    before = h.numpy().copy()
    with pytest.raises(RuntimeError, match="already used its old value"):
        h[0] = 5.0
    np.testing.assert_array_equal(h.numpy(), before)
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 8 * w.numpy())


def test_pytorch_parameter_updates_on_data():
    w = leaf([1.0, 2.0])
    (w * w).sum().backward()
    w.data.add_(w.grad.data, alpha=-0.1)  # p.data.add_(p.grad, alpha=-lr)
    np.testing.assert_allclose(w.numpy(), [0.8, 1.6])
    w.data.add_(-0.5, w.grad.data)  # the old signature add_(alpha, other)
    np.testing.assert_allclose(w.numpy(), [-0.2, -0.4])
    w.data.zero_()
    assert not w.numpy().any() and w._version == 3


def test_data_reads_as_a_plain_array():
    x = tg.tensor([1.0, 2.0])
    assert repr(x.data) == repr(np.array([1.0, 2.0], dtype=np.float32))
    assert type(x.data + 1) is np.ndarray and type(x.data.copy()) is np.ndarray
    assert x._version == 0  # reading is not writing


# --------------------------------------------------------------------------- the property: right or refused


EDITS = ["data_setitem", "data_iadd", "assign_data", "tensor_iadd", "view_iadd", "setitem", "none"]


def _graph(kind, x, w):
    """A small graph of one of several kinds; returns (loss, the tensors a user could edit)."""
    if kind == "mlp":
        h = (x @ w).tanh()
        return (h * h).sum(), [x, h]
    if kind == "lstm":
        tg.manual_seed(0)
        lstm = nn.LSTM(w.shape[0], 2)
        out, _ = lstm(x.reshape(x.shape[0], 1, -1) @ w)
        return (out * out).sum(), [x, out]
    q = x @ w
    ctx = F.scaled_dot_product_attention(q[None], q[None], q[None])
    return (ctx * ctx).sum(), [x, q]


def _edit(how, t):
    if how == "data_setitem":
        t.data[0] = 0.5
    elif how == "data_iadd":
        t.data += 0.25
    elif how == "assign_data":
        t.data = t.numpy() * 2
    elif how == "tensor_iadd":
        with tg.no_grad():
            t += 0.25
    elif how == "view_iadd":
        with tg.no_grad():
            v = t[0]
            v += 0.25
    elif how == "setitem":
        with tg.no_grad():
            t[0] = 0.5


@settings(max_examples=EXAMPLES, deadline=None)
@given(kind=st.sampled_from(["mlp", "lstm", "attention"]), how=st.sampled_from(EDITS), which=st.integers(0, 3),
       seed=st.integers(0, 2**16))
def test_random_in_place_edits_give_the_right_gradient_or_an_error(kind, how, which, seed):
    """After any edit the outcome is the gradient of the graph as recorded (checked against a fresh
    graph on the recorded values) or the version error: never a third one."""
    tg.set_default_dtype(np.float64)
    rng = np.random.default_rng(seed)
    x0, w0 = rng.standard_normal((3, 3)), rng.standard_normal((3, 3)) * 0.5
    x, w = leaf(x0), leaf(w0)
    loss, editable = _graph(kind, x, w)
    # also: a detached view (shares x's values and counter, as in PyTorch) and an independent copy
    editable += [x.detach(), tg.tensor(x.numpy())]
    _edit(how, editable[which])
    try:
        loss.backward()
    except RuntimeError as e:
        assert MODIFIED in str(e), str(e)
        assert how != "none" and which != 3  # an untouched graph, or an edit of a copy, never fails
        return
    x2, w2 = leaf(x0), leaf(w0)
    loss2, _ = _graph(kind, x2, w2)
    loss2.backward()
    np.testing.assert_allclose(w.grad.numpy(), w2.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-12, atol=1e-12)
