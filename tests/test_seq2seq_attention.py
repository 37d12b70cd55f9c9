"""Translation tasks, the attention encoder–decoder and the small Transformer: shapes, gradients, training."""

import os
import time

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq.nn.seq2seq_attention import AttentionSeq2Seq, TransformerSeq2Seq
from tinygrad_seq.tasks import (
    BOS,
    EOS,
    PAD,
    DateTask,
    ReverseTask,
    SortTask,
    alignment_accuracy,
    exact_match,
    make_batch,
)
from tinygrad_seq.translation import evaluate_translation, train_translation

FAST = os.environ.get("TGS_FAST") == "1"
V = 13  # PAD, BOS, EOS and ten digits


# --------------------------------------------------------------------------- tasks


@pytest.mark.parametrize("task", [ReverseTask(2, 9), SortTask(2, 9), DateTask()], ids=["reverse", "sort", "date"])
def test_true_alignments_rebuild_the_target(task):
    for s, t in task.dataset(50, seed=3).pairs:
        src, tgt = task.vocab.decode(s), task.vocab.decode(t)
        A = task.alignment(src, tgt)
        assert A.shape == (len(tgt), len(src)) and np.all(A.sum(1) == 1)
        rebuilt = "".join(src[i] for i in A.argmax(1))
        assert rebuilt == tgt if not isinstance(task, DateTask) else rebuilt.replace("-", ".") == tgt


def test_batches_are_padded_time_major():
    pairs = [([3, 4, 5], [5, 4, 3]), ([6], [6])]
    b = make_batch(pairs)
    assert b.src.tolist() == [[3, 6], [4, PAD], [5, PAD]]
    assert b.src_lengths.tolist() == [3, 1]
    assert b.tgt_in[:, 0].tolist() == [BOS, 5, 4, 3] and b.tgt_out[:, 0].tolist() == [5, 4, 3, EOS]
    assert b.tgt_in[:, 1].tolist() == [BOS, 6, PAD, PAD] and b.tgt_out[:, 1].tolist() == [6, EOS, PAD, PAD]
    assert b.src_padding_mask.tolist() == [[False, False, False], [False, True, True]]


def test_datasets_and_metrics():
    task = ReverseTask(3, 6)
    train = task.dataset(200, seed=0)
    test = task.dataset(50, seed=1, exclude=train)
    assert not {tuple(s) for s, _ in train.pairs} & {tuple(s) for s, _ in test.pairs}
    assert sum(len(b.pairs) for b in train.batches(64, seed=0)) == 200
    assert exact_match([[1, 2], [3]], [[1, 2], [4]]) == 0.5
    pairs = [([3, 4, 5], [5, 4, 3])]
    perfect = task.alignment("012", "210")[None]
    assert alignment_accuracy(perfect, task, pairs) == (1.0, 1.0)
    assert alignment_accuracy(np.full((1, 4, 3), 1 / 3), task, pairs)[1] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="min_len"):
        ReverseTask(5, 3)


# --------------------------------------------------------------------------- models


KINDS = [None, "additive", "dot", "general", "scaled_dot", "cosine", "location", "local-p", "local-m"]


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_alignment_and_padding(kind):
    batch = ReverseTask(2, 6).dataset(5, seed=2).batch()
    model = AttentionSeq2Seq(V, V, 4, 3, attention=kind, max_src_len=6)
    logits = model(batch.src, batch.src_lengths, batch.tgt_in)
    T, B = batch.tgt_in.shape
    assert logits.shape == (T, B, V)
    if kind is None:
        assert model.last_alignment is None
        return
    S = batch.src.shape[0]
    w = model.last_alignment
    assert w.shape == (B, T, S)
    assert np.all(w[np.broadcast_to(batch.src_padding_mask[:, None, :], w.shape)] == 0)
    if not kind.startswith("local"):
        np.testing.assert_allclose(w.sum(-1), 1, rtol=1e-5)


@pytest.mark.parametrize("kind", [None, "additive", "local-p"])
def test_gradcheck_whole_model(float64, kind):
    """Through the attention, both encoder directions and the decoder (a subset of weights, to keep it quick)."""
    batch = ReverseTask(2, 4).dataset(2, seed=5).batch()
    model = AttentionSeq2Seq(V, V, 2, 2, attention=kind, cell="composite")
    checked = [model.encoder.rnn.weight_hh_l0, model.encoder.rnn.weight_ih_l0_reverse, model.decoder.init_state.weight,
               model.decoder.rnn.bias_hh, model.decoder.out.bias]
    if kind is not None:
        checked += model.decoder.attention.parameters()
    assert tg.gradcheck(lambda *ps: model(batch.src, batch.src_lengths, batch.tgt_in), checked)


def test_fused_and_composite_cells_agree(float64):
    batch = ReverseTask(2, 5).dataset(3, seed=6).batch()
    fused = AttentionSeq2Seq(V, V, 4, 3, attention="general", cell="fused")
    composite = AttentionSeq2Seq(V, V, 4, 3, attention="general", cell="composite")
    composite.load_state_dict(fused.state_dict())
    outs = []
    for m in (fused, composite):
        out = m(batch.src, batch.src_lengths, batch.tgt_in)
        ((out + 1) ** 2).mean().backward()
        outs.append((out.data, [p.grad.data for p in m.parameters()]))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-12, atol=1e-12)
    for a, b in zip(outs[0][1], outs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("model", ["attention", "transformer"])
def test_greedy_decoding_agrees_with_teacher_forcing_on_its_own_output(model):
    batch = ReverseTask(2, 6).dataset(4, seed=7).batch()
    m = AttentionSeq2Seq(V, V, 4, 5) if model == "attention" else TransformerSeq2Seq(V, V, d_model=8, nhead=2)
    m.eval()
    decoded = m.greedy_decode(batch.src, batch.src_lengths, max_len=6)
    assert len(decoded) == 4
    for b, tokens in enumerate(decoded):
        tgt_in = np.array([BOS, *tokens])[:, None]
        logits = m(batch.src[:, b:b + 1], batch.src_lengths[b:b + 1], tgt_in)
        predicted = logits.data[:, 0].argmax(-1).tolist()
        # the model fed its own outputs predicts them again, and then EOS (or the length ran out)
        assert predicted[: len(tokens)] == tokens
        assert len(tokens) == 6 or predicted[len(tokens)] == EOS


def test_transformer_seq2seq_masks_the_source_padding():
    batch = ReverseTask(2, 6).dataset(5, seed=8).batch()
    m = TransformerSeq2Seq(V, V, d_model=8, nhead=2)
    logits = m(batch.src, batch.src_lengths, batch.tgt_in)
    assert logits.shape == batch.tgt_in.shape + (V,)
    w = m.last_alignment
    assert w.shape == (5, batch.tgt_in.shape[0], batch.src.shape[0])
    assert np.all(w[np.broadcast_to(batch.src_padding_mask[:, None, :], w.shape)] == 0)
    # the padding's content cannot matter
    src2 = batch.src.copy()
    src2[batch.src_padding_mask.T] = 7
    np.testing.assert_array_equal(m(src2, batch.src_lengths, batch.tgt_in).data, logits.data)


# --------------------------------------------------------------------------- a short training run


def test_short_training_run_learns_to_reverse():
    """Bahdanau attention learns to reverse digit strings of length 3–8 in a few hundred small steps.

    Stated accuracy: ≥ 90 % exact match on unseen strings after 250 steps (≥ 40 % after 100 with TGS_FAST=1),
    and the largest attention weight within one position of the true source position for ≥ 90 % of the
    symbols (≥ 50 % fast; "within one" because bidirectional annotations also carry their neighbours).
    """
    tg.manual_seed(0)
    task = ReverseTask(3, 8)
    train = task.dataset(2000, seed=0)
    test = task.dataset(200, seed=1, exclude=train)
    model = AttentionSeq2Seq(V, V, 16, 24, attention="additive")
    steps, bar, align_bar = (100, 0.4, 0.5) if FAST else (250, 0.9, 0.9)
    start = time.perf_counter()
    train_translation(model, train, steps=steps, batch_size=32, lr=1e-2)
    acc = evaluate_translation(model, test)
    batch = test.batch(range(50))
    model.eval()
    with tg.no_grad():
        model(batch.src, batch.src_lengths, batch.tgt_in)
    align, _ = alignment_accuracy(model.last_alignment, task, batch.pairs, tolerance=1)
    seconds = time.perf_counter() - start
    assert acc >= bar, f"exact match {acc:.2f} after {steps} steps ({seconds:.0f} s)"
    assert align >= align_bar, f"alignment within one position {align:.2f}"


def test_lr_schedule_sets_the_rate_of_every_update():
    """``lr_schedule(step)`` scales the learning rate: a factor of 0 for every step leaves the weights as they were."""
    task = ReverseTask(3, 5)
    data = task.dataset(64, seed=0)
    model = AttentionSeq2Seq(V, V, 8, 8, attention="dot")
    before = [p.data.copy() for p in model.parameters()]
    seen = []
    train_translation(model, data, steps=3, batch_size=16, lr_schedule=lambda step: seen.append(step) or 0.0)
    assert seen == [0, 1, 2]
    assert all(np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))
    train_translation(model, data, steps=1, batch_size=16, lr_schedule=lambda step: 1.0)
    assert not all(np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))
