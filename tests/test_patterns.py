"""The design patterns: each model trains on a toy task that needs its pattern, and its loss falls."""

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import functional as F
from tinygrad_seq import optim
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
