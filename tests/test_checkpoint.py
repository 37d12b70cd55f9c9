"""Checkpoints: round trip, clear errors for wrong files, and atomic saving (a failed save keeps the old file)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import nn, optim
from tinygrad_seq.checkpoint import CheckpointError, atomic_write, load_checkpoint, save_checkpoint
from tinygrad_seq.creation import default_rng
from tinygrad_seq.data import Vocab

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _model(hidden=5):
    return nn.Sequential(nn.Embedding(4, 3), nn.Linear(3, hidden), nn.Linear(hidden, 4))


def _train(model, opt, steps):
    for _ in range(steps):
        opt.zero_grad()
        out = model(tg.tensor(np.array([0, 1, 2, 3])))
        ((out + 1) ** 2).mean().backward()
        opt.step()


def _save(path, step=3, hidden=5, **kw):
    model = _model(hidden)
    opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    _train(model, opt, step)
    save_checkpoint(path, model=model, optimizer=opt, vocab=Vocab("helo"), step=step,
                    config={"model": "toy", "hidden_size": hidden}, rng=default_rng(), **kw)
    return model, opt


def test_round_trip_restores_everything(tmp_path):
    path = tmp_path / "run.npz"
    tg.manual_seed(1)
    hidden_state = (np.arange(6.0).reshape(1, 2, 3), np.ones((1, 2, 3), np.float32))
    model, opt = _save(path, extra={"hidden": list(hidden_state), "history": {"loss": np.array([3.0, 2.5])}})
    expected_next = default_rng().standard_normal(4)
    _train(model, opt, 2)  # the uninterrupted run goes on

    ckpt = load_checkpoint(path)
    assert ckpt.step == 3 and ckpt.vocab.itos == list("helo") and ckpt.config["hidden_size"] == 5
    np.testing.assert_array_equal(ckpt.extra["hidden"][0], hidden_state[0])
    assert ckpt.extra["hidden"][1].dtype == np.float32
    np.testing.assert_array_equal(ckpt.extra["history"]["loss"], [3.0, 2.5])

    tg.manual_seed(999)
    fresh = _model()
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.5)
    ckpt.restore(fresh, fresh_opt, rng=default_rng(), expect_config={"model": "toy", "hidden_size": 5})
    np.testing.assert_array_equal(default_rng().standard_normal(4), expected_next)
    assert fresh_opt.param_groups[0]["lr"] == 0.01 and fresh_opt.param_groups[0]["amsgrad"] is True
    _train(fresh, fresh_opt, 2)
    for (name, a), b in zip(fresh.state_dict().items(), model.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_file_is_a_plain_npz_without_pickles(tmp_path):
    path = tmp_path / "run.npz"
    _save(path)
    with np.load(path, allow_pickle=False) as z:
        names = set(z.files)
        assert all(z[k].dtype != object for k in z.files)
    assert {"model/0.weight", "model/2.bias", "optimizer/state/0/exp_avg", "vocab"} <= names


def test_saved_exactly_at_the_given_path_with_normal_permissions(tmp_path):
    path = tmp_path / "ckpt"  # no .npz suffix: np.savez would add one, we must not
    old = os.umask(0o022)
    try:
        _save(path)
    finally:
        os.umask(old)
    assert os.listdir(tmp_path) == ["ckpt"]
    assert os.stat(path).st_mode & 0o777 == 0o644  # not the private 0o600 of a temporary file


def test_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.npz")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)

    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip file at all" * 10)
    with pytest.raises(CheckpointError, match="corrupt or not a .npz"):
        load_checkpoint(garbage)

    good = tmp_path / "good.npz"
    _save(good)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(truncated)

    with np.load(good) as z:  # flip one byte inside a stored array: the CRC catches it
        offset = data.find(z["model/1.weight"].tobytes())
    flipped = bytearray(data)
    flipped[offset + 3] ^= 0xFF
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)

    other = tmp_path / "other.npz"
    np.savez(other, weights=np.ones(3))
    with pytest.raises(CheckpointError, match="not a tinygrad_seq checkpoint"):
        load_checkpoint(other)

    single = tmp_path / "single.npy"
    np.save(single, np.ones(3))
    with pytest.raises(CheckpointError, match="single .npy array"):
        load_checkpoint(single)

    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, __checkpoint__=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(CheckpointError, match="corrupt.*(Python objects|not a .npz)"):
        load_checkpoint(pickled)


def test_checkpoint_of_another_model_or_run(tmp_path):
    path = tmp_path / "run.npz"
    _save(path, hidden=5)
    ckpt = load_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"hidden_size 5 in the checkpoint, 7 here"):
        ckpt.restore(_model(7), expect_config={"model": "toy", "hidden_size": 7})
    with pytest.raises(CheckpointError, match=r"does not fit this model: .*\(5, 3\) in the state dict but \(7, 3\)"):
        ckpt.restore(_model(7))
    with pytest.raises(CheckpointError, match=r"does not fit this model: .*unexpected keys \[.2.weight., .2.bias.\]"):
        ckpt.restore(nn.Sequential(nn.Embedding(4, 3), nn.Linear(3, 5)))
    model = _model(5)
    with pytest.raises(CheckpointError, match="saved with optimizer Adam, this run uses SGD"):
        ckpt.restore(model, optim.SGD(model.parameters(), lr=0.1))


def test_unsaveable_values_are_rejected_before_writing(tmp_path):
    path = tmp_path / "run.npz"
    _save(path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="not allowed"):
        save_checkpoint(path, model=_model(), config={"bad": object()})
    with pytest.raises(CheckpointError, match="not allowed"):
        save_checkpoint(path, model=_model(), extra={"names": np.array(["a", "b"], dtype=object)})
    assert path.read_bytes() == before
    with pytest.raises(CheckpointError, match="does not exist"):
        save_checkpoint(tmp_path / "no" / "such" / "dir.npz", model=_model())


@pytest.mark.parametrize("failure", ["write", "replace", "interrupt"])
def test_failed_save_leaves_old_checkpoint_whole(tmp_path, monkeypatch, failure):
    path = tmp_path / "run.npz"
    _save(path, step=2)
    before = path.read_bytes()

    if failure == "write":
        real = np.savez

        def half_then_fail(f, *args, **kwargs):
            real(f, *args, **kwargs)
            f.truncate(100)
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(np, "savez", half_then_fail)
        expected = OSError
    elif failure == "replace":
        def refuse(src, dst):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(os, "replace", refuse)
        expected = PermissionError
    else:
        def interrupted(f, *args, **kwargs):
            f.write(b"PK\x03\x04 partial")
            raise KeyboardInterrupt

        monkeypatch.setattr(np, "savez", interrupted)
        expected = KeyboardInterrupt
    with pytest.raises(expected):
        _save(path, step=5)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.npz"], "the temporary file was left behind"
    assert load_checkpoint(path).step == 2


def test_killed_writer_never_leaves_a_broken_checkpoint(tmp_path):
    """A process killed (SIGKILL) in the middle of saving: the checkpoint on disk is the old or the new one."""
    path = tmp_path / "big.npz"
    script = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {ROOT!r})
        from tinygrad_seq.checkpoint import save_checkpoint
        big = np.zeros((3_000_000,))
        step = 0
        while True:
            big[:] = step
            save_checkpoint({str(path)!r}, model={{"w": big}}, step=step)
            step += 1
            print(step, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "1"  # one complete save
        time.sleep(0.15)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    ckpt = load_checkpoint(path)
    assert (ckpt.model["w"] == ckpt.step).all()


def test_atomic_write_is_usable_for_any_file(tmp_path):
    target = tmp_path / "samples.txt"
    atomic_write(target, lambda f: f.write(b"hello"))
    assert target.read_bytes() == b"hello"
    with pytest.raises(ZeroDivisionError):
        atomic_write(target, lambda f: (f.write(b"partial"), 1 / 0))
    assert target.read_bytes() == b"hello"
