"""The command line never prints a traceback, on the inputs and file systems a user can give it:
non-text codecs, a directory or nothing as -o, a full disk, stdout on /dev/full, a non-UTF-8 file name,
a FIFO as --text, escape characters in a vocabulary or a file name; SIGTERM and SIGHUP stop `train`
with the same final save as Ctrl-C; two runs of one checkpoint do not both run."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from test_cli import ROOT, TEXT, assert_ok, run_cli

from tinygrad_seq import cli
from tinygrad_seq.checkpoint import load_checkpoint, run_lock

TINY = ["--hidden", "4", "--steps", "2", "--seq-len", "8", "--batch", "2", "--eval-every", "1", "--no-progress"]


def one_line_error(r, code, *words):
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == code, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "text.txt").write_text(TEXT, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("codec", ["rot13", "base64", "zlib"])
def test_a_codec_that_is_not_a_text_encoding(folder, codec):
    one_line_error(run_cli("train", "--text", "text.txt", "--encoding", codec, *TINY, cwd=folder), 2,
                   codec, "not a text encoding")


@pytest.mark.parametrize("output, words", [("", ["-o needs a file name"]), ("sub", ["'sub'", "is a directory"]),
                                           ("sub.svg", ["'sub.svg'", "is a directory"])])
def test_render_to_a_directory_or_no_name(folder, output, words):
    (folder / "sub").mkdir()
    (folder / "sub.svg").mkdir()
    one_line_error(run_cli("render", "-o", output, cwd=folder), 2, *words)


def test_a_fifo_as_text_is_refused_instead_of_hanging(folder):
    os.mkfifo(folder / "pipe")
    one_line_error(run_cli("train", "--text", "pipe", *TINY, cwd=folder, timeout=60), 2,
                   "'pipe'", "not a regular file")


def test_an_empty_checkpoint_name(folder):
    one_line_error(run_cli("train", "--text", "text.txt", "--checkpoint", "", *TINY, cwd=folder), 2, "--checkpoint")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_stdout_on_dev_full(folder):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "tinygrad_seq", "check", "--steps", "2"], cwd=folder, env=env,
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    one_line_error(r, 2, "No space left on device")


def test_a_full_disk_while_saving_is_one_line_exit_2(folder, monkeypatch, capsys):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.chdir(folder)
    monkeypatch.setattr(np, "savez", full)
    code = cli.main(["train", "--text", "text.txt", "--checkpoint", "run.npz", *TINY])
    err = capsys.readouterr().err
    assert code == 2 and "No space left on device" in err and len(err.strip().splitlines()) == 1, err
    assert os.listdir(folder) == ["text.txt"]  # no temporary left behind


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_folder(folder):
    folder.chmod(0o555)
    try:
        one_line_error(run_cli("train", "--text", "text.txt", "--checkpoint", "run.npz", *TINY, cwd=folder), 2,
                       "not writable")
    finally:
        folder.chmod(0o755)


def test_a_non_utf8_file_name_is_printed_without_failing(folder):
    name = os.fsdecode(b"\xff\xfe.txt")
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8")
    r = subprocess.run([sys.executable, "-m", "tinygrad_seq", "train", "--text", name, *TINY], cwd=folder,
                       env=env, capture_output=True, timeout=120)
    assert r.returncode == 2 and b"Traceback" not in r.stderr and b"does not exist" in r.stderr, r.stderr
    (folder / name).write_text(TEXT, encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "tinygrad_seq", "train", "--text", name, *TINY], cwd=folder,
                       env=env, capture_output=True, timeout=120)
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
    assert b"\\udcff" in r.stdout  # the name, escaped


def test_render_and_sample_escape_control_characters(folder, monkeypatch, capsys):
    monkeypatch.chdir(folder)
    name = "evil\x1b[2J.svg"
    assert cli.main(["render", "--steps", "2", "-o", name]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2J" in out
    (folder / "ctl.txt").write_text(TEXT.replace("e", "\x1b").replace("a", "\x07"), encoding="utf-8")
    assert cli.main(["train", "--text", "ctl.txt", "--checkpoint", "ctl.npz", *TINY]) == 0
    capsys.readouterr()
    assert cli.main(["sample", "ctl.npz", "--length", "400", "--seed", "0", "--temperature", "2"]) == 0
    text = capsys.readouterr().out
    assert "\x1b" not in text and "\x07" not in text and ("\\x1b" in text or "\\x07" in text)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_save_like_ctrl_c(folder, sig):
    path = folder / "run.npz"
    env = dict(os.environ, TGS_FAST="1", PYTHONPATH=str(ROOT))
    args = ["train", "--text", "text.txt", "--hidden", "8", "--seq-len", "8", "--batch", "2", "--steps", "1000000",
            "--eval-every", "5", "--checkpoint", "run.npz", "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_seq", *args], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not path.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint written"
            time.sleep(0.05)
        first = load_checkpoint(path).step
        time.sleep(0.3)
        proc.send_signal(sig)
        code = proc.wait(timeout=120)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert code == 128 + sig, err  # before: killed by the signal, no final save
    assert "Traceback" not in err and signal.Signals(sig).name in err and "--resume" in err
    last = load_checkpoint(path)
    assert last.step >= first and len(last.extra["history"]["train_loss"]) == last.step
    assert not [n for n in os.listdir(folder) if n.endswith((".tmp", ".lock"))]


def test_a_second_run_of_the_same_checkpoint_is_refused(folder):
    with run_lock(folder / "run.npz"):  # as if another `train --checkpoint run.npz` were running
        r = run_cli("train", "--text", "text.txt", "--checkpoint", "run.npz", *TINY, cwd=folder)
    one_line_error(r, 2, "in use by another run")
    assert not (folder / "run.npz").exists()
    assert_ok(run_cli("train", "--text", "text.txt", "--checkpoint", "run.npz", *TINY, cwd=folder))
