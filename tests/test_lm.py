"""CharLM: parity with the same model in PyTorch, carried state, evaluation, sampling, loading from checkpoints."""

import math

import numpy as np
import pytest
import torch

import tinygrad_seq as tg
from tinygrad_seq import nn
from tinygrad_seq.checkpoint import CheckpointError, save_checkpoint
from tinygrad_seq.data import Vocab, default_corpus
from tinygrad_seq.lm import CharLM, _draw, evaluate, hello_example, load_charlm, sample
from tinygrad_seq.train import TrainConfig, Trainer

V = 7


class TorchCharLM(torch.nn.Module):
    """The same architecture in PyTorch, to load our weights into."""

    def __init__(self, kind, vocab_size, hidden, layers, embedding_dim):
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = torch.nn.Embedding(vocab_size, embedding_dim) if embedding_dim else None
        cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
        self.rnn = cls(embedding_dim or vocab_size, hidden, layers, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab_size)

    def forward(self, idx, state=None):
        x = self.embedding(idx) if self.embedding is not None else torch.nn.functional.one_hot(idx, self.vocab_size)
        out, state = self.rnn(x.double(), state)
        return self.head(out), state


@pytest.mark.parametrize("kind,layers,embedding_dim,cell", [
    ("lstm", 1, None, "fused"), ("lstm", 2, 5, "composite"), ("gru", 1, 4, "fused"), ("rnn", 2, None, "fused"),
])
def test_logits_and_gradients_match_pytorch(float64, kind, layers, embedding_dim, cell):
    model = CharLM(V, hidden_size=6, num_layers=layers, model=kind, embedding_dim=embedding_dim, cell=cell)
    ref = TorchCharLM(kind, V, 6, layers, embedding_dim).double()
    ref.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, V, (3, 9)), rng.integers(0, V, (3, 9))
    logits, _ = model(x)
    weights = rng.standard_normal(logits.shape)
    (((logits + 1) ** 2) * tg.Tensor(weights)).sum().backward()
    loss, _ = model.loss(x, y)
    loss.backward()
    logits_t, _ = ref(torch.tensor(x))
    (((logits_t + 1) ** 2) * torch.tensor(weights)).sum().backward()
    loss_t = torch.nn.functional.cross_entropy(ref(torch.tensor(x))[0].reshape(-1, V), torch.tensor(y).reshape(-1))
    loss_t.backward()
    np.testing.assert_allclose(logits.data, logits_t.detach().numpy(), rtol=1e-12, atol=1e-13)
    assert abs(loss.item() - loss_t.item()) < 1e-12
    for name, p in ref.named_parameters():
        ours = dict(model.named_parameters())[name].grad.data
        np.testing.assert_allclose(ours, p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_carried_state_continues_the_sequence(float64, kind):
    model = CharLM(V, hidden_size=5, num_layers=2, model=kind)
    x = np.random.default_rng(1).integers(0, V, (2, 12))
    whole, _ = model(x)
    a, state = model(x[:, :5])
    b, _ = model(x[:, 5:], state)
    np.testing.assert_allclose(np.concatenate([a.data, b.data], 1), whole.data, rtol=1e-12, atol=1e-14)


def test_config_round_trip_and_errors():
    model = CharLM(V, hidden_size=4, num_layers=2, model="gru", embedding_dim=3, dropout=0.1).double()
    again = CharLM.from_config(model.config)
    assert again.config == model.config and again.dtype == np.float64
    assert [k for k, _ in again.named_parameters()] == [k for k, _ in model.named_parameters()]
    with pytest.raises(ValueError, match="model must be one of"):
        CharLM(V, model="transformer")
    with pytest.raises(ValueError, match=r"expected \(batch, time\) integer ids"):
        model(np.zeros((2, 3)))
    with pytest.raises(IndexError, match=r"ids must lie in \[0, 7\)"):
        CharLM(V)(np.array([[0, 7]]))


def test_evaluate_bits_per_character(float64):
    model = CharLM(V, hidden_size=5)
    ids = np.random.default_rng(2).integers(0, V, 101)
    whole = evaluate(model, ids, batch_size=1, seq_len=100)
    chunked = evaluate(model, ids, batch_size=1, seq_len=20)  # the state is carried: same numbers
    assert whole["chars"] == chunked["chars"] == 100
    assert chunked["loss"] == pytest.approx(whole["loss"], rel=1e-12)
    logits, _ = model(ids[None, :-1])
    direct = -np.mean(np.take_along_axis(tg.functional.log_softmax(logits, -1).data[0], ids[1:, None], 1))
    assert whole["loss"] == pytest.approx(direct, rel=1e-12)
    assert whole["bpc"] == pytest.approx(whole["loss"] / math.log(2))
    assert whole["perplexity"] == pytest.approx(math.exp(whole["loss"]))
    # a model that predicts the uniform distribution scores exactly log2(V) bits
    model.head.weight.data[:] = 0
    model.head.bias.data[:] = 0
    assert evaluate(model, ids)["bpc"] == pytest.approx(math.log2(V), rel=1e-12)
    assert model.training, "evaluate must restore training mode"


def _trained_hello():
    from tinygrad_seq import optim

    vocab, x, y = hello_example()
    model = CharLM(4, hidden_size=8, model="lstm")
    opt = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        model.loss(x, y)[0].backward()
        opt.step()
    return vocab, model


def test_hello_example():
    vocab, x, y = hello_example()
    assert vocab.itos == ["h", "e", "l", "o"]
    assert x.tolist() == [[0, 1, 2, 2]] and y.tolist() == [[1, 2, 2, 3]]
    vocab, model = _trained_hello()
    assert sample(model, vocab, length=4, prime="h", temperature=0) == "ello"


def test_sampling_is_seedable_and_respects_top_k():
    vocab = Vocab.from_text("abcdefgh \n")
    model = CharLM(len(vocab), hidden_size=6)
    a = sample(model, vocab, 60, prime="ab", seed=3)
    assert a == sample(model, vocab, 60, prime="ab", seed=3) and len(a) == 60
    assert a != sample(model, vocab, 60, prime="ab", seed=4)
    assert sample(model, vocab, 0, prime="ab") == ""
    # greedy: temperature 0 and top_k=1 both take the argmax at every step
    greedy = sample(model, vocab, 20, prime="ab", temperature=0)
    assert greedy == sample(model, vocab, 20, prime="ab", top_k=1, seed=9)
    logits, _ = model(vocab.encode("ab" + greedy)[None, :])
    assert vocab.decode(logits.data[0, 1:-1].argmax(-1)) == greedy
    # top_k=2: every character drawn was among the two most likely at its step
    text = sample(model, vocab, 40, prime="ab", top_k=2, temperature=5.0, seed=0)
    logits, _ = model(vocab.encode("ab" + text)[None, :])
    ranks = (logits.data[0, 1:-1] > logits.data[0, 1:-1][np.arange(40), vocab.encode(text)][:, None]).sum(-1)
    assert ranks.max() <= 1 and len(set(text)) > 1


def test_draw_follows_the_tempered_softmax():
    logits = np.array([2.0, 1.0, 0.0, -1.0])
    rng = np.random.default_rng(0)
    for temperature, top_k in [(1.0, None), (0.5, None), (2.0, 3)]:
        z = logits / temperature
        if top_k:
            z[np.argsort(logits)[:-top_k]] = -np.inf
        p = np.exp(z - z.max())
        p /= p.sum()
        n = 8_000
        counts = np.bincount([_draw(logits, temperature, top_k, rng) for _ in range(n)], minlength=4)
        assert np.all(np.abs(counts / n - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-9), (temperature, counts / n, p)


def test_sampling_errors():
    vocab = Vocab.from_text("abc")
    model = CharLM(3, hidden_size=4)
    with pytest.raises(ValueError, match=r"'z' \(U\+007A\) is not in the vocabulary"):
        sample(model, vocab, 5, prime="az")
    with pytest.raises(ValueError, match="temperature"):
        sample(model, vocab, 5, temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        sample(model, vocab, 5, top_k=0)
    with pytest.raises(ValueError, match="length"):
        sample(model, vocab, -5)
    with pytest.raises(ValueError, match="the model predicts 3"):
        sample(model, Vocab.from_text("abcd"), 5)


def test_load_charlm_from_a_training_checkpoint(tmp_path):
    text = default_corpus()[:800]
    trainer = Trainer(TrainConfig(hidden_size=8, batch_size=2, seq_len=8, steps=3, eval_every=3, model="gru",
                                  embedding_dim=4), text)
    trainer.run(checkpoint_path=tmp_path / "run.npz")
    model, vocab, ckpt = load_charlm(tmp_path / "run.npz")
    assert vocab == trainer.vocab and ckpt.step == 3 and model.config == trainer.model.config
    assert not model.training
    x = vocab.encode(text[:20])[None, :]
    np.testing.assert_array_equal(model(x)[0].data, trainer.model(x)[0].data)
    assert sample(model, vocab, 30, seed=1) == sample(trainer.model, vocab, 30, seed=1)

    other = tmp_path / "other.npz"
    save_checkpoint(other, model=nn.Linear(2, 2))
    with pytest.raises(CheckpointError, match="not saved from a character language model"):
        load_charlm(other)
