"""Show, attend and tell: the generated shapes task, the captioning model against a numpy forward, gradients."""

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import nn
from tinygrad_seq.captions import (
    COLOURS,
    SHAPES,
    ShapesTask,
    attention_accuracy,
    evaluate_captioning,
    shape_mask,
    train_captioning,
)
from tinygrad_seq.nn.seq2seq_attention import BOS, EOS, PAD

# --------------------------------------------------------------------------- the data


def test_images_show_their_captions_left_to_right():
    task = ShapesTask()
    data = task.dataset(40, seed=3)
    c, G = task.cell_size, task.grid_size
    for image, words, cells in zip(data.images, data.captions, data.cells):
        text = task.vocab.decode(words).split()
        assert len(text) == len(cells) and 4 <= len(text) <= 6
        columns = [cell % G for cell in cells[::2]]
        assert columns == sorted(columns) and len(set(columns)) == len(columns), "objects left to right, one a column"
        for k in range(0, len(text), 2):
            colour, shape = text[k], text[k + 1]
            assert colour in COLOURS and shape in SHAPES and cells[k] == cells[k + 1]
            row, col = divmod(cells[k], G)
            patch = image[:, row * c:(row + 1) * c, col * c:(col + 1) * c]
            lit = patch > 0.4  # the shape's pixels (brightness ≥ 0.6; noise std 0.05)
            assert lit[COLOURS[colour]].sum() == shape_mask(shape, c - 2).sum(), f"{colour} {shape} in cell {cells[k]}"
            assert lit.sum() == lit[COLOURS[colour]].sum(), "only the named colour's channel is lit"
        empty = np.ones((G, G), bool)
        empty.flat[cells] = False
        for cell in np.flatnonzero(empty):
            row, col = divmod(cell, G)
            assert (image[:, row * c:(row + 1) * c, col * c:(col + 1) * c] < 0.4).all(), "a cell without an object"


def test_shapes_differ_and_data_is_reproducible():
    masks = [shape_mask(s, 8) for s in SHAPES]
    assert all((a != b).any() for i, a in enumerate(masks) for b in masks[i + 1:])
    task = ShapesTask()
    a, b = task.dataset(5, seed=1), task.dataset(5, seed=1)
    assert np.array_equal(a.images, b.images) and a.captions == b.captions
    assert task.vocab.encode(task.vocab.decode(a.captions[0])) == a.captions[0]
    with pytest.raises(ValueError, match="max_objects"):
        ShapesTask(grid_size=2, max_objects=3)


def test_batch_is_padded_time_major():
    data = ShapesTask().dataset(6, seed=2)
    batch = data.batch()
    T = max(len(c) for c in data.captions) + 1
    assert batch.images.shape == (6, 3, 40, 40) and batch.tgt_in.shape == batch.tgt_out.shape == (T, 6)
    for b, words in enumerate(data.captions):
        assert batch.tgt_in[: len(words) + 1, b].tolist() == [BOS, *words]
        assert batch.tgt_out[: len(words) + 1, b].tolist() == [*words, EOS]
        assert (batch.tgt_out[len(words) + 1:, b] == PAD).all()
        assert (batch.cells[b, len(words):] == -1).all() and batch.cells[b, : len(words)].tolist() == data.cells[b]


# --------------------------------------------------------------------------- the model against numpy


def numpy_forward(model, images, tgt_in):
    """The equations of nn/captioning.py's docstring, written again with numpy loops and no engine."""
    P = {name: p.data for name, p in model.named_parameters()}
    enc, dec = model.encoder, model.decoder
    (rows, cols), p = enc.grid_size, enc.patch_size
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    N = images.shape[0]
    a = np.zeros((N, rows * cols, enc.feature_size))
    for n in range(N):
        for r in range(rows):
            for c in range(cols):
                x = images[n, :, r * p:(r + 1) * p, c * p:(c + 1) * p].reshape(-1)
                z = P["encoder.patch.weight"] @ x + P["encoder.patch.bias"]
                if enc.position is not None:
                    z = z + P["encoder.position"][r * cols + c]
                a[n, r * cols + c] = np.tanh(z)
    mean = a.mean(1)
    h = np.tanh(mean @ P["decoder.init_h.weight"].T + P["decoder.init_h.bias"])
    c = np.tanh(mean @ P["decoder.init_c.weight"].T + P["decoder.init_c.bias"])
    H = h.shape[1]
    logits, alphas = [], []
    for t in range(tgt_in.shape[0]):
        e_y = P["decoder.embedding.weight"][tgt_in[t]]
        if dec.attention is None:
            z = mean
        else:
            s = "decoder.attention.score."
            hidden = np.tanh((h @ P[s + "W_a.weight"].T)[:, None, :]
                             + a @ P[s + "U_a.weight"].T + P[s + "U_a.bias"])
            scores = hidden @ P[s + "v_a.weight"][0]  # (N, L)
            alpha = np.exp(scores - scores.max(1, keepdims=True))
            alpha /= alpha.sum(1, keepdims=True)
            alphas.append(alpha)
            if dec.attention_kind == "soft":
                z = np.einsum("nl,nld->nd", alpha, a)
            else:  # hard attention in eval mode: the most likely place
                z = a[np.arange(N), alpha.argmax(1)]
        gates = (np.concatenate([e_y, z], 1) @ P["decoder.lstm.weight_ih"].T + P["decoder.lstm.bias_ih"]
                 + h @ P["decoder.lstm.weight_hh"].T + P["decoder.lstm.bias_hh"])
        i, f, g, o = (gates[:, k * H:(k + 1) * H] for k in range(4))  # PyTorch's gate order
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        deep = np.tanh(e_y + h @ P["decoder.out_h.weight"].T + P["decoder.out_h.bias"]
                       + z @ P["decoder.out_z.weight"].T)
        logits.append(deep @ P["decoder.out.weight"].T + P["decoder.out.bias"])
    return np.stack(logits), (np.stack(alphas, 1) if alphas else None)


def small_model(attention, position=True):
    return nn.ShowAttendTell(9, patch_size=10, grid_size=4, feature_size=6, embedding_dim=5, hidden_size=7,
                             attention=attention, attention_dim=4, position=position)


@pytest.mark.parametrize("attention", ["soft", "hard", None])
def test_forward_agrees_with_numpy(float64, attention):
    batch = ShapesTask().dataset(3, seed=4, dtype=np.float64).batch()
    model = small_model(attention, position=attention != "hard")
    model.eval()  # hard attention then takes the most likely place instead of a sample
    logits = model(batch.images, batch.tgt_in)
    expected, alpha = numpy_forward(model, batch.images, batch.tgt_in)
    assert logits.shape == expected.shape == (batch.tgt_in.shape[0], 3, 9)
    np.testing.assert_allclose(logits.data, expected, rtol=0, atol=1e-12)
    if attention is None:
        assert model.last_alignment is None
    else:
        np.testing.assert_allclose(model.last_alignment, alpha, rtol=0, atol=1e-12)
        np.testing.assert_allclose(model.last_alignment.sum(-1), 1, atol=1e-12)


@pytest.mark.parametrize("attention", ["soft", None])
def test_gradcheck(float64, attention):
    """Every parameter, through the patches, the attention, the LSTM and the deep output (2 × 2 cells of 3 pixels)."""
    batch = ShapesTask(grid_size=2, cell_size=3, max_objects=2).dataset(2, seed=5, dtype=np.float64).batch()
    model = nn.ShowAttendTell(9, patch_size=3, grid_size=2, feature_size=3, embedding_dim=2, hidden_size=3,
                              attention=attention, attention_dim=2)
    assert tg.gradcheck(lambda *ps: model(batch.images, batch.tgt_in), list(model.parameters()))


def test_hard_attention_samples_one_place_and_learns_by_reinforce(float64):
    batch = ShapesTask().dataset(4, seed=6, dtype=np.float64).batch()
    model = small_model("hard")
    logits = model(batch.images, batch.tgt_in)
    alpha, log_prob = model.last_alignment, model.last_log_prob
    T = batch.tgt_in.shape[0]
    assert alpha.shape == (4, T, 16) and log_prob.shape == (4, T)
    assert (log_prob.data <= 0).all() and np.all(np.exp(log_prob.data) <= alpha.max(-1) + 1e-12)
    # the pathwise loss alone gives the score no gradient: the place was sampled
    model.zero_grad()
    logits.sum().backward(retain_graph=True)
    score = model.decoder.attention.score
    assert all(p.grad is None or not p.grad.data.any() for p in score.parameters())
    # REINFORCE does
    model.zero_grad()
    (log_prob.sum(-1) * tg.tensor(np.arange(4.0))).mean().backward()
    assert all(p.grad is not None and p.grad.data.any() for p in score.parameters())


def test_greedy_decoding_agrees_with_teacher_forcing_on_its_own_output():
    batch = ShapesTask().dataset(3, seed=7).batch()
    model = small_model("soft")
    model.eval()
    decoded = model.greedy_decode(batch.images, max_len=6)
    assert len(decoded) == 3
    for b, tokens in enumerate(decoded):
        tgt_in = np.array([BOS, *tokens])[:, None]
        predicted = model(batch.images[b:b + 1], tgt_in).data[:, 0].argmax(-1).tolist()
        assert predicted[: len(tokens)] == tokens
        assert len(tokens) == 6 or predicted[len(tokens)] == EOS


def test_bad_input_is_named():
    model = small_model("soft")
    with pytest.raises(ValueError, match=r"PatchEncoder.*\(N, 3, 40, 40\)"):
        model(np.zeros((2, 3, 32, 32)), np.full((3, 2), BOS))
    with pytest.raises(ValueError, match="CaptionDecoder.*tgt_in"):
        model(np.zeros((2, 3, 40, 40)), np.full((3, 5), BOS))
    with pytest.raises(ValueError, match="attention must be one of"):
        nn.CaptionDecoder(9, 6, attention="local")


# --------------------------------------------------------------------------- training and scores


def test_scores_and_a_few_training_steps():
    task = ShapesTask()
    data = task.dataset(64, seed=8)
    model = small_model("hard")
    score = [p.data.copy() for p in model.decoder.attention.score.parameters()]
    stats = train_captioning(model, data, steps=3, batch_size=16, lr_schedule=lambda step: 1.0)
    assert stats["steps"] == 3 and np.isfinite(stats["loss"])
    moved = [not np.array_equal(a, p.data) for a, p in zip(score, model.decoder.attention.score.parameters())]
    assert all(moved), "REINFORCE should move the hard attention's score"
    scores = evaluate_captioning(model, data)
    assert 0 <= scores["exact"] <= scores["words"] <= 1
    hits, mass = attention_accuracy(model, data)
    assert 0 <= hits <= 1 and 0 <= mass <= 1
    with pytest.raises(ValueError, match="no attention"):
        attention_accuracy(small_model(None), data)


def test_attention_accuracy_of_an_oracle():
    """A stand-in model whose attention is exactly on the named object scores 1; a uniform one 1/16."""
    data = ShapesTask().dataset(10, seed=9)

    class Oracle:
        def __init__(self, uniform):
            self.uniform = uniform

        def eval(self):
            pass

        def train(self):
            pass

        def __call__(self, images, tgt_in):
            batch = data.batch(range(len(images)))
            alpha = np.zeros((len(images), tgt_in.shape[0], 16))
            n, t = np.nonzero(batch.cells >= 0)
            alpha[n, t, batch.cells[n, t]] = 1
            self.last_alignment = np.full_like(alpha, 1 / 16) if self.uniform else alpha

    assert attention_accuracy(Oracle(False), data) == (1.0, 1.0)
    assert attention_accuracy(Oracle(True), data)[1] == pytest.approx(1 / 16)
