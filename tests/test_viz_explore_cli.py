"""The explorer from the command line: ``tinygrad-seq render -o x.html`` and the demo's explorer.html.

The pages' embedded data are read back and compared with the graph drawn here in Python.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import viz
from tinygrad_seq.cli import main
from viz import examples

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(viz.find_renderer() is None, reason="no Graphviz renderer (pip install graphviz-pure)")


def page_data(path):
    m = re.search(r'<script id="tgs-data" type="application/json">(.*?)</script>', path.read_text("utf-8"), re.S)
    assert m, f"{path} has no embedded data"
    return json.loads(m.group(1))


def test_render_writes_the_explorer(tmp_path, capsys):
    out = tmp_path / "lstm.html"
    assert main(["render", "--model", "lstm", "--steps", "3", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "web browser" in printed
    data = page_data(out)
    drawn = viz.explore(examples.build("lstm", 3)).graph
    assert len(data["nodes"]) == len(drawn.nodes), "the page holds every node of the graph"
    assert len(data["schedule"]) == 3 and data["bars"] and data["rules"]["sigmoid"]["rule"]
    assert "<svg" in out.read_text("utf-8")
    # --format html without a suffix names the page .html; --collapse starts those scopes collapsed
    assert main(["render", "--model", "rnn", "--steps", "2", "--format", "html", "--collapse", "t=*",
                 "-o", str(tmp_path / "rnn")]) == 0
    assert page_data(tmp_path / "rnn.html")["collapsed"] == ["VanillaRNN/t=1", "VanillaRNN/t=2"]


def test_render_html_with_another_suffix_is_a_usage_error(tmp_path, capsys):
    assert main(["render", "--format", "html", "-o", str(tmp_path / "x.svg")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "name it .html" in err[0]
    assert not (tmp_path / "x.svg").exists()


def test_the_demo_writes_its_explorer_beside_its_pictures(tmp_path):
    env = dict(os.environ, TGS_FAST="1", MPLBACKEND="Agg", PYTHONIOENCODING="utf-8")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    r = subprocess.run([sys.executable, "-m", "tinygrad_seq", "demo", "--quick", "--seconds", "1", "--out", "tour"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, encoding="utf-8", timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    page = tmp_path / "tour" / "explorer.html"
    assert (tmp_path / "tour" / "unrolled_lstm.svg").is_file() and page.is_file()
    assert str(Path("tour") / "explorer.html") in r.stdout, "the demo says where the explorer is"
    data = page_data(page)
    (row,) = data["bars"]
    assert len(row["steps"]) == 4 and all(isinstance(b["norm"], float) and b["norm"] > 0 for b in row["steps"])
    assert {"sigmoid", "tanh", "matmul"} <= set(data["rules"])
    assert page.stat().st_size < 5_000_000
