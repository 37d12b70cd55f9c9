"""Every lesson in tutorials/ runs top to bottom as a script (in its fast setting)."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "tutorials").glob("*.py"))


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs(lesson, tmp_path):
    env = dict(os.environ, TGS_FAST="1", MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, str(lesson)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{lesson.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


def test_lessons_are_jupytext_percent_files():
    assert LESSONS, "tutorials/ holds no lesson"
    for lesson in LESSONS:
        text = lesson.read_text()
        assert "# %%" in text, f"{lesson.name} has no '# %%' cells"
