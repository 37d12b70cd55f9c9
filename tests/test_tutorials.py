"""Every lesson in tutorials/ runs top to bottom, in its fast setting, both as a script and as a notebook.

A lesson asserts what it teaches, so either run fails when the library (or the lesson) is wrong. Executed as
a notebook (jupytext, then nbclient on an ipykernel), a lesson must also show its figures inline.
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "tutorials").glob("*.py"))
IMAGES = ("image/png", "image/svg+xml")


def lesson_env(**extra):
    """The environment of a lesson: fast mode, this checkout's package first, one BLAS thread (2 cores shared)."""
    env = dict(os.environ, TGS_FAST="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def run_script(lesson, cwd, prelude=""):
    """Run a lesson as `python lesson.py` in ``cwd``; ``prelude`` (Python code, if any) runs first, in-process."""
    command = [sys.executable, str(lesson)]
    if prelude:  # a file, not `python -c`, so that inspect can still read the source of what it defines
        runner = pathlib.Path(cwd) / "prelude_then_lesson.py"
        runner.write_text(prelude + "\nimport runpy, sys\nrunpy.run_path(sys.argv[1], run_name='__main__')\n")
        command = [sys.executable, str(runner), str(lesson)]
    return subprocess.run(command, cwd=cwd, env=lesson_env(MPLBACKEND="Agg"), capture_output=True, text=True,
                          timeout=600)


def execute_notebook(notebook, cwd):
    """Execute a notebook in a fresh python3 kernel whose working directory is ``cwd``; returns it executed.

    MPLBACKEND is removed so that the kernel picks matplotlib's inline backend, as Jupyter does; nbclient
    raises CellExecutionError (with the cell and its traceback) if a cell fails.
    """
    from nbclient import NotebookClient  # in the [dev] extra

    env = lesson_env()
    env.pop("MPLBACKEND", None)
    client = NotebookClient(notebook, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(cwd)}})
    client.execute(env=env)
    return notebook


def image_outputs(notebook):
    """The mime types of every picture in the notebook's output cells."""
    return [kind for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
            for kind in out.get("data", {}) if kind in IMAGES]


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs_as_a_script(lesson, tmp_path):
    proc = run_script(lesson, tmp_path)
    assert proc.returncode == 0, f"{lesson.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs_as_a_notebook_with_its_figures_inline(lesson, tmp_path):
    import jupytext  # in the [dev] extra

    notebook = execute_notebook(jupytext.read(lesson, fmt="py:percent"), tmp_path)
    images = image_outputs(notebook)
    assert images, f"{lesson.name} executed as a notebook shows no figure (no image/png or image/svg+xml output)"


def test_lessons_open_as_notebooks_with_prose_and_code():
    import jupytext

    assert LESSONS, "tutorials/ holds no lesson"
    for lesson in LESSONS:
        notebook = jupytext.read(lesson, fmt="py:percent")
        kinds = [cell.cell_type for cell in notebook.cells]
        assert kinds.count("markdown") >= 3 and kinds.count("code") >= 3, f"{lesson.name}: {kinds}"


def test_a_lesson_fails_when_the_library_is_wrong(tmp_path):
    """Plant a slip in one derivative rule (tanh' = 1 − z instead of 1 − z²): the engine lesson must fail.

    The rule is reached through the public surface (the node a tanh leaves behind), not through a module path.
    """
    slip = (
        "import tinygrad_seq as tg\n"
        "Tanh = type(tg.tensor([0.5], requires_grad=True).tanh().grad_fn)\n"
        "def backward(self, g, x, z):\n"
        "    return (g * (1 - z),)\n"
        "Tanh.backward = backward\n"
    )
    proc = run_script(ROOT / "tutorials" / "autograd_from_scratch.py", tmp_path, prelude=slip)
    assert proc.returncode != 0, "the engine lesson passed with a wrong derivative of tanh"
    assert "AssertionError" in proc.stderr, proc.stderr[-2000:]  # failed on one of its checks, not by accident


def test_show_puts_a_figure_made_without_pyplot_inline(tmp_path):
    """viz.plots makes Figures without pyplot, which IPython cannot draw by itself: viz.show must."""
    import nbformat

    code = ("import numpy as np\nimport viz\nfrom viz import plots\n"
            "viz.show(plots.eigenvalues(0.5 * np.eye(3)), 'eigenvalues.png')\n")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    assert image_outputs(execute_notebook(notebook, tmp_path)) == ["image/png"]
    assert (tmp_path / "eigenvalues.png").stat().st_size > 1000
