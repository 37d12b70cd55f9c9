"""The design patterns: each model trains on a toy task that needs its pattern, and its loss falls."""

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import functional as F
from tinygrad_seq import nn, optim
from tinygrad_seq.nn.patterns import (
    BidirectionalTagger,
    Encoder,
    OneToMany,
    Seq2Seq,
    SequenceClassifier,
    SequenceTagger,
    sequence_cross_entropy,
)

PAD, BOS, EOS = 0, 1, 2


def train(model, batch, loss_fn, steps, lr=0.03):
    """Adam on fresh batches; returns the losses."""
    opt = optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model, *batch())
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    return losses


def test_many_to_one_classifies_the_sign_of_a_sum():
    rng = np.random.default_rng(0)

    def batch():
        x = rng.choice([-1.0, 1.0], size=(7, 32, 1)).astype(np.float32)
        return x, (x.sum(axis=(0, 2)) > 0).astype(np.int64)

    model = SequenceClassifier(1, 16, 2, rnn="GRU")
    losses = train(model, batch, lambda m, x, y: F.cross_entropy(m(x), y), 40)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3]), losses
    x, y = batch()
    assert (model(x).data.argmax(-1) == y).mean() > 0.8


def test_many_to_one_with_lengths_reads_each_sequence_at_its_end():
    model = SequenceClassifier(2, 5, 3, rnn="LSTM")
    x = tg.randn(6, 3, 2)
    lengths = [6, 2, 4]
    logits = model(x, lengths=lengths)
    for b, n in enumerate(lengths):
        np.testing.assert_allclose(logits.data[b], model(x[:n, b:b + 1]).data[0], rtol=1e-5, atol=1e-6)


def test_one_to_many_unrolls_a_vector_into_a_sine_wave():
    rng = np.random.default_rng(1)
    freqs = np.array([0.3, 0.6, 0.9, 1.2])

    def batch():
        k = rng.integers(0, 4, 32)
        y = np.sin(freqs[k][None, :] * np.arange(1, 11)[:, None])[:, :, None].astype(np.float32)
        return np.eye(4, dtype=np.float32)[k], y

    model = OneToMany(4, 16, 1)
    losses = train(model, batch, lambda m, c, y: F.mse_loss(m(c, steps=10), tg.tensor(y)), 40)
    assert losses[-1] < 0.2 * losses[0], losses
    assert model(np.eye(4, dtype=np.float32), steps=10).shape == (10, 4, 1)
    with pytest.raises(ValueError, match="one vector per example"):
        model(tg.randn(3, 2, 4), steps=5)


def same_as_neighbour_batch(rng, offset):
    """Tokens in {0, 1, 2}; tag 1 where the token equals its neighbour at t + offset."""
    tokens = rng.integers(0, 3, (8, 32))
    neighbour = np.full_like(tokens, -1)
    if offset > 0:
        neighbour[:-offset] = tokens[offset:]
    else:
        neighbour[-offset:] = tokens[:offset]
    return tokens, (tokens == neighbour).astype(np.int64)


def test_many_to_many_tagger_learns_a_causal_tag():
    rng = np.random.default_rng(2)
    model = SequenceTagger(3, 8, 16, 2)
    losses = train(model, lambda: same_as_neighbour_batch(rng, -1), lambda m, x, y: sequence_cross_entropy(m(x), y),
                   60)
    assert np.mean(losses[-5:]) < 0.15, losses[-5:]


def test_bidirectional_tagger_sees_the_future_a_forward_one_cannot():
    """Tag 'equals the next token': only the backward direction can know; the forward tagger stalls near chance."""
    results = {}
    for cls in (SequenceTagger, BidirectionalTagger):
        rng = np.random.default_rng(3)
        tg.manual_seed(0)
        model = cls(3, 8, 16, 2)
        losses = train(model, lambda rng=rng: same_as_neighbour_batch(rng, 1),
                       lambda m, x, y: sequence_cross_entropy(m(x), y), 60)
        results[cls.__name__] = np.mean(losses[-5:])
    assert results["BidirectionalTagger"] < 0.1, results
    assert results["SequenceTagger"] > 0.4, results
    assert BidirectionalTagger(3, 4, 5, 2)(np.zeros((6, 2), dtype=np.int64)).shape == (6, 2, 2)


# --------------------------------------------------------------------------- seq2seq


def reversal_batch(rng, B=32, lo=2, hi=5, vocab=8):
    """Sources of random lengths; targets the reversed source, then EOS; both padded with PAD."""
    lengths = rng.integers(lo, hi + 1, B)
    S = lengths.max()
    src, tgt_in, tgt_out = np.full((S, B), PAD), np.full((S + 1, B), PAD), np.full((S + 1, B), PAD)
    for b, n in enumerate(lengths):
        seq = rng.integers(3, vocab, n)
        src[:n, b] = seq
        tgt_in[0, b], tgt_in[1:n + 1, b] = BOS, seq[::-1]
        tgt_out[:n, b], tgt_out[n, b] = seq[::-1], EOS
    return src, lengths, tgt_in, tgt_out


def seq2seq_loss(m, src, lengths, tgt_in, tgt_out):
    return sequence_cross_entropy(m(src, lengths, tgt_in), tgt_out, ignore_index=PAD)


@pytest.mark.parametrize("rnn", ["GRU", "LSTM"])
def test_seq2seq_loss_falls(rnn):
    rng = np.random.default_rng(4)
    model = Seq2Seq(8, 8, 16, 32, rnn=rnn)
    losses = train(model, lambda: reversal_batch(rng), seq2seq_loss, 30, lr=0.01)
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:3]), losses


@pytest.mark.slow
def test_seq2seq_learns_to_reverse_with_greedy_decoding():
    rng = np.random.default_rng(5)
    tg.manual_seed(0)
    model = Seq2Seq(8, 8, 16, 64, rnn="LSTM", cell="fused")
    train(model, lambda: reversal_batch(rng), seq2seq_loss, 300, lr=0.01)
    src, lengths, _, _ = reversal_batch(rng, B=100)
    decoded = model.greedy_decode(src, lengths, max_len=8)
    exact = np.mean([decoded[b] == list(src[:n, b][::-1]) for b, n in enumerate(lengths)])
    assert exact > 0.8, exact


def test_seq2seq_free_running_equals_greedy_decoding(float64):
    """teacher_forcing=0 feeds back the argmax, which is what greedy decoding does."""
    rng = np.random.default_rng(6)
    model = Seq2Seq(8, 8, 6, 10, rnn="GRU")
    src, lengths, tgt_in, _ = reversal_batch(rng, B=4)
    logits = model(src, lengths, tgt_in, teacher_forcing=0.0)
    free = logits.data.argmax(-1)  # (T, B)
    decoded = model.greedy_decode(src, lengths, max_len=tgt_in.shape[0])
    for b in range(4):
        seq = list(free[:, b])
        expected = seq[:seq.index(EOS)] if EOS in seq else seq
        assert decoded[b] == expected
    loss = sequence_cross_entropy(logits, np.where(tgt_in > 0, tgt_in, PAD), ignore_index=PAD)
    loss.backward()  # the free-running graph is differentiable too
    assert np.abs(model.decoder.rnn.weight_hh_l0.grad.data).sum() > 0


def test_encoder_handles_padding_and_is_reusable(float64):
    enc = Encoder(8, 4, 6, rnn="LSTM", num_layers=2)
    src = np.array([[3, 4], [5, 6], [7, PAD]])
    outputs, (h_n, c_n) = enc(src, [3, 2])
    assert outputs.shape == (3, 2, 6) and h_n.shape == (2, 2, 6) and c_n.shape == (2, 2, 6)
    alone, (h_alone, _) = enc(src[:2, 1:2])
    np.testing.assert_allclose(h_n.data[:, 1], h_alone.data[:, 0], rtol=1e-12)
    assert not outputs.data[2, 1].any()


def test_padded_targets_do_not_change_the_loss(float64):
    rng = np.random.default_rng(7)
    model = Seq2Seq(8, 8, 6, 10)
    src, lengths, tgt_in, tgt_out = reversal_batch(rng, B=3, lo=2, hi=4)
    base = seq2seq_loss(model, src, lengths, tgt_in, tgt_out).item()
    other_in = np.where(tgt_out == PAD, 7, tgt_in)  # garbage tokens fed after the end
    assert seq2seq_loss(model, src, lengths, other_in, tgt_out).item() == pytest.approx(base, rel=1e-12)


# --------------------------------------------------------------------------- one-to-many: x at every step or in h(0)


def numpy_rnn_initial_state(model, x, steps):
    """OneToMany(rnn="RNN", condition="initial_state") by hand: h(0) = tanh(W₀x + b₀), h(t) = tanh(W h(t−1) + b)."""
    p = {k: v.data for k, v in model.named_parameters()}
    h = np.tanh(x @ p["init.weight"].T + p["init.bias"])
    ys = []
    for _ in range(steps):
        h = np.tanh(h @ p["rnn.weight_hh_l0"].T + p["rnn.bias_ih_l0"] + p["rnn.bias_hh_l0"])
        ys.append(h @ p["readout.weight"].T + p["readout.bias"])
    return np.stack(ys)


def test_one_to_many_through_h0_matches_a_numpy_forward(float64):
    model = OneToMany(3, 5, 2, rnn="RNN", condition="initial_state")
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_allclose(model(x, steps=6).data, numpy_rnn_initial_state(model, x, 6), rtol=1e-12, atol=1e-12)
    assert "weight_ih_l0" not in dict(model.rnn.named_parameters())  # the recurrence has no input to weigh


@pytest.mark.parametrize("rnn", ["GRU", "LSTM"])
def test_autonomous_rnn_is_the_library_rnn_fed_zeros(float64, rnn):
    """With no input, a GRU/LSTM step is nn.GRU/nn.LSTM's step on x(t) = 0: load the same weights and compare."""
    auto = nn.patterns.AutonomousRNN(5, rnn)
    ref = nn.patterns.make_rnn(rnn, 2, 5)
    ref.load_state_dict(auto.state_dict(), strict=False)
    rng = np.random.default_rng(1)
    h0 = tg.tensor(rng.standard_normal((1, 3, 5)))
    state = (h0, tg.tensor(rng.standard_normal((1, 3, 5)))) if rnn == "LSTM" else h0
    out, final = auto(state, 7)
    expected, expected_final = ref(np.zeros((7, 3, 2)), state)
    np.testing.assert_allclose(out.data, expected.data, rtol=1e-12, atol=1e-13)
    for a, b in zip(final if rnn == "LSTM" else [final], expected_final if rnn == "LSTM" else [expected_final]):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-13)


def test_one_to_many_both_is_the_rnn_fed_x_from_the_mapped_h0(float64):
    model = OneToMany(3, 4, 2, rnn="LSTM", num_layers=2, condition="both")
    x = tg.tensor(np.random.default_rng(2).standard_normal((5, 3)))
    a = model.init(x).data
    h0 = np.tanh(a[:, :8]).reshape(5, 2, 4).transpose(1, 0, 2)
    c0 = a[:, 8:].reshape(5, 2, 4).transpose(1, 0, 2)
    out, _ = model.rnn(np.broadcast_to(x.data, (6, 5, 3)), (h0, c0))
    np.testing.assert_allclose(model(x, steps=6).data, model.readout(out).data, rtol=1e-12)


@pytest.mark.parametrize("condition", ["input", "initial_state", "both"])
@pytest.mark.parametrize("rnn", ["RNN", "GRU", "LSTM"])
def test_one_to_many_gradcheck(float64, rnn, condition):
    model = OneToMany(3, 4, 2, rnn=rnn, condition=condition)
    x = tg.randn(2, 3, requires_grad=True)
    assert tg.gradcheck(lambda x, *params: model(x, steps=4), [x, *model.parameters()])


def test_one_to_many_h0_way_reaches_x_only_through_the_recurrence(float64):
    """∂o(t)/∂x: fed at every step it stays large; through h(0) it shrinks with t (the path has t steps)."""
    norms = {}
    for condition in ("input", "initial_state"):
        tg.manual_seed(0)
        model = OneToMany(4, 16, 1, rnn="RNN", condition=condition)
        x = tg.randn(1, 4, requires_grad=True)
        out = model(x, steps=20)
        norms[condition] = [np.linalg.norm(tg.grad(out[t].sum(), x, retain_graph=True)[0].data) for t in (0, 19)]
    assert norms["initial_state"][1] < 0.01 * norms["initial_state"][0], norms
    assert norms["input"][1] > 0.3 * norms["input"][0], norms


def test_one_to_many_errors():
    with pytest.raises(ValueError, match="condition must be one of"):
        OneToMany(3, 4, 2, condition="bias")
    with pytest.raises(ValueError, match="num_layers=2"):
        OneToMany(3, 4, 2, num_layers=2, condition="initial_state")
    model = OneToMany(3, 4, 2, condition="initial_state")
    with pytest.raises(ValueError, match="expected input_size=3"):
        model(tg.randn(2, 5), steps=3)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        model(tg.randn(2, 3), steps=0)
    with pytest.raises(ValueError, match=r"\(1, batch, 4\)"):
        model.rnn(tg.randn(2, 4), 3)
    with pytest.raises(TypeError, match="pair"):
        nn.patterns.AutonomousRNN(4, "LSTM")(tg.randn(1, 2, 4), 3)


def test_one_to_many_learns_sine_waves_through_h0_alone():
    rng = np.random.default_rng(1)
    freqs = np.array([0.3, 0.6, 0.9, 1.2])

    def batch():
        k = rng.integers(0, 4, 32)
        y = np.sin(freqs[k][None, :] * np.arange(1, 11)[:, None])[:, :, None].astype(np.float32)
        return np.eye(4, dtype=np.float32)[k], y

    model = OneToMany(4, 16, 1, condition="initial_state")
    losses = train(model, batch, lambda m, c, y: F.mse_loss(m(c, steps=10), tg.tensor(y)), 60)
    assert np.mean(losses[-5:]) < 0.2 * losses[0], losses


# --------------------------------------------------------------------------- output-to-hidden recurrence


def numpy_output_to_hidden(model, x, targets=None, feedback="argmax"):
    """a(t) = U x(t) + W y(t−1) + b, h = tanh a, o = V h + c; y(t−1) the one-hot target, or the model's own output."""
    p = {k: v.data for k, v in model.named_parameters()}
    T, B, _ = x.shape
    K = p["readout.weight"].shape[0]
    y_prev, outs = np.zeros((B, K)), []
    for t in range(T):
        h = np.tanh(x[t] @ p["weight_ih"].T + y_prev @ p["weight_oh"].T + p["bias_ih"])
        o = h @ p["readout.weight"].T + p["readout.bias"]
        outs.append(o)
        if targets is not None:
            y_prev = np.eye(K)[targets[t]] if targets.ndim == 2 else targets[t]
        elif feedback == "argmax":
            y_prev = np.eye(K)[o.argmax(-1)]
        elif feedback == "softmax":
            e = np.exp(o - o.max(-1, keepdims=True))
            y_prev = e / e.sum(-1, keepdims=True)
        else:
            y_prev = o
    return np.stack(outs)


@pytest.fixture
def o2h_data():
    rng = np.random.default_rng(3)
    return rng.standard_normal((6, 3, 2)), rng.integers(0, 4, (6, 3))


@pytest.mark.parametrize("feedback", ["argmax", "softmax", "identity"])
def test_output_to_hidden_matches_a_numpy_forward(float64, o2h_data, feedback):
    x, targets = o2h_data
    model = nn.OutputToHiddenRNN(2, 5, 4, feedback=feedback)
    np.testing.assert_allclose(model(x).data, numpy_output_to_hidden(model, x, feedback=feedback), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(model(x, targets).data, numpy_output_to_hidden(model, x, targets), rtol=1e-12,
                               atol=1e-12)
    values = np.random.default_rng(4).standard_normal((6, 3, 4))
    np.testing.assert_allclose(model(x, values).data, numpy_output_to_hidden(model, x, values), rtol=1e-12,
                               atol=1e-12)


def test_output_to_hidden_teacher_forcing_runs_all_steps_as_one_batch(float64, o2h_data):
    x, targets = o2h_data
    model = nn.OutputToHiddenRNN(2, 5, 4)
    np.testing.assert_allclose(model(x, targets, parallel=True).data, model(x, targets).data, rtol=1e-12, atol=1e-13)
    with pytest.raises(ValueError, match="needs the targets"):
        model(x, parallel=True)


def test_teacher_forced_step_t_sees_only_y_before_t(float64, o2h_data):
    x, targets = o2h_data
    model = nn.OutputToHiddenRNN(2, 5, 4)
    base = model(x, targets).data
    changed = targets.copy()
    changed[3] = (changed[3] + 1) % 4
    after = model(x, changed).data
    np.testing.assert_array_equal(after[:4], base[:4])  # steps 0..3 do not see y(3)
    assert np.abs(after[4] - base[4]).min() > 0  # step 4 is fed y(3)
    np.testing.assert_array_equal(after[5:], base[5:])  # and nothing else: no state carries y(3) further


def test_free_running_is_teacher_forcing_on_its_own_predictions(float64, o2h_data):
    x, _ = o2h_data
    model = nn.OutputToHiddenRNN(2, 5, 4)
    free = model(x)
    own = free.data.argmax(-1)
    np.testing.assert_allclose(model(x, own).data, free.data, rtol=1e-12)
    y0 = np.eye(4)[[1, 2, 3]]
    assert not np.allclose(model(x, y_0=y0).data[0], free.data[0])  # y_0 is what step 0 receives


@pytest.mark.parametrize("mode", ["teacher", "softmax", "identity", "parallel"])
def test_output_to_hidden_gradcheck(float64, o2h_data, mode):
    x, targets = o2h_data
    model = nn.OutputToHiddenRNN(2, 3, 4, feedback="argmax" if mode in ("teacher", "parallel") else mode)
    xt = tg.tensor(x[:4, :2], requires_grad=True)

    def run(x, *params):
        if mode in ("teacher", "parallel"):
            return model(x, targets[:4, :2], parallel=mode == "parallel")
        return model(x)

    assert tg.gradcheck(run, [xt, *model.parameters()])


def test_teacher_forced_graph_has_no_edge_between_steps_free_running_has():
    import viz

    tg.manual_seed(0)
    model = nn.OutputToHiddenRNN(2, 3, 2)
    x, y = tg.randn(5, 1, 2), np.array([[0], [1], [1], [0], [1]])

    def cross_time_edges(logits):
        return sum(e.cross_time for e in viz.build(sequence_cross_entropy(logits, y)).edges)

    assert cross_time_edges(model(x, y)) == 0
    assert cross_time_edges(model(x, feedback="softmax")) == 4  # o(t−1) → y_prev(t), t = 1 … 4
    rnn, readout = nn.RNN(2, 3), nn.Linear(3, 2)
    assert cross_time_edges(readout(rnn(x)[0])) == 4  # the hidden-to-hidden RNN: h(t−1) → h(t)


def test_output_to_hidden_errors(float64, o2h_data):
    x, targets = o2h_data
    model = nn.OutputToHiddenRNN(2, 5, 4)
    with pytest.raises(ValueError, match="feedback must be one of"):
        nn.OutputToHiddenRNN(2, 5, 4, feedback="sample")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        nn.OutputToHiddenRNN(2, 0, 4)
    with pytest.raises(ValueError, match=r"input must be \(seq_len ≥ 1, batch, 2\)"):
        model(x[:, :, :1])
    with pytest.raises(ValueError, match=r"class targets must lie in \[0, 4\)"):
        model(x, targets + 4)
    with pytest.raises(ValueError, match=r"class targets must be \(seq_len, batch\)"):
        model(x, targets[:3])
    with pytest.raises(ValueError, match="value targets must be"):
        model(x, np.zeros((6, 3, 3)))
    with pytest.raises(ValueError, match="y_0 must be"):
        model(x, y_0=np.zeros((3, 2)))


def bits_batch(rng, task, B=32, T=10):
    bits = rng.integers(0, 2, (T, B))
    y = np.cumsum(bits, 0) % 2 if task == "parity" else np.vstack([np.zeros((1, B), int), bits[:-1]])
    return np.eye(2, dtype=np.float32)[bits], y


def test_output_to_hidden_learns_parity_but_not_an_echo():
    """Parity's state is the output itself (y(t) = x(t) xor y(t−1)); echoing x(t−1) needs a memory y does not hold."""
    acc = {}
    for task in ("parity", "echo"):
        tg.manual_seed(0)
        rng = np.random.default_rng(0)
        model = nn.OutputToHiddenRNN(2, 16, 2)
        train(model, lambda rng=rng, task=task: bits_batch(rng, task),
              lambda m, x, y: sequence_cross_entropy(m(x, y, parallel=True), y), 150)
        x, y = bits_batch(np.random.default_rng(9), task, B=200)
        with tg.no_grad():
            acc[task] = (model(x).data.argmax(-1) == y)[1:].mean()  # free running: its own outputs fed back
    assert acc["parity"] > 0.97, acc
    assert acc["echo"] < 0.7, acc
