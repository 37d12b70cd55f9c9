"""Text for character-level language models: a vocabulary, the default corpus, files, batches.

    >>> text = default_corpus()                  # the Python reference text shipped with CPython
    >>> vocab = Vocab.from_text(text)
    >>> ids = vocab.encode(text)                 # (N,) int64
    >>> train_ids, val_ids = split_tail(ids, 0.1)
    >>> batches = StreamBatches(train_ids, batch_size=32, seq_len=64)
    >>> x, y = batches[0]                        # (32, 64) inputs and the (32, 64) characters that follow

Stateful training reads a text as ``batch_size`` parallel streams: row b of
every batch continues row b of the batch before, so the hidden state left by
one chunk is the right state to start the next (truncated BPTT carries it
across; see train.py).
"""

from __future__ import annotations

import codecs
import contextlib
import os
import stat

import numpy as np

__all__ = ["Vocab", "TextFileError", "default_corpus", "load_text", "split_tail", "StreamBatches"]


class TextFileError(ValueError):
    """A text that cannot be used: missing, unreadable, not decodable, empty or too short."""


# --------------------------------------------------------------------------- vocabulary


class Vocab:
    """The characters of a text, numbered 0 … V−1 in sorted order (ids ↔ characters).

    ``stoi`` maps a character to its id, ``itos`` is the list of characters.
    ``to_array()`` / ``from_array()`` store the vocabulary as an int32 array of
    code points, which a ``.npz`` checkpoint holds without pickling.
    """

    def __init__(self, chars):
        chars = list(chars)
        if not chars:
            raise ValueError("Vocab: the vocabulary is empty")
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError("Vocab: every entry must be a single character")
        if len(set(chars)) != len(chars):
            raise ValueError("Vocab: characters repeat")
        self.itos = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        """Every distinct character of ``text``, sorted (so the same text always gives the same ids)."""
        return cls(sorted(set(text)))

    def __len__(self):
        return len(self.itos)

    def __contains__(self, ch):
        return ch in self.stoi

    def __eq__(self, other):
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self):
        shown = "".join(self.itos[:20])
        return f"Vocab({len(self)} characters: {shown!r}{' …' if len(self) > 20 else ''})"

    def encode(self, text: str) -> np.ndarray:
        """Characters to ids, an int64 array of shape (len(text),)."""
        try:
            return np.fromiter((self.stoi[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as e:
            ch = e.args[0]
            raise ValueError(
                f"character {ch!r} (U+{ord(ch):04X}) is not in the vocabulary of {len(self)} characters"
            ) from None

    def decode(self, ids) -> str:
        """Ids (any integer sequence or array) back to a string."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"ids must lie in [0, {len(self)}), got {ids.min()}..{ids.max()}")
        return "".join(self.itos[i] for i in ids.tolist())

    def to_array(self) -> np.ndarray:
        """The characters as int32 code points (shape (V,)): storable with ``allow_pickle=False``."""
        return np.array([ord(c) for c in self.itos], dtype=np.int32)

    @classmethod
    def from_array(cls, codes) -> Vocab:
        codes = np.asarray(codes)
        if codes.ndim != 1 or codes.dtype.kind not in "iu":
            raise ValueError(f"Vocab.from_array: expected a 1-D array of code points, got {codes.dtype} {codes.shape}")
        if codes.size and (codes.min() < 0 or codes.max() > 0x10FFFF):
            raise ValueError("Vocab.from_array: code points out of the Unicode range")
        return cls(chr(c) for c in codes.tolist())


# --------------------------------------------------------------------------- texts


def default_corpus() -> str:
    """The embedded default corpus: CPython's reference text (``pydoc_data.topics``).

    Every CPython ships it (the text behind ``help('if')``), so nothing is
    downloaded.  The topics are joined in sorted-key order, so the corpus is
    the same on every run of the same Python (about 465,000 characters).
    """
    from pydoc_data.topics import topics

    return "\n".join(topics[k] for k in sorted(topics))


def load_text(path, encoding: str = "utf-8") -> str:
    """Read a whole text file, or raise ``TextFileError`` with a one-line reason.

    Missing, unreadable (a directory, no permission), not decodable with
    ``encoding`` (the message gives the byte offset and suggests an encoding)
    and empty files are all reported the same way, so a command-line tool can
    print the message and exit.
    """
    name = os.fspath(path)
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise TextFileError(f"unknown text encoding {encoding!r}") from None
    try:
        b"x".decode(encoding)  # rot13, base64, zlib...: codecs that exist but do not turn bytes into text
    except UnicodeError:
        pass  # a text encoding in which one byte is not a character (utf-16): fine
    except LookupError:
        raise TextFileError(f"{encoding!r} is not a text encoding (it does not decode bytes to text)") from None
    with contextlib.suppress(OSError):  # a FIFO or a device would block open() or read() for ever
        mode = os.stat(name).st_mode
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
            raise TextFileError(f"{name!r} is not a regular file (a FIFO, socket or device); save the text to a file")
    try:
        with open(name, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise TextFileError(f"text file {name!r} does not exist") from None
    except IsADirectoryError:
        raise TextFileError(f"{name!r} is a directory, not a text file") from None
    except PermissionError:
        raise TextFileError(f"text file {name!r} cannot be read: permission denied") from None
    except OSError as e:
        raise TextFileError(f"text file {name!r} cannot be read: {e.strerror or e}") from None
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise TextFileError(
            f"text file {name!r} is not valid {encoding}: byte 0x{raw[e.start]:02x} at offset {e.start} "
            f"cannot be decoded; pass the file's encoding (e.g. encoding='latin-1')"
        ) from None
    if text.startswith("\ufeff"):  # a byte-order mark is not part of the text
        text = text[1:]
    if not text:
        raise TextFileError(f"text file {name!r} is empty")
    return text


def split_tail(data, val_fraction: float = 0.1):
    """``(head, tail)``: the last ``val_fraction`` of ``data`` held out for evaluation.

    A tail (rather than random characters) keeps both parts contiguous text,
    and the model is judged on text it never read.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"split_tail: val_fraction must lie in (0, 1), got {val_fraction}")
    n_val = int(round(len(data) * val_fraction))
    if n_val < 2 or len(data) - n_val < 2:
        raise TextFileError(
            f"a text of {len(data)} characters is too short to hold out {val_fraction:.0%} of it for evaluation"
        )
    return data[:-n_val], data[-n_val:]


# --------------------------------------------------------------------------- batches


class StreamBatches:
    """A long id sequence cut into ``batch_size`` contiguous streams, read ``seq_len`` steps at a time.

    The sequence (N,) is trimmed and laid out as ``streams`` of shape (B, L).
    Batch k is ``x = streams[:, kT:(k+1)T]`` with targets ``y`` shifted one
    step on: y[b, t] is the character after x[b, t].  Row b of batch k+1
    starts where row b of batch k stopped, so a recurrent model's final state
    on batch k is its correct initial state for batch k+1.  There are
    ``len(self) = (L − 1) // T`` full batches; the ragged end is dropped.

        ids       a b c d e f g h i j k l m n o p q r s t u v w x y z …
        streams   row 0: a b c d e f g h i j k l m         (B = 2)
                  row 1: n o p q r s t u v w x y z
        batch 0   x = [[a b c], [n o p]]   y = [[b c d], [o p q]]    (T = 3)
        batch 1   x = [[d e f], [q r s]]   y = [[e f g], [r s t]]

    ``window(start, stop)`` gives any slice of the streams, which truncated
    BPTT with a look-back longer than one batch needs.
    """

    def __init__(self, ids, batch_size: int, seq_len: int):
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise ValueError(f"StreamBatches: expected a 1-D integer array of ids, got {ids.dtype} {ids.shape}")
        if batch_size <= 0 or seq_len <= 0:
            raise ValueError(f"StreamBatches: batch_size and seq_len must be positive, got {batch_size}, {seq_len}")
        length = len(ids) // batch_size
        if length < seq_len + 1:
            raise TextFileError(
                f"a text of {len(ids)} characters is too short for {batch_size} streams of {seq_len}+1 characters "
                f"(needs at least {batch_size * (seq_len + 1)})"
            )
        self.batch_size, self.seq_len = batch_size, seq_len
        self.streams = ids[: batch_size * length].reshape(batch_size, length).astype(np.int64)

    @property
    def stream_length(self) -> int:
        return self.streams.shape[1]

    def __len__(self):
        return (self.stream_length - 1) // self.seq_len

    def __getitem__(self, k):
        if not -len(self) <= k < len(self):
            raise IndexError(f"batch {k} out of range: there are {len(self)} batches")
        k %= len(self)
        return self.window(k * self.seq_len, (k + 1) * self.seq_len)

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def window(self, start: int, stop: int):
        """``(x, y)`` for stream positions [start, stop): each (B, stop − start) int64."""
        if not 0 <= start < stop < self.stream_length:
            raise IndexError(f"window [{start}, {stop}) does not fit streams of length {self.stream_length} (+1)")
        return self.streams[:, start:stop], self.streams[:, start + 1: stop + 1]
