"""cell='sequence' (one node per layer and direction) against the composite graph; gradient checkpointing over time."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_seq as tg
from tinygrad_seq import nn

MAKERS = {
    "RNN_tanh": lambda **kw: nn.RNN(3, 4, nonlinearity="tanh", **kw),
    "RNN_relu": lambda **kw: nn.RNN(3, 4, nonlinearity="relu", **kw),
    "LSTM": lambda **kw: nn.LSTM(3, 4, **kw),
    "GRU": lambda **kw: nn.GRU(3, 4, **kw),
}


def twin(kind, checkpoint=None, **kw):
    """The same module twice, composite and sequence, with equal weights."""
    a = MAKERS[kind](cell="composite", **kw)
    b = MAKERS[kind](cell="sequence", grad_checkpoint_every=checkpoint, **kw)
    b.load_state_dict(a.state_dict())
    return a, b


def run(module, x, h0, c0, lengths, seed=0):
    """Forward, a loss that weights every output entry differently, backward; every value and gradient."""
    x = tg.tensor(x, requires_grad=True)
    states = [tg.tensor(s, requires_grad=True) for s in (h0, c0) if s is not None]
    hx = None if not states else tuple(states) if len(states) == 2 else states[0]
    tg.manual_seed(seed)  # the same dropout masks in both modes
    out, st_ = module(x, hx, lengths=lengths)
    finals = list(st_) if isinstance(st_, tuple) else [st_]
    rng = np.random.default_rng(7)
    loss = ((out + 1) ** 2 * tg.tensor(rng.normal(size=out.shape))).sum()
    for f in finals:
        loss = loss + (f * f * tg.tensor(rng.normal(size=f.shape))).sum()
    loss.backward()
    return [out.data, *(f.data for f in finals), x.grad.data, *(s.grad.data for s in states),
            *(p.grad.data for p in module.parameters())]


def assert_close(a, b, tol=1e-11):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.shape == v.shape
        assert np.abs(u - v).max() <= tol * max(1.0, np.abs(v).max())


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # float64 holds for every example
@given(kind=st.sampled_from(sorted(MAKERS)), T=st.integers(1, 6), B=st.integers(1, 3),
       num_layers=st.integers(1, 2), bidirectional=st.booleans(), batch_first=st.booleans(), bias=st.booleans(),
       given_state=st.booleans(), use_lengths=st.booleans(), checkpoint=st.sampled_from([None, 1, 2, 4]),
       data=st.data())
def test_sequence_equals_composite(kind, T, B, num_layers, bidirectional, batch_first, bias, given_state,
                                   use_lengths, checkpoint, data, float64):
    """Outputs, h_n/c_n and the gradients of the input, the initial states and every parameter agree."""
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias)
    a, b = twin(kind, checkpoint, **kw)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = rng.normal(size=(B, T, 3) if batch_first else (T, B, 3))
    n = num_layers * (2 if bidirectional else 1)
    h0 = rng.normal(size=(n, B, 4)) if given_state else None
    c0 = rng.normal(size=(n, B, 4)) if given_state and kind == "LSTM" else None
    lengths = rng.integers(0, T + 1, size=B) if use_lengths else None
    assert_close(run(b, x, h0, c0, lengths), run(a, x, h0, c0, lengths))


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_dropout_between_layers_and_unbatched(kind, float64):
    a, b = twin(kind, num_layers=3, dropout=0.5)
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    assert_close(run(b, x, None, None, None, seed=3), run(a, x, None, None, None, seed=3))
    a.eval(), b.eval()
    xu = tg.tensor(x[:, 0])  # unbatched (T, D)
    for u, v in zip(a(xu), b(xu)):
        for p, q in zip(u if isinstance(u, tuple) else [u], v if isinstance(v, tuple) else [v]):
            assert p.shape == q.shape and np.allclose(p.data, q.data, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_one_node_per_layer_and_direction(kind):
    _, b = twin(kind, num_layers=2, bidirectional=True)
    out, _ = b(tg.randn(30, 2, 3))
    seen, stack, layers = set(), [out], 0
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        layers += t.op == "recurrent_layer"
        stack.extend(t.parents)
    assert layers == 4  # 2 layers × 2 directions, whatever T is
    assert len(seen) < 60  # the composite graph of T = 30 steps has thousands of nodes


def test_float32_stays_float32_and_no_grad():
    m = nn.LSTM(3, 4, cell="sequence")
    x = tg.randn(6, 2, 3, requires_grad=True)
    out, (h, c) = m(x)
    assert out.dtype == h.dtype == c.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32 and all(p.grad.dtype == np.float32 for p in m.parameters())
    with tg.no_grad():
        out2, _ = m(x)
    assert not out2.requires_grad and np.array_equal(out2.data, out.data)


@pytest.mark.parametrize("checkpoint", [None, 2])
def test_retain_graph_twice_doubles_the_gradient(checkpoint, float64):
    m = nn.GRU(3, 4, cell="sequence", grad_checkpoint_every=checkpoint)
    out, h = m(tg.randn(5, 2, 3))
    loss = (out ** 2).sum() + h.sum()
    loss.backward(retain_graph=True)
    once = m.weight_hh_l0.grad.data.copy()
    loss.backward()
    assert np.allclose(m.weight_hh_l0.grad.data, 2 * once, rtol=1e-12)


def test_unused_results_get_zero_gradient(float64):
    """Only h_n in the loss: the outputs' share is zero, as in the composite graph."""
    a, b = twin("LSTM")
    x = tg.randn(4, 2, 3)
    for m in (a, b):
        _, (h, _) = m(x)
        (h ** 2).sum().backward()
    assert np.allclose(a.weight_ih_l0.grad.data, b.weight_ih_l0.grad.data, atol=1e-12)


def test_create_graph_is_refused_with_a_clear_error():
    m = nn.LSTM(3, 4, cell="sequence")
    out, _ = m(tg.randn(3, 2, 3))
    with pytest.raises(RuntimeError, match="create_graph=True .* cell='fused'"):
        tg.grad((out ** 2).sum(), [m.weight_hh_l0], create_graph=True)


def test_bad_options():
    with pytest.raises(ValueError, match="grad_checkpoint_every needs cell='sequence'"):
        nn.LSTM(3, 4, grad_checkpoint_every=4)
    with pytest.raises(ValueError, match="grad_checkpoint_every must be a positive int"):
        nn.GRU(3, 4, cell="sequence", grad_checkpoint_every=0)
    with pytest.raises(ValueError, match="cell must be 'composite' or 'fused'"):
        nn.LSTMCell(3, 4, cell="sequence")  # a single step has no sequence to fuse
    assert "grad_checkpoint_every=8" in repr(nn.RNN(3, 4, cell="sequence", grad_checkpoint_every=8))


def peak_bytes(module, x, loss_of):
    """Peak bytes allocated by numpy during forward + backward (tracemalloc sees numpy's allocations)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    loss_of(*module(x)).backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    module.zero_grad()
    return peak


def test_checkpointing_cuts_peak_memory():
    """Saved gates of all T steps (about 12 (T, B, H) arrays with backward's) against k steps and the outputs."""
    T, B, H = 256, 8, 32
    x = tg.randn(T, B, 8)
    full = nn.LSTM(8, H, cell="sequence")
    ck = nn.LSTM(8, H, cell="sequence", grad_checkpoint_every=16)
    ck.load_state_dict(full.state_dict())
    on_state = lambda out, state: (state[0] * state[0]).sum()  # noqa: E731  the layer's own memory only
    on_outputs = lambda out, state: (out * out).mean()  # noqa: E731  plus the loss's (T, B, H) temporaries
    ratio_state = peak_bytes(full, x, on_state) / peak_bytes(ck, x, on_state)
    ratio_outputs = peak_bytes(full, x, on_outputs) / peak_bytes(ck, x, on_outputs)
    assert ratio_state > 3, ratio_state
    assert ratio_outputs > 1.8, ratio_outputs


def test_trainer_passes_grad_checkpoint_every_to_the_layer():
    """The same first steps (losses and weights) with and without checkpointing, through train.Trainer."""
    from tinygrad_seq.train import TrainConfig, Trainer

    text = "the quick brown fox jumps over the lazy dog. " * 20
    runs = []
    for k in (None, 4):
        cfg = TrainConfig(model="lstm", hidden_size=16, cell="sequence", grad_checkpoint_every=k, batch_size=4,
                          seq_len=16, steps=3, eval_every=100, dtype="float64")
        trainer = Trainer(cfg, text)
        assert trainer.model.rnn.grad_checkpoint_every == k
        runs.append([trainer.train_step()["loss"] for _ in range(3)] + [trainer.model.rnn.weight_hh_l0.data.copy()])
    assert np.allclose(runs[0][:3], runs[1][:3], rtol=1e-10)
    assert np.allclose(runs[0][3], runs[1][3], rtol=1e-10)
    with pytest.raises(ValueError, match="grad_checkpoint_every needs cell='sequence'"):
        TrainConfig(cell="fused", grad_checkpoint_every=4).validate()
