"""A small generated image-captioning task, and training "show, attend and tell" on it in seconds.

    >>> task = ShapesTask()                     # 40 × 40 RGB images: a 4 × 4 grid of 10 × 10 cells
    >>> train = task.dataset(3000, seed=0)
    >>> batch = train.batch(range(4))
    >>> batch.images.shape, batch.tgt_in.shape  # (4, 3, 40, 40), (T, 4)
    >>> task.vocab.decode(batch.captions[0])    # 'green triangle red square blue circle'
    >>> model = nn.ShowAttendTell(len(task.vocab), attention="soft")
    >>> train_captioning(model, train, steps=500)
    >>> evaluate_captioning(model, test)        # {'exact': ..., 'words': ...}

Each image holds 2–3 shapes (square, circle, triangle) in 3 colours (red, green, blue), each drawn
inside one cell of the grid, no two in the same column, with a little jitter, varying brightness and
noise.  The caption names them from left to right, colour then shape.  Every word of a caption comes
from one object, whose cell is known (``Batch.cells``): the true "alignment", with which
``attention_accuracy`` measures whether a model looks at the object it is naming.

Captions are time major, as the translation tasks: tgt_in (T, N) = BOS w(1) … w(m),
tgt_out (T, N) = w(1) … w(m) EOS, padded with PAD; ids 0, 1, 2 are PAD, BOS, EOS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import functional as F
from .autograd import no_grad
from .nn.attention import MovingAverageBaseline, reinforce_loss
from .nn.seq2seq_attention import BOS, EOS, PAD
from .tasks import Vocabulary, exact_match
from .train import train_for

__all__ = [
    "COLOURS", "SHAPES", "WordVocabulary", "Batch", "CaptionData", "ShapesTask", "train_captioning",
    "evaluate_captioning", "attention_accuracy",
]

COLOURS = {"red": 0, "green": 1, "blue": 2}  # the RGB channel each colour is drawn in
SHAPES = ("square", "circle", "triangle")


class WordVocabulary(Vocabulary):
    """Words ↔ ids; ids 0, 1, 2 are PAD, BOS and EOS.  ``encode("red square")``, ``decode([3, 6])``."""

    def encode(self, text) -> list[int]:
        return super().encode(text.split() if isinstance(text, str) else text)

    def decode(self, ids) -> str:
        return " ".join(self.itos[i] for i in ids if i > EOS)


def shape_mask(shape, size):
    """(size, size) bool: a filled square, disc or upward triangle that fills most of the cell."""
    r = np.arange(size) + 0.5
    y, x = np.meshgrid(r, r, indexing="ij")
    m = size / 2
    if shape == "square":
        return (np.abs(x - m) <= 0.4 * size) & (np.abs(y - m) <= 0.4 * size)
    if shape == "circle":
        return (x - m) ** 2 + (y - m) ** 2 <= (0.48 * size) ** 2
    if shape == "triangle":  # apex at the top, base at the bottom
        top, bottom = 0.1 * size, 0.9 * size
        half_width = 0.45 * size * (y - top) / (bottom - top)
        return (y >= top) & (y <= bottom) & (np.abs(x - m) <= half_width)
    raise ValueError(f"unknown shape {shape!r}; choose one of {SHAPES}")


@dataclass
class Batch:
    """images (N, 3, H, W); tgt_in, tgt_out (T, N); cells (N, T): the grid cell of the object word t
    names (−1 at EOS and padding); captions: the N word-id lists (without BOS/EOS)."""

    images: np.ndarray
    tgt_in: np.ndarray
    tgt_out: np.ndarray
    cells: np.ndarray
    captions: list


class CaptionData:
    """A fixed set of images with their captions and the cell of every word."""

    def __init__(self, task, images, captions, cells):
        self.task, self.images, self.captions, self.cells = task, images, list(captions), list(cells)

    def __len__(self):
        return len(self.captions)

    def batch(self, indices=None) -> Batch:
        """The images at ``indices`` (all of them by default) with their padded, time-major captions."""
        idx = list(range(len(self))) if indices is None else list(indices)
        T = max(len(self.captions[i]) for i in idx) + 1
        tgt_in = np.full((T, len(idx)), PAD, np.int64)
        tgt_out = np.full((T, len(idx)), PAD, np.int64)
        cells = np.full((len(idx), T), -1, np.int64)
        for b, i in enumerate(idx):
            words = self.captions[i]
            tgt_in[: len(words) + 1, b] = [BOS, *words]
            tgt_out[: len(words) + 1, b] = [*words, EOS]
            cells[b, : len(words)] = self.cells[i]
        return Batch(self.images[idx], tgt_in, tgt_out, cells, [self.captions[i] for i in idx])

    def batches(self, batch_size, seed=None, shuffle=True):
        """Batches covering the data once (the last may be smaller), in a random order unless shuffle=False."""
        order = np.arange(len(self))
        if shuffle:
            np.random.default_rng(seed).shuffle(order)
        for i in range(0, len(order), batch_size):
            yield self.batch(order[i:i + batch_size])


class ShapesTask:
    """Images of 2–3 coloured shapes on a grid, captioned from left to right ("red square blue circle").

    ShapesTask(grid_size=4, cell_size=10, min_objects=2, max_objects=3, noise=0.05)
    Objects sit in distinct columns (so "left to right" is never ambiguous), each at a random row,
    shifted by up to one pixel, with a brightness in [0.6, 1]; Gaussian noise of std ``noise`` is added.
    """

    def __init__(self, grid_size=4, cell_size=10, min_objects=2, max_objects=3, noise=0.05):
        if not 1 <= min_objects <= max_objects <= grid_size:
            raise ValueError(f"ShapesTask: need 1 ≤ min_objects ≤ max_objects ≤ grid_size ({grid_size}), "
                             f"got {min_objects}, {max_objects}")
        self.grid_size, self.cell_size = grid_size, cell_size
        self.min_objects, self.max_objects, self.noise = min_objects, max_objects, noise
        self.vocab = WordVocabulary(list(COLOURS) + list(SHAPES))
        self.masks = {s: shape_mask(s, cell_size - 2) for s in SHAPES}  # a 1-pixel margin for the jitter

    @property
    def image_size(self):
        return self.grid_size * self.cell_size

    def sample(self, rng):
        """One image (3, H, W), its objects [(colour, shape, row, column)] from left to right."""
        G, c = self.grid_size, self.cell_size
        n = int(rng.integers(self.min_objects, self.max_objects + 1))
        columns = np.sort(rng.choice(G, size=n, replace=False))
        image = np.zeros((3, G * c, G * c))
        objects = []
        for col in columns:
            row = int(rng.integers(G))
            colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
            dy, dx = rng.integers(0, 3, size=2)  # the mask is 2 pixels smaller than the cell
            y0, x0 = row * c + dy, col * c + dx
            m = self.masks[shape]
            image[COLOURS[colour], y0:y0 + m.shape[0], x0:x0 + m.shape[1]] += m * rng.uniform(0.6, 1.0)
            objects.append((str(colour), str(shape), row, int(col)))
        image += self.noise * rng.standard_normal(image.shape)
        return image, objects

    def caption(self, objects) -> str:
        return " ".join(f"{colour} {shape}" for colour, shape, _, _ in objects)

    def dataset(self, n, seed=0, dtype=np.float32) -> CaptionData:
        """n images from a generator seeded by ``seed``, with their captions and word cells."""
        rng = np.random.default_rng(seed)
        images, captions, cells = [], [], []
        for _ in range(n):
            image, objects = self.sample(rng)
            images.append(image)
            captions.append(self.vocab.encode(self.caption(objects)))
            cells.append([row * self.grid_size + col for _, _, row, col in objects for _ in range(2)])
        return CaptionData(self, np.stack(images).astype(dtype), captions, cells)


# --------------------------------------------------------------------------- training and scores


def _word_nll(logits, tgt_out):
    """−log p of every target word (T, N), 0 at PAD, as an array: the costs REINFORCE needs (no gradient)."""
    z = logits.data - logits.data.max(-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    T, N = tgt_out.shape
    return -log_p[np.arange(T)[:, None], np.arange(N)[None, :], tgt_out] * (tgt_out != PAD)


def train_captioning(model, data, steps=None, seconds=None, batch_size=32, lr=1e-2, clip=1.0, lr_schedule=None,
                     credit="word", baseline_momentum=0.9, log=None):
    """Adam on the teacher-forced cross-entropy of the captions; REINFORCE too when the model samples.

    Soft attention (or none) is trained by backpropagation alone.  Hard attention's sampled places
    have no derivative; its score learns from the REINFORCE surrogate of ``nn.attention.reinforce_loss``
    (cost − b) log α(t, s(t)), added to the loss, with a moving-average baseline b.  ``credit`` says which
    cost each sampled place is charged with:

        "caption"   cost = −log p(whole caption | the places drawn), the same for every step (Xu et al. 2015)
        "word"      cost(t) = −log p(word t | …): only the word written with the place drawn at step t,
                    with a baseline of its own for each t.  Much less variance (one word's noise instead
                    of the whole caption's); biased, since a place also affects later words through h(t).

    ``lr_schedule(step)`` scales the rate as in ``translation.train_translation``; ``log(step, loss)`` is
    called every 50 steps.  Returns {"steps", "seconds", "loss"} (the mean cross-entropy of the last 20 steps).
    """
    if credit not in ("word", "caption"):
        raise ValueError(f"train_captioning: credit must be 'word' or 'caption', got {credit!r}")
    baselines = {}

    def objective(batch):
        logits = model(batch.images, batch.tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.tgt_out.reshape(-1), ignore_index=PAD)
        if model.last_log_prob is None:  # soft attention (or none): backpropagation alone
            return loss, loss
        # hard attention: the places were sampled
        nll = _word_nll(logits, batch.tgt_out)  # (T, N)
        taken = batch.tgt_out != PAD  # the steps each caption really has; padding's samples do not count
        log_prob = model.last_log_prob * taken.T.astype(logits.dtype)  # (N, T)
        if credit == "caption":
            cost = nll.sum(0)
            b = baselines.setdefault(0, MovingAverageBaseline(baseline_momentum)).update(cost)
            surrogate = reinforce_loss(log_prob, cost, b)
        else:
            surrogate = 0
            for t in range(nll.shape[0]):
                b = baselines.setdefault(t, MovingAverageBaseline(baseline_momentum)).update(nll[t][taken[t]])
                surrogate = surrogate + reinforce_loss(log_prob[:, t], nll[t], b)
        return loss, loss + surrogate / taken.sum(0).mean()  # per word, as the cross-entropy

    return train_for(model, data, objective, steps, seconds, batch_size, lr, clip, log, lr_schedule,
                     who="train_captioning")


def evaluate_captioning(model, data, batch_size=256):
    """Greedy captions scored against the truth: {"exact": share of captions entirely right,
    "words": share of caption words right at their position}."""
    model.eval()
    predictions, targets = [], []
    for batch in data.batches(batch_size, shuffle=False):
        predictions += model.greedy_decode(batch.images, max_len=batch.tgt_out.shape[0] + 1)
        targets += batch.captions
    model.train()
    right = sum(sum(int(i < len(p) and p[i] == w) for i, w in enumerate(t)) for p, t in zip(predictions, targets))
    return {"exact": exact_match(predictions, targets), "words": right / sum(len(t) for t in targets)}


def attention_accuracy(model, data, batch_size=256):
    """Does the model look at the object it names?  Teacher forced on the true captions:
    (share of words whose largest attention weight is on their object's cell, mean weight on that cell).
    EOS and padding are left out.  For hard attention α is the distribution the places are drawn from."""
    model.eval()
    hits = mass = count = 0
    for batch in data.batches(batch_size, shuffle=False):
        with no_grad():
            model(batch.images, batch.tgt_in)
        alpha = model.last_alignment  # (N, T, L)
        if alpha is None:
            raise ValueError("attention_accuracy: the model has no attention (last_alignment is None)")
        n, t = np.nonzero(batch.cells >= 0)
        cell = batch.cells[n, t]
        hits += int((alpha[n, t].argmax(-1) == cell).sum())
        mass += float(alpha[n, t, cell].sum())
        count += len(cell)
    model.train()
    return hits / count, mass / count
