"""A character-level language model: read characters, predict the next one.

    >>> vocab = Vocab.from_text(text)
    >>> model = CharLM(len(vocab), hidden_size=128, model="lstm")
    >>> logits, state = model(vocab.encode("def f(x):")[None, :])      # (1, 9, V), the LSTM's (h, c)
    >>> evaluate(model, vocab.encode(held_out))["bpc"]                   # bits per character
    >>> sample(model, vocab, length=200, prime="def ", temperature=0.8, top_k=10, seed=0)

The model is the one of the lecture: x(t) is a character (one-hot, or an
embedding), h(t) a recurrent state, o(t) = c + V h(t) the logits and
ŷ(t) = softmax(o(t)) the predicted distribution of the character x(t+1).
Training minimises the cross-entropy L = −(1/N) Σₜ log ŷ(t)[x(t+1)] (in
nats per character); bits per character are L / ln 2 and perplexity e^L.
A model that knows nothing scores log₂ V bits; English text compresses to
roughly 1–2 bits per character.

    CharLM                ids (B, T) → logits (B, T, V), carried state
    evaluate              loss, bits per character and perplexity on a text
    sample                text generated one character at a time, fed back
    hello_example         the lecture's "hello" toy: vocabulary [h, e, l, o]
    load_charlm           a model and its vocabulary from a checkpoint
"""

from __future__ import annotations

import math

import numpy as np

from . import functional as F
from .autograd import no_grad
from .checkpoint import CheckpointError, load_checkpoint
from .creation import default_rng
from .data import StreamBatches, Vocab
from .nn import Embedding, Linear, Module
from .nn.rnn import GRU, LSTM, RNN
from .tensor import Tensor

__all__ = ["CharLM", "evaluate", "sample", "hello_example", "load_charlm", "MODELS"]

MODELS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


class CharLM(Module):
    """Embedding or one-hot input → ``nn.RNN``/``nn.LSTM``/``nn.GRU`` → ``Linear`` to V logits.

        x (B, T) ids → e (B, T, E)  (E = V for one-hot input)
                     → h (B, T, H), state   (the recurrent layer, batch first)
                     → logits (B, T, V) = h Vᵀ + c

    ``state`` is what the recurrent layer returns: h_n (num_layers, B, H), or
    (h_n, c_n) for an LSTM.  Pass it back in to continue a text where the
    last chunk stopped (stateful training, sampling).  ``config`` holds the
    constructor arguments, so a checkpoint can rebuild the model.
    """

    def __init__(self, vocab_size, hidden_size=128, num_layers=1, model="lstm", embedding_dim=None, dropout=0.0,
                 cell="fused", grad_checkpoint_every=None):
        super().__init__()
        if model not in MODELS:
            raise ValueError(f"CharLM: model must be one of {sorted(MODELS)}, got {model!r}")
        if embedding_dim is not None and (not isinstance(embedding_dim, int) or embedding_dim <= 0):
            raise ValueError(f"CharLM: embedding_dim must be a positive int or None (one-hot), got {embedding_dim!r}")
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers
        self.kind, self.embedding_dim, self.dropout_p, self.cell = model, embedding_dim, float(dropout), cell
        self.embedding = Embedding(vocab_size, embedding_dim) if embedding_dim else None
        self.grad_checkpoint_every = grad_checkpoint_every
        self.rnn = MODELS[model](embedding_dim or vocab_size, hidden_size, num_layers, batch_first=True,
                                 dropout=dropout, cell=cell, grad_checkpoint_every=grad_checkpoint_every)
        self.head = Linear(hidden_size, vocab_size)

    @property
    def config(self) -> dict:
        """The constructor arguments (and the parameter dtype), as saved in checkpoints."""
        return dict(vocab_size=self.vocab_size, hidden_size=self.hidden_size, num_layers=self.num_layers,
                    model=self.kind, embedding_dim=self.embedding_dim, dropout=self.dropout_p, cell=self.cell,
                    dtype=str(self.dtype),
                    # (only when set: a memory setting, and configs saved before it existed stay equal)
                    **({} if self.grad_checkpoint_every is None
                       else {"grad_checkpoint_every": self.grad_checkpoint_every}))

    @classmethod
    def from_config(cls, config: dict) -> CharLM:
        args = {k: v for k, v in config.items() if k != "dtype"}
        model = cls(**args)
        return model.to(config.get("dtype", "float32"))

    @property
    def dtype(self):
        return self.head.weight.dtype

    def forward(self, idx, state=None):
        """idx: (B, T) integer ids → (logits (B, T, V), state)."""
        idx = np.asarray(idx)
        if idx.ndim != 2 or idx.dtype.kind not in "iu":
            raise ValueError(f"CharLM: expected (batch, time) integer ids, got {idx.dtype} array of shape {idx.shape}")
        if self.embedding is not None:
            x = self.embedding(idx)
        else:
            if idx.size and (idx.min() < 0 or idx.max() >= self.vocab_size):
                raise IndexError(f"CharLM: ids must lie in [0, {self.vocab_size}), got {idx.min()}..{idx.max()}")
            x = Tensor(np.eye(self.vocab_size, dtype=self.dtype)[idx])  # one-hot: a constant, no gradient
        out, state = self.rnn(x, state)
        return self.head(out), state

    def loss(self, idx, targets, state=None):
        """Mean cross-entropy (nats per character) of predicting ``targets`` (B, T); returns (loss, state)."""
        logits, state = self(idx, state)
        targets = np.asarray(targets)
        return F.cross_entropy(logits.reshape(-1, self.vocab_size), targets.reshape(-1)), state

    def extra_repr(self):
        kind = "one-hot" if self.embedding is None else "embedding"
        return f"model={self.kind!r}, vocab_size={self.vocab_size}, input={kind}"


def evaluate(model: CharLM, ids, batch_size: int = 16, seq_len: int = 128) -> dict:
    """Loss on a text the model did not train on: ``{"loss", "bpc", "perplexity", "chars"}``.

    The text is read as ``batch_size`` contiguous streams, ``seq_len`` steps at
    a time, with the state carried across chunks (as in training), without
    dropout and without recording a graph.  ``loss`` is in nats per character;
    ``bpc = loss / ln 2``; ``perplexity = e^loss``.  Short texts get fewer or
    shorter streams.
    """
    ids = np.asarray(ids)
    if len(ids) < 2:
        raise ValueError(f"evaluate: a text of {len(ids)} characters has nothing to predict")
    batch_size = max(1, min(batch_size, (len(ids) - 1) // 2))
    seq_len = max(1, min(seq_len, len(ids) // batch_size - 1))
    batches = StreamBatches(ids, batch_size, seq_len)
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    try:
        with no_grad():
            for x, y in batches:
                logits, state = model(x, state)
                nll = F.cross_entropy(logits.reshape(-1, model.vocab_size), y.reshape(-1), reduction="sum")
                total += float(nll.data)
                count += y.size
    finally:
        model.train(was_training)
    loss = total / count
    perplexity = math.exp(loss) if loss < 709 else math.inf  # a diverged model's loss overflows exp
    return {"loss": loss, "bpc": loss / math.log(2), "perplexity": perplexity, "chars": count}


def sample(model: CharLM, vocab: Vocab, length: int = 200, prime: str = "", temperature: float = 1.0,
           top_k: int | None = None, seed: int | None = None, rng: np.random.Generator | None = None) -> str:
    """Generate ``length`` characters, each drawn from the model and fed back as the next input.

    The model first reads ``prime`` (default: a newline, or the first character
    of the vocabulary if there is none), then repeatedly draws x(t+1) from
    softmax(o(t) / temperature), keeping only the ``top_k`` most likely
    characters if given.  A low temperature sharpens the distribution (more
    likely, more repetitive text); ``temperature=0`` always takes the most
    likely character.  ``seed`` (or a numpy Generator ``rng``) makes it
    repeatable; otherwise the generator of ``manual_seed`` is used.
    Returns only the generated characters (not the prime).
    """
    if not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"sample: length must be a whole number >= 0, got {length!r}")
    if not (temperature >= 0 and math.isfinite(temperature)):
        raise ValueError(f"sample: temperature must be a finite number >= 0, got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise ValueError(f"sample: top_k must be a positive whole number or None, got {top_k!r}")
    if len(vocab) != model.vocab_size:
        raise ValueError(f"sample: the vocabulary has {len(vocab)} characters, the model predicts {model.vocab_size}")
    if rng is None:
        rng = np.random.default_rng(seed) if seed is not None else default_rng()
    if not prime:
        prime = "\n" if "\n" in vocab else vocab.itos[0]
    ids = vocab.encode(prime)  # raises a clear error for characters the model never saw
    was_training = model.training
    model.eval()
    out = []
    try:
        with no_grad():
            logits, state = model(ids[None, :])
            for _ in range(length):
                nxt = _draw(logits.data[0, -1], temperature, top_k, rng)
                out.append(nxt)
                logits, state = model(np.array([[nxt]]), state)
    finally:
        model.train(was_training)
    return vocab.decode(out)


def _draw(logits, temperature, top_k, rng):
    """One index from softmax(logits / temperature) restricted to the top_k largest logits."""
    z = logits.astype(np.float64)
    if top_k is not None and top_k < len(z):
        kth = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= kth, z, -np.inf)
    if temperature == 0:
        return int(np.argmax(z))
    z = (z - z.max()) / temperature
    cdf = np.cumsum(np.exp(z))
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(z) - 1))


def hello_example():
    """The lecture's toy: vocabulary [h, e, l, o]; reading "hell", predict "ello".

    Returns ``(vocab, inputs, targets)`` with inputs ids [[0, 1, 2, 2]] and
    targets [[1, 2, 2, 3]], each of shape (1, 4).  Note that "l" must be
    followed once by "l" and once by "o": only the recurrent state, which
    remembers whether one "l" was already seen, can tell the two apart.
    """
    vocab = Vocab(["h", "e", "l", "o"])
    ids = vocab.encode("hello")
    return vocab, ids[None, :-1], ids[None, 1:]


def charlm_of_config(config: dict) -> CharLM:
    """The (untrained) model a char-LM checkpoint's ``config`` describes: what its weights must fit."""
    return CharLM.from_config(config["charlm"])


def load_charlm(path):
    """``(model, vocab, checkpoint)`` from a checkpoint written while training a ``CharLM``.

    Raises ``CheckpointError`` if the file is missing, corrupt, or not a
    character-model checkpoint.
    """
    ckpt = load_checkpoint(path, expect=charlm_of_config)
    config = ckpt.config.get("charlm")
    if not isinstance(config, dict) or ckpt.vocab is None:
        raise CheckpointError(f"checkpoint {ckpt.path!r} was not saved from a character language model")
    try:
        model = CharLM.from_config(config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {ckpt.path!r} describes a model that cannot be built: {e}") from None
    ckpt.restore(model)
    if len(ckpt.vocab) != model.vocab_size:
        raise CheckpointError(
            f"checkpoint {ckpt.path!r} is inconsistent: {len(ckpt.vocab)} characters but {model.vocab_size} outputs"
        )
    model.eval()
    return model, ckpt.vocab, ckpt
