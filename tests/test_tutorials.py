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


def test_lessons_open_as_notebooks_with_prose_and_code():
    import jupytext  # in the [dev] extra
    assert LESSONS, "tutorials/ holds no lesson"
    for lesson in LESSONS:
        notebook = jupytext.read(lesson, fmt="py:percent")
        kinds = [cell.cell_type for cell in notebook.cells]
        assert kinds.count("markdown") >= 3 and kinds.count("code") >= 3, f"{lesson.name}: {kinds}"
