"""Vocabulary, default corpus, text files with their errors, tail split, contiguous stream batches."""

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_seq.data import StreamBatches, TextFileError, Vocab, default_corpus, load_text, split_tail


@given(st.text(min_size=1, max_size=200))
def test_vocab_round_trip(text):
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert ids.max() < len(vocab) == len(set(text))
    assert vocab.decode(ids) == text
    again = Vocab.from_array(vocab.to_array())  # as stored in a checkpoint
    assert again == vocab and again.decode(ids) == text


def test_vocab_ids_are_sorted_characters():
    vocab = Vocab.from_text("hello")
    assert vocab.itos == ["e", "h", "l", "o"]
    assert vocab.encode("hello").tolist() == [1, 0, 2, 2, 3]


def test_vocab_keeps_nul_and_astral_characters():
    vocab = Vocab(["\x00", "a", "\U0001f600"])
    arr = vocab.to_array()
    assert arr.dtype == np.int32
    assert Vocab.from_array(arr).itos == ["\x00", "a", "\U0001f600"]


def test_vocab_errors():
    vocab = Vocab.from_text("abc")
    with pytest.raises(ValueError, match=r"'z' \(U\+007A\) is not in the vocabulary of 3"):
        vocab.encode("abz")
    with pytest.raises(ValueError, match="must lie in"):
        vocab.decode([0, 3])
    with pytest.raises(ValueError, match="repeat"):
        Vocab(["a", "a"])
    with pytest.raises(ValueError, match="empty"):
        Vocab.from_text("")


def test_default_corpus_is_deterministic_python_reference_text():
    a, b = default_corpus(), default_corpus()
    assert a == b
    assert len(a) > 100_000
    assert 'The "for" statement' in a
    from pydoc_data.topics import topics

    first = sorted(topics)[0]
    assert a.startswith(topics[first])


def test_load_text_reads_utf8_and_other_encodings(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes("naïve café\n".encode())
    assert load_text(p) == "naïve café\n"
    q = tmp_path / "latin.txt"
    q.write_bytes("naïve".encode("latin-1"))
    with pytest.raises(TextFileError, match=r"not valid utf-8: byte 0xef at offset 2.*encoding="):
        load_text(q)
    assert load_text(q, encoding="latin-1") == "naïve"
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeffabc".encode())
    assert load_text(bom) == "abc"


def test_load_text_errors(tmp_path):
    with pytest.raises(TextFileError, match="does not exist"):
        load_text(tmp_path / "missing.txt")
    with pytest.raises(TextFileError, match="is a directory"):
        load_text(tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(TextFileError, match="is empty"):
        load_text(empty)
    with pytest.raises(TextFileError, match="unknown text encoding"):
        load_text(empty, encoding="no-such-codec")
    if os.name == "posix" and os.geteuid() != 0:
        locked = tmp_path / "locked.txt"
        locked.write_text("x")
        locked.chmod(0)
        with pytest.raises(TextFileError, match="permission denied"):
            load_text(locked)


def test_split_tail():
    ids = np.arange(100)
    head, tail = split_tail(ids, 0.1)
    assert head.tolist() == list(range(90)) and tail.tolist() == list(range(90, 100))
    with pytest.raises(TextFileError, match="too short"):
        split_tail(np.arange(5), 0.1)
    with pytest.raises(ValueError, match="val_fraction"):
        split_tail(ids, 1.5)


@given(n=st.integers(10, 400), b=st.integers(1, 5), t=st.integers(1, 9))
def test_stream_batches_are_contiguous_streams(n, b, t):
    ids = np.arange(n)
    if n // b < t + 1:
        with pytest.raises(TextFileError, match="too short"):
            StreamBatches(ids, b, t)
        return
    batches = StreamBatches(ids, b, t)
    length = n // b
    assert len(batches) == (length - 1) // t >= 1
    for k, (x, y) in enumerate(batches):
        assert x.shape == y.shape == (b, t)
        # row r reads stream r = ids[r*length : (r+1)*length] from position k*t on
        expect = np.arange(b)[:, None] * length + k * t + np.arange(t)[None, :]
        np.testing.assert_array_equal(x, expect)
        np.testing.assert_array_equal(y, expect + 1)
    # every target stays inside its own stream
    last_y = batches[len(batches) - 1][1]
    assert (last_y[:, -1] < (np.arange(b) + 1) * length).all()


def test_stream_batches_window_and_errors():
    batches = StreamBatches(np.arange(40), batch_size=2, seq_len=4)  # streams 0..19 and 20..39
    x, y = batches.window(2, 9)
    assert x.tolist() == [list(range(2, 9)), list(range(22, 29))]
    assert y.tolist() == [list(range(3, 10)), list(range(23, 30))]
    with pytest.raises(IndexError, match="does not fit"):
        batches.window(15, 20)
    with pytest.raises(IndexError, match="out of range"):
        batches[len(batches)]
    with pytest.raises(ValueError, match="integer"):
        StreamBatches(np.ones(10), 1, 2)
