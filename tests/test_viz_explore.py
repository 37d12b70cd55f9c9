"""viz.explore: the self-contained HTML explorer, read as a file (the browser tests click it).

The page embeds its numbers as JSON; these tests read that JSON back out of the
written file and compare it with the tensors' own values and with gradients
computed independently here (tinygrad_seq.grad, viz.plots.hidden_gradient_norms),
and check that nothing in the file points outside it.
"""

import json
import re

import numpy as np
import pytest

import tinygrad_seq as tg
import viz
from tinygrad_seq import nn
from viz import examples
from viz.explore import derivative_rule, op_classes, summarize
from viz.plots import hidden_gradient_norms

pytestmark = pytest.mark.skipif(viz.find_renderer() is None, reason="no Graphviz renderer (pip install graphviz-pure)")


def page_data(path):
    """The JSON the page embeds, read back from the file as the browser's script reads it."""
    text = path.read_text(encoding="utf-8")
    m = re.search(r'<script id="tgs-data" type="application/json">(.*?)</script>', text, re.S)
    assert m, "the page has no embedded data"
    return json.loads(m.group(1))


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


@pytest.fixture
def rnn_page(tmp_path):
    L, model, hs = examples.vanilla_rnn(4)
    page = viz.explore(L, tmp_path / "rnn.html")
    return L, model, hs, page


def test_the_page_is_one_file_that_fetches_nothing(rnn_page):
    *_, page = rnn_page
    text = page.path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert not re.search(r"<script[^>]*\ssrc=", text), "a script is loaded from elsewhere"
    assert not re.search(r"<link[^>]*stylesheet", text), "a style sheet is loaded from elsewhere"
    assert not re.search(r"@import|url\((?!#)", text), "CSS fetches something"
    for attr in re.findall(r'\s(?:src|href|xlink:href)="([^"]*)"', text):
        assert attr.startswith(("data:", "#")), f"the page points outside itself: {attr}"
    # the only URLs are the SVG namespaces, which name a vocabulary and are never fetched
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
    assert "default-src 'none'" in text  # and the browser is told to refuse any fetch
    assert page.path.stat().st_size < 400_000


def test_values_and_gradients_are_the_tensors_own(rnn_page):
    L, model, hs, page = rnn_page
    data = page_data(page.path)
    want = tg.grad(L, hs + [model.W], retain_graph=True)
    by_title = {n["title"]: n for n in data["nodes"].values()}
    for t, (h, g) in enumerate(zip(hs, want), start=1):
        node = by_title[f"h({t})"]
        assert node["shape"] == list(h.shape) and node["op"] == "tanh" and node["step"][1] == t
        v, d = node["value"], h.data.astype(float)
        assert rel(v["mean"], d.mean()) < 1e-4 and rel(v["norm"], np.linalg.norm(d)) < 1e-4
        assert rel(v["min"], d.min()) < 1e-4 and rel(v["max"], d.max()) < 1e-4
        np.testing.assert_allclose(v["head"], d.reshape(-1), rtol=1e-4)
        gs, gd = node["grad"], g.data.astype(float)
        assert rel(gs["norm"], np.linalg.norm(gd)) < 1e-4 and rel(gs["mean"], gd.mean()) < 1e-4
        np.testing.assert_allclose(gs["head"], gd.reshape(-1), rtol=1e-4)
    w = by_title["W"]
    assert w["kind"] == "parameter" and rel(w["grad"]["norm"], np.linalg.norm(want[-1].data)) < 1e-4
    x1 = by_title["x(1)"]
    assert x1["kind"] == "input" and x1["grad"] is None and x1["requiresGrad"] is False


def test_the_heatmap_is_the_matrix_scaled_and_capped():
    a = np.arange(-50.0, 50.0).reshape(4, 25)
    s = summarize(a, cells=8)
    h = s["heat"]
    assert h["shape"] == [4, 25] and h["rows"] is None and len(h["cols"]) == 8
    assert h["cols"][0] == 0 and h["cols"][-1] == 24
    assert h["scale"] == 50.0
    expected = np.round(a[:, h["cols"]] / 50 * 99)
    np.testing.assert_array_equal(np.array(h["q"]), expected)
    big = summarize(np.random.default_rng(0).standard_normal((3, 5, 300)), cells=8)
    assert big["heat"]["shape"] == [15, 300] and len(big["heat"]["q"]) == 8 and len(big["heat"]["q"][0]) == 8
    bad = summarize(np.array([1.0, np.nan, np.inf, -2.0]))
    assert bad["nonfinite"] == 2 and bad["min"] == -2.0 and bad["max"] == 1.0
    assert bad["head"][1] == "nan" and bad["head"][2] == "inf"
    assert bad["heat"]["q"][0][1] is None
    json.dumps(bad, allow_nan=False)  # NaN never reaches the JSON as a number


def test_derivative_rules_are_read_from_the_op_classes(rnn_page):
    *_, page = rnn_page
    rules = page_data(page.path)["rules"]
    assert rules["tanh"]["class"] == "Tanh" and "1 - z²" in rules["tanh"]["rule"]
    assert "return (g * (1 - z * z),)" in rules["tanh"]["backward"]
    assert "softmax(x_n) - onehot(y_n)" in rules["cross_entropy"]["rule"]
    # every op class: the comment of its `op = "..."` line, as an independent reading of the source shows it
    import inspect

    for op, cls in op_classes().items():
        rule = derivative_rule(cls)
        assert rule["op"] == op
        if "backward" in cls.__dict__:
            assert rule["backward"].startswith("def backward("), cls
        line = next((ln for ln in inspect.getsource(cls).splitlines() if re.match(r'\s*op = "', ln)), "")
        if "#" in line:
            assert rule["rule"].split("\n")[0] == line.split("#", 1)[1].strip(), cls
        if cls.__dict__.get("__doc__"):
            assert rule["doc"].split("\n")[0] == inspect.cleandoc(cls.__doc__).split("\n")[0]


def test_the_fused_cells_show_their_docstring_rule(tmp_path):
    L, _ = examples.recurrent("lstm", T=2, cell="fused")
    rules = page_data(viz.explore(L, tmp_path / "fused.html").path)["rules"]
    assert "constant error carousel" in rules["lstm_cell"]["doc"]


def test_the_backward_schedule_and_the_bars(rnn_page):
    L, model, hs, page = rnn_page
    data = page_data(page.path)
    assert [s["t"] for s in data["schedule"]] == [4, 3, 2, 1], "the backward pass goes from the last step to the first"
    (row,) = data["bars"]
    ts, norms = hidden_gradient_norms(L, name="h(*)")
    assert [b["t"] for b in row["steps"]] == list(ts)
    np.testing.assert_allclose([b["norm"] for b in row["steps"]], norms, rtol=1e-4)
    index = {s["path"]: i + 1 for i, s in enumerate(data["schedule"])}
    for n in data["nodes"].values():
        if n["step"]:  # a node of step s is complete when the slider has gone through s
            assert n["first"] == n["done"] == index[n["step"][0]]
    by_title = {n["title"]: n for n in data["nodes"].values()}
    assert (by_title["W"]["first"], by_title["W"]["done"]) == (1, 4), "W gets gradient from every step"
    assert (by_title["L"]["first"], by_title["L"]["done"]) == (0, 0)


def test_every_model_gets_its_frames_and_scopes(tmp_path):
    for name in examples.MODELS:
        L = examples.build(name, 3)
        page = viz.explore(L, tmp_path / f"{name}.html")
        data = page_data(page.path)
        svg = page.path.read_text(encoding="utf-8")
        frames = set(re.findall(r'<g id="clust\d+" class="cluster">\s*<title>(cluster_\d+)</title>', svg))
        mapped = {s["frame"] for s in data["scopes"].values() if s["frame"]}
        assert frames and frames == mapped, f"{name}: frames without a scope: {frames - mapped}"
        for path, s in data["scopes"].items():
            assert s["members"] and all(data["nodes"][m]["home"].startswith(path) for m in s["members"])
        steps = [s for s in data["scopes"].values() if s["t"] is not None]
        if name == "transformer":
            assert not data["schedule"] and not data["bars"]
        else:
            assert steps and all(s["frame"] for s in steps), f"{name}: a time step without its frame"
            assert data["bars"], f"{name}: no ‖∇h(t) L‖ bars"
    # seq2seq: the decoder's steps are walked first, then the encoder's, each from its last step back
    L, _ = examples.seq2seq(S=4, T=3)
    sched = page_data(viz.explore(L, tmp_path / "s2s.html").path)["schedule"]
    seqs = [s["seq"] for s in sched]
    assert seqs == sorted(seqs, key=lambda q: "decoder" not in q)
    assert [s["t"] for s in sched if "decoder" in s["seq"]] == [3, 2, 1]  # numbered t = 1..T, as drawn


def test_a_reverse_direction_is_walked_from_its_first_step():
    tg.manual_seed(0)
    rnn = nn.RNN(3, 4, bidirectional=True)
    out, _ = rnn(tg.randn(5, 1, 3))
    page = viz.explore((out**2).sum())
    by_seq = {}
    for s in page.data["schedule"]:
        by_seq.setdefault(s["seq"], []).append(s["t"])
    assert len(by_seq) == 2
    for seq, ts in by_seq.items():
        want = sorted(ts) if "reverse" in seq else sorted(ts, reverse=True)
        assert ts == want, f"{seq}: {ts}"


def test_truncated_bptt_marks_where_the_gradient_stops(tmp_path):
    L, model, hs = examples.vanilla_rnn(4)
    _, _, h_last = model(np.random.default_rng(1).standard_normal((4, 3)), [0, 1, 2, 0])
    h_cut = h_last.detach()
    L2, _, hs2 = model(np.random.default_rng(2).standard_normal((4, 3)), [1, 0, 2, 1], h0=h_cut)
    data = page_data(viz.explore(L2, tmp_path / "tbptt.html", detached=[h_cut]).path)
    (cut,) = data["cuts"]
    node = data["nodes"][cut["node"]]
    assert node["kind"] == "detached" and node["grad"] is None
    first = min(s["t"] for s in data["schedule"])
    assert cut["t"] == first, "the cut is at the first step of the chunk"
    assert node["done"] == len(data["schedule"]), "the cut is reached when the walk has gone through the chunk"


def test_truncated_bptt_chunks_side_by_side_with_the_cut_between(tmp_path):
    """explore([L1, L2], chunks=True) draws the chunks as viz.draw does: numbered on, the cut between them."""
    page = viz.explore(examples.truncated_bptt(), tmp_path / "chunks.html", chunks=True)
    data = page.data
    assert sorted(s["t"] for s in data["schedule"]) == [1, 2, 3, 4, 5, 6]
    (cut,) = data["cuts"]
    assert data["nodes"][cut["node"]]["kind"] == "detached" and cut["t"] == 4, "chunk 2 starts from the cut"
    assert any(e.cut for e in page.graph.edges), "the detach() edge from h(3) to its copy is drawn"
    assert 'class="cluster"' in page.html and "gradient stops" in page.html


def test_the_start_collapsed_scopes_and_bad_input(tmp_path):
    L, _, _ = examples.vanilla_rnn(3)
    page = viz.explore(L, collapse="t=*")
    assert page.data["collapsed"] == ["VanillaRNN/t=1", "VanillaRNN/t=2", "VanillaRNN/t=3"]
    assert page.path is None
    frame = page._repr_html_()
    assert frame.startswith("<iframe srcdoc=\"&lt;!DOCTYPE html&gt;") and "<script" not in frame
    with pytest.raises(TypeError, match="explore a Tensor"):
        viz.explore(np.zeros(3))
    with pytest.raises(ValueError, match="HTML page"):
        page.save(tmp_path / "graph.svg")
    assert page.save(tmp_path / "graph").name == "graph.html"
    with pytest.raises(ValueError, match="heatmap"):
        viz.explore(L, heatmap=0)


def test_after_backward_the_page_shows_what_grad_kept(tmp_path):
    L, model, hs = examples.vanilla_rnn(3)
    L.backward()
    data = viz.explore(L).data
    by_title = {n["title"]: n for n in data["nodes"].values()}
    assert rel(by_title["W"]["grad"]["norm"], np.linalg.norm(model.W.grad.data)) < 1e-4
    assert by_title["h(2)"]["grad"] is None and "freed" in data["gradNote"]


def test_names_cannot_break_out_of_the_page(tmp_path):
    x = tg.tensor([1.0, 2.0], requires_grad=True, name="</script><script>alert(1)</script>")
    with tg.scope("<!--"):
        y = (x * x).sum()
    y.name = "L"
    text = viz.explore(y, tmp_path / "evil.html").path.read_text(encoding="utf-8")
    assert "<script>alert" not in text and text.count("</script>") == 2
    data = page_data(tmp_path / "evil.html")
    assert any(n["title"] == "</script><script>alert(1)</script>" for n in data["nodes"].values())


def test_a_100_step_lstm_page_stays_small():
    tg.manual_seed(0)
    lstm, readout = nn.LSTM(8, 32), nn.Linear(32, 3)
    out, _ = lstm(tg.randn(100, 8, 8))
    L = (readout(out) ** 2).mean()
    page = viz.explore(L)
    size = len(page.html.encode("utf-8"))
    assert size < 5_000_000, f"{size / 1e6:.1f} MB"
    (row,) = page.data["bars"]
    assert [b["t"] for b in row["steps"]] == sorted(s["t"] for s in page.data["schedule"])
    assert len(row["steps"]) == 100 and all(b["node"] for b in row["steps"]), "every step drawn"
