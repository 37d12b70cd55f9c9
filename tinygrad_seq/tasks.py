"""Small synthetic translation tasks, generated on the spot, for training encoder–decoders in seconds.

    >>> task = ReverseTask(min_len=4, max_len=12)
    >>> train = task.dataset(2000, seed=0)
    >>> for batch in train.batches(64, seed=1):
    ...     logits = model(batch.src, batch.src_lengths, batch.tgt_in)               # (T, B, V)
    ...     loss = sequence_cross_entropy(logits, batch.tgt_out, ignore_index=PAD)

Every task maps a source string to a target string over one shared
vocabulary, and knows its *true alignment*: which source position each target
symbol comes from.  A trained attention model should find it on its own;
``alignment_accuracy`` measures how close its weights are.

    ReverseTask   "30571" → "17503"        target t comes from source S − 1 − t (the anti-diagonal)
    SortTask      "30571" → "01357"        no fixed alignment: each output digit is found by its value
    DateTask      "2024-03-17" → "17.03.2024"   a fixed permutation of the characters

Reversal is the classic test for why attention matters: a model without
attention must carry the whole string in its final state, and the first
target symbol depends on the last source symbol it read, the last one on the
first, so every symbol has to cross the whole sequence.

Batches are time major, as the recurrent layers: src (S, B) padded with PAD,
src_lengths (B,), tgt_in (T, B) = BOS y(1) … y(m) and tgt_out (T, B) = y(1) … y(m) EOS,
both padded with PAD (the loss ignores PAD targets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .nn.seq2seq_attention import BOS, EOS, PAD  # the models' conventions

__all__ = [
    "PAD", "BOS", "EOS", "Vocabulary", "Batch", "Seq2SeqData", "TranslationTask", "ReverseTask", "SortTask",
    "DateTask", "exact_match", "alignment_accuracy",
]

SPECIALS = ("<pad>", "<bos>", "<eos>")


class Vocabulary:
    """Symbols ↔ ids; ids 0, 1, 2 are PAD, BOS and EOS, the symbols follow."""

    def __init__(self, symbols):
        self.itos = list(SPECIALS) + list(symbols)
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def encode(self, text) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            raise ValueError(f"symbol {e.args[0]!r} is not in the vocabulary {self.itos[3:]}") from None

    def decode(self, ids) -> str:
        return "".join(self.itos[i] for i in ids if i > EOS)


@dataclass
class Batch:
    """One padded batch, time major: src (S, B), src_lengths (B,), tgt_in and tgt_out (T, B); and the raw pairs."""

    src: np.ndarray
    src_lengths: np.ndarray
    tgt_in: np.ndarray
    tgt_out: np.ndarray
    pairs: list

    @property
    def src_padding_mask(self):
        """(B, S) bool, True at padding: the ``key_padding_mask`` of an attention over the source."""
        return np.arange(self.src.shape[0])[None, :] >= self.src_lengths[:, None]


def make_batch(pairs) -> Batch:
    """Pad a list of (source ids, target ids) pairs into a time-major Batch."""
    B = len(pairs)
    S = max(len(s) for s, _ in pairs)
    T = max(len(t) for _, t in pairs) + 1
    src = np.full((S, B), PAD, np.int64)
    tgt_in = np.full((T, B), PAD, np.int64)
    tgt_out = np.full((T, B), PAD, np.int64)
    for b, (s, t) in enumerate(pairs):
        src[: len(s), b] = s
        tgt_in[: len(t) + 1, b] = [BOS, *t]
        tgt_out[: len(t) + 1, b] = [*t, EOS]
    lengths = np.array([len(s) for s, _ in pairs], np.int64)
    return Batch(src, lengths, tgt_in, tgt_out, list(pairs))


class Seq2SeqData:
    """A fixed list of (source ids, target ids) pairs of one task."""

    def __init__(self, task, pairs):
        self.task, self.pairs = task, list(pairs)

    def __len__(self):
        return len(self.pairs)

    def batches(self, batch_size, seed=None, shuffle=True):
        """Batches covering the data once (the last may be smaller), in a random order unless shuffle=False."""
        order = np.arange(len(self.pairs))
        if shuffle:
            np.random.default_rng(seed).shuffle(order)
        for i in range(0, len(order), batch_size):
            yield make_batch([self.pairs[j] for j in order[i:i + batch_size]])

    def batch(self, indices=None):
        """All the data (or the pairs at ``indices``) as one batch."""
        idx = range(len(self.pairs)) if indices is None else indices
        return make_batch([self.pairs[i] for i in idx])


class TranslationTask:
    """Base class: ``sample(rng)`` gives one (source text, target text); ``alignment`` its true alignment."""

    symbols = "0123456789"

    def __init__(self, min_len=4, max_len=12):
        if not 1 <= min_len <= max_len:
            raise ValueError(f"{type(self).__name__}: need 1 ≤ min_len ≤ max_len, got {min_len}, {max_len}")
        self.min_len, self.max_len = min_len, max_len
        self.vocab = Vocabulary(self.symbols)

    def sample(self, rng) -> tuple[str, str]:
        raise NotImplementedError

    def alignment(self, source: str, target: str):
        """(len(target), len(source)) 0/1 matrix: row t marks the source position target t comes from; None if none."""
        return None

    def dataset(self, n, seed=0, exclude=None) -> Seq2SeqData:
        """n examples from a generator seeded by ``seed``; sources in ``exclude`` (another Seq2SeqData) are skipped."""
        rng = np.random.default_rng(seed)
        seen = set() if exclude is None else {tuple(s) for s, _ in exclude.pairs}
        pairs = []
        while len(pairs) < n:
            src, tgt = self.sample(rng)
            s = self.vocab.encode(src)
            if tuple(s) in seen:
                continue
            pairs.append((s, self.vocab.encode(tgt)))
        return Seq2SeqData(self, pairs)

    def _digits(self, rng):
        n = int(rng.integers(self.min_len, self.max_len + 1))
        return "".join(rng.choice(list("0123456789"), size=n))


class ReverseTask(TranslationTask):
    """Reverse a digit string: "30571" → "17503".  True alignment: target t ↔ source S − 1 − t."""

    def sample(self, rng):
        s = self._digits(rng)
        return s, s[::-1]

    def alignment(self, source, target):
        return np.eye(len(source))[::-1][: len(target)]


class SortTask(TranslationTask):
    """Sort the digits: "30571" → "01357".  Alignment: target t ↔ the source position of that digit (ties in order)."""

    def sample(self, rng):
        s = self._digits(rng)
        return s, "".join(sorted(s))

    def alignment(self, source, target):
        order = np.argsort(list(source), kind="stable")
        return np.eye(len(source))[order]


class DateTask(TranslationTask):
    """Rewrite an ISO date as a European one: "2024-03-17" → "17.03.2024".  A fixed permutation of characters."""

    symbols = "0123456789-."
    _perm = [8, 9, 7, 5, 6, 4, 0, 1, 2, 3]  # target character t comes from source character _perm[t]

    def __init__(self, first_year=1900, last_year=2099):
        super().__init__(10, 10)
        self.first_year, self.last_year = first_year, last_year

    def sample(self, rng):
        first = np.datetime64(f"{self.first_year}-01-01")
        days = (np.datetime64(f"{self.last_year + 1}-01-01") - first).astype(int)
        day = first + int(rng.integers(days))
        iso = str(day)
        y, m, d = iso.split("-")
        return iso, f"{d}.{m}.{y}"

    def alignment(self, source, target):
        return np.eye(len(source))[self._perm]


# --------------------------------------------------------------------------- metrics


def exact_match(predictions, targets) -> float:
    """Fraction of sequences predicted entirely right (lists of token lists, without BOS/EOS/PAD)."""
    if len(predictions) != len(targets):
        raise ValueError(f"exact_match: {len(predictions)} predictions for {len(targets)} targets")
    return float(np.mean([list(p) == list(t) for p, t in zip(predictions, targets)]))


def alignment_accuracy(weights, task, pairs, tolerance=0):
    """How close attention weights are to the task's true alignment.

    weights (B, T, S): the alignment matrix α of each example (teacher forced on the true target);
    returns (fraction of target symbols whose largest weight lies within ``tolerance`` positions of
    the true source position, mean weight on the true source position).  The EOS step and padding
    are left out.  ``tolerance=1`` forgives a model that reads a symbol from its neighbour: the
    annotations of a bidirectional encoder, h(i) = [→h(i); ←h(i)], also carry x(i − 1) and x(i + 1).
    """
    hits, mass, count = 0, 0.0, 0
    for b, (s, t) in enumerate(pairs):
        true = task.alignment(task.vocab.decode(s), task.vocab.decode(t))
        w = np.asarray(weights[b])[: len(t), : len(s)]
        hits += int((np.abs(w.argmax(-1) - true.argmax(-1)) <= tolerance).sum())
        mass += float((w * true).sum())
        count += len(t)
    return hits / count, mass / count
