"""atomic_write and checkpoint files on disk: symlinks, permissions, long names, stale temporaries, the run lock."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tinygrad_seq.checkpoint import CheckpointError, atomic_write, load_checkpoint, run_lock, save_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(data):
    return lambda f: f.write(data)


def test_a_symlink_keeps_pointing_at_its_target_which_is_written(tmp_path):
    real = tmp_path / "real.bin"
    real.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    atomic_write(link, _write(b"new"))
    assert link.is_symlink() and os.readlink(link) == str(real)  # before: replaced by a regular file
    assert real.read_bytes() == b"new"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_a_read_only_file_is_refused_and_kept(tmp_path):
    path = tmp_path / "ro.npz"
    path.write_bytes(b"precious")
    path.chmod(0o444)
    with pytest.raises(CheckpointError, match="read-only \\(mode 444\\)"):
        atomic_write(path, _write(b"new"))
    assert path.read_bytes() == b"precious"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_the_permission_bits_of_the_old_file_are_kept(tmp_path):
    path = tmp_path / "private.npz"
    path.write_bytes(b"x")
    path.chmod(0o600)
    old = os.umask(0o022)
    try:
        atomic_write(path, _write(b"y"))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600  # before: widened to 0644


def test_a_legal_254_character_name_can_be_saved(tmp_path):
    path = tmp_path / ("c" * 250 + ".npz")
    save_checkpoint(path, model={"w": np.ones(2)}, step=3)  # before: the temporary's name was too long
    assert load_checkpoint(path).step == 3
    assert os.listdir(tmp_path) == [path.name]


def test_an_empty_name_is_refused():
    with pytest.raises(CheckpointError, match="empty"):
        atomic_write("", _write(b"x"))


def test_a_temporary_left_by_a_killed_save_is_removed_by_the_next_save(tmp_path):
    path = tmp_path / "big.npz"
    script = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {ROOT!r})
        from tinygrad_seq.checkpoint import save_checkpoint
        big = np.zeros((4_000_000,))
        print("go", flush=True)
        while True:
            save_checkpoint({str(path)!r}, model={{"w": big}})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "go"
        for _ in range(200):  # kill it while a temporary exists
            if any(n.endswith(".tmp") for n in os.listdir(tmp_path)):
                break
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    if not any(n.endswith(".tmp") for n in os.listdir(tmp_path)):
        pytest.skip("the writer was not caught in the middle of a save")
    save_checkpoint(path, model={"w": np.ones(2)})
    assert os.listdir(tmp_path) == ["big.npz"]


def test_a_temporary_being_written_by_a_live_save_is_not_removed(tmp_path):
    path = tmp_path / "c.npz"

    def write(f):
        save_checkpoint(tmp_path / "other.npz", model={"w": np.ones(2)})  # a save into the same folder meanwhile
        atomic_write(path.with_name("c.npz.copy"), _write(b"z"))
        f.write(b"data")

    atomic_write(path, write)
    assert path.read_bytes() == b"data"


def test_a_second_run_of_one_checkpoint_is_refused_while_the_first_holds_the_lock(tmp_path):
    path = tmp_path / "run.npz"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {ROOT!r})
        from tinygrad_seq.checkpoint import run_lock
        with run_lock({str(path)!r}):
            print("locked", flush=True)
            time.sleep(30)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(CheckpointError, match="in use by another run"):
            with run_lock(path):
                pass
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    with run_lock(path):  # the lock dies with its process
        pass
    assert not any(n.endswith(".lock") for n in os.listdir(tmp_path))
