"""viz.draw / viz.render: structure of the DOT source and of the SVG that Graphviz lays out (not bytes).

The DOT is parsed with a small reader of the format viz writes; the SVG with
xml.etree.  Rendering goes through whichever renderer find_renderer picks; the
graphviz-pure test forces it by hiding any system `dot`.
"""

import re
import shutil
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import tinygrad_seq as tg
import viz
import viz.drawing as vr
from tinygrad_seq import Tensor, nn
from viz import examples

SVG = "{http://www.w3.org/2000/svg}"
needs_renderer = pytest.mark.skipif(
    vr.find_renderer() is None, reason="no Graphviz renderer (pip install graphviz-pure)"
)


# --------------------------------------------------------------------------- reading what viz wrote


def parse_dot(source):
    """{'nodes': {id: (label, attrs, cluster labels outermost first)}, 'edges': [(src, dst, attrs)],
    'clusters': [label text]} for the DOT that viz writes (one statement per line)."""
    nodes, edges, clusters, stack = {}, [], [], []
    for line in source.splitlines():
        s = line.strip()
        m = re.match(r"subgraph (cluster_\d+) \{$", s)
        if m:
            stack.append(None)
            continue
        if s in ("{", "subgraph {"):
            stack.append("anonymous")
            continue
        if s == "}":
            if stack:
                stack.pop()
            continue
        if stack and stack[-1] is None and s.startswith(("color=", "label=", "style=")):
            label = re.search(r"label=<(.*?)> ", s + " ")
            text = re.sub(r"<[^>]+>", "", label.group(1)) if label else ""
            stack[-1] = text
            clusters.append(text)
            continue
        m = re.match(r'(\S+) -> (\S+)(?: \[(.*)\])?$', s)
        if m:
            edges.append((m.group(1), m.group(2), m.group(3) or ""))
            continue
        m = re.match(r"(\w+) \[label=(<.*>|\"\") ?(.*)\]$", s)
        if m:
            nodes[m.group(1)] = (m.group(2), m.group(3), [c for c in stack if c not in (None, "anonymous")])
    return {"nodes": nodes, "edges": edges, "clusters": clusters}


def text_of(label):
    """The visible text of an HTML-like label, entities decoded."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", " ", label)).split()


def find_node(dot, title):
    ids = [nid for nid, (label, _, _) in dot["nodes"].items() if text_of(label)[:1] == [title]]
    return ids


def parse_svg(data):
    root = ET.fromstring(data)
    out = {"node": [], "edge": [], "cluster": []}
    for g in root.iter(f"{SVG}g"):
        kind = g.get("class")
        if kind in out:
            title = g.find(f"{SVG}title").text
            texts = [t.text or "" for t in g.iter(f"{SVG}text")]
            xs = [float(t.get("x")) for t in g.iter(f"{SVG}text")]
            out[kind].append((title, texts, xs))
    return out


def step_clusters_in_order(svg):
    """Labels 't = k' of the clusters, sorted by the x of their label (left to right)."""
    found = [(xs[0], texts[0]) for _, texts, xs in svg["cluster"] if texts and texts[0].startswith("t = ")]
    return [label for _, label in sorted(found)]


# --------------------------------------------------------------------------- the lecture's RNN


@pytest.mark.parametrize("T", [1, 4, 7])
def test_rnn_has_one_cluster_per_step_and_shares_W(T):
    L, model, hs = examples.vanilla_rnn(T)
    dot = parse_dot(viz.draw(L).source)
    assert sorted(c for c in dot["clusters"] if c.startswith("t = ")) == sorted(f"t = {t}" for t in range(1, T + 1))
    for name in ("U", "W", "V", "b", "c"):
        ids = find_node(dot, name)
        assert len(ids) == 1, f"parameter {name} drawn {len(ids)} times"
        (pid,) = ids
        assert dot["nodes"][pid][2] == [], f"{name} must sit outside every cluster"
        targets = [d for s, d, _ in dot["edges"] if s == pid]
        assert len(targets) == T, f"{name} has {len(targets)} outgoing edges, expected one per step"
        steps = {next(c for c in dot["nodes"][d][2] if c.startswith("t = ")) for d in targets}
        assert len(steps) == T  # one edge into each step, not T into one
    # the per-step losses L(t) feed the total L directly
    (lid,) = find_node(dot, "L")
    feeding = sorted(text_of(dot["nodes"][s][0])[0] for s, d, _ in dot["edges"] if d == lid)
    assert feeding == sorted(f"L({t})" for t in range(1, T + 1))
    for t in range(1, T + 1):
        (nid,) = find_node(dot, f"L({t})")
        assert "octagon" in dot["nodes"][nid][1]  # drawn as a loss
    # h(t−1) → step t: the recurrence is drawn sideways between consecutive steps
    cross = [(s, d) for s, d, a in dot["edges"] if "constraint=false" in a]
    assert len(cross) == T - 1
    assert "numbered as in the lecture" in viz.draw(L).source  # the caption states the convention


@needs_renderer
def test_rendered_svg_has_steps_left_to_right_and_W_edges():
    T = 6
    L, model, hs = examples.vanilla_rnn(T)
    g = viz.draw(L)
    svg = parse_svg(g.pipe(format="svg"))
    assert step_clusters_in_order(svg) == [f"t = {t}" for t in range(1, T + 1)]
    (wid,) = [title for title, texts, _ in svg["node"] if texts[:1] == ["W"]]
    assert sum(1 for title, _, _ in svg["edge"] if title.startswith(wid + "->")) == T
    legend = [t for g_ in ET.fromstring(g.pipe(format="svg")).iter(f"{SVG}text") for t in [g_.text]]
    assert "parameter" in legend and "loss" in legend  # the legend is drawn on the picture


@needs_renderer
def test_vertical_time_axis_stacks_steps_top_to_bottom():
    L, _, _ = examples.vanilla_rnn(3)
    g = viz.draw(L, time_axis="vertical")
    assert "rankdir=LR" in g.source
    svg = parse_svg(g.pipe(format="svg"))
    ys = {}
    for _, texts, _ in svg["cluster"]:
        if texts and texts[0].startswith("t = "):
            ys[texts[0]] = None
    root = ET.fromstring(g.pipe(format="svg"))
    pos = {t.text: float(t.get("y")) for t in root.iter(f"{SVG}text") if (t.text or "").startswith("t = ")}
    assert pos["t = 1"] < pos["t = 2"] < pos["t = 3"]  # SVG y grows downwards


def test_nn_rnn_weights_drawn_once_with_an_edge_into_every_step():
    T = 5
    rnn = nn.RNN(3, 4).name_parameters("rnn")
    out, h = rnn(tg.randn(T, 2, 3))
    loss = (out ** 2).sum()
    dot = parse_dot(viz.draw(loss).source)
    (wid,) = find_node(dot, "rnn.weight_hh_l0")
    targets = [d for s, d, _ in dot["edges"] if s == wid]
    # W_hh.T is taken in every step: folding the transpose leaves W_hh with one edge per step that uses it
    # (step 1 multiplies the zero initial state too)
    assert len(targets) == T
    # nn counts its scopes from 0 (RNN/l0/t=0); the picture numbers the steps from 1, as the lecture
    assert sorted(c for c in dot["clusters"] if c.startswith("t = ")) == [f"t = {t}" for t in range(1, T + 1)]
    unfolded = parse_dot(viz.draw(loss, fold=False).source)
    assert len(unfolded["nodes"]) > len(dot["nodes"])  # the permute / select nodes come back


# --------------------------------------------------------------------------- collapsing


def test_collapsing_steps_replaces_each_step_by_one_box():
    T = 3
    L, model = examples.lstm(T)
    full = viz.draw(L).graph
    boxed = viz.draw(L, collapse="t=*").graph
    inside = [n for n in full.nodes.values() if n.step is not None]
    assert len(inside) > 10 * T
    assert len(boxed.nodes) == len(full.nodes) - len(inside) + T
    boxes = [n for n in boxed.nodes.values() if n.kind == "scope"]
    assert sorted(n.title for n in boxes) == [f"t = {t}" for t in range(1, T + 1)]
    assert sum(n.members for n in boxes) >= len(inside)  # every tensor of a step went into its box
    # the LSTM's weight_hh still has one edge into each step's box
    (w,) = boxed.find("lstm.weight_hh_l0")
    assert sorted(boxed.nodes[e.dst].title for e in boxed.out_edges(w.id)) == [f"t = {t}" for t in range(1, T + 1)]
    # the collapsed steps are the cells of one row, in order of t, after the state they start from
    (row,) = viz.draw(L, collapse="t=*").scene.rows
    assert [c.kind for c in row.cells] == ["entry"] + ["node"] * T
    assert [boxed.nodes[c.nodes[0]].title for c in row.cells[1:]] == [f"t = {t}" for t in range(1, T + 1)]
    assert sorted(boxed.nodes[n].title for n in row.cells[0].nodes) == ["c_0", "h_0"]


def test_collapse_by_depth_by_pattern_and_by_function():
    L, model = examples.lstm(3)
    n_full = len(viz.draw(L).graph.nodes)
    gates = viz.draw(L, collapse="*_gate").graph
    # input, forget and output gate (the cell candidate is not a *_gate) in each of the 3 steps
    assert sorted(n.title for n in gates.nodes.values() if n.kind == "scope") == sorted(
        ["input_gate", "forget_gate", "output_gate"] * 3
    )
    depth2 = viz.draw(L, collapse=2).graph  # LSTM/l0 as one box
    assert [n.title for n in depth2.nodes.values() if n.kind == "scope"] == ["l0"]
    assert len(depth2.nodes) < len(gates.nodes) <= n_full
    fn = viz.draw(L, collapse=lambda path: path.endswith("t=1")).graph
    assert [n.title for n in fn.nodes.values() if n.kind == "scope"] == ["t = 1"]
    with pytest.raises(ValueError, match="collapse depth"):
        viz.draw(L, collapse=0)
    with pytest.raises(TypeError, match="collapse must be"):
        viz.draw(L, collapse=[1.5])


def test_large_unroll_collapses_and_elides_with_a_note():
    L, _, _ = examples.vanilla_rnn(300)
    g = viz.draw(L, max_nodes=100, keep_steps=2)
    graph = g.graph
    assert len(graph.nodes) <= 100
    assert graph.tensor_count > 3000
    titles = sorted(n.title for n in graph.nodes.values() if n.kind == "scope")
    assert titles == sorted(["t = 1", "t = 2", "t = 299", "t = 300"])
    (elided,) = [n for n in graph.nodes.values() if n.kind == "elided"]
    assert elided.title == "… 296 steps …" and elided.detail == "t = 3 … 298"
    assert any("each time step drawn as one box" in note for note in graph.notes)
    assert "first and last 2 steps" in g.source  # the note is drawn on the picture
    (w,) = graph.find("W")
    assert len(graph.out_edges(w.id)) == 5  # four boxes and the elided steps


def test_long_rows_of_collapsed_steps_are_elided():
    L, _, _ = examples.vanilla_rnn(30)
    full_row = viz.draw(L, collapse="t=*", max_steps=30).graph
    assert len([n for n in full_row.nodes.values() if n.kind == "scope"]) == 30
    short = viz.draw(L, collapse="t=*", max_steps=10, keep_steps=3).graph
    assert len([n for n in short.nodes.values() if n.kind == "scope"]) == 6
    assert [n.detail for n in short.nodes.values() if n.kind == "elided"] == ["t = 4 … 27"]


@needs_renderer
def test_thousand_step_unroll_renders_in_seconds():
    start = time.perf_counter()
    L, _, _ = examples.vanilla_rnn(1000)
    data = viz.draw(L).pipe(format="svg")
    seconds = time.perf_counter() - start
    svg = parse_svg(data)
    assert len(svg["node"]) < 40
    assert seconds < 30, f"1,000-step unroll took {seconds:.1f} s"


# --------------------------------------------------------------------------- escaping


HOSTILE = 'W" ];\n evil -> x [label="}{<b>&amp;</b>'


@needs_renderer
def test_hostile_names_render_as_text():
    W = nn.Parameter(np.eye(2), name=HOSTILE)
    x = Tensor([1.0, 2.0], name="<x> & {y}")
    h = (W @ x).tanh()
    h.name = "h'\"\n{"
    with tg.scope('s="1"<&>'):  # a scope name is a label too (of a cluster: two ops in it)
        loss = (h * 2.0).sum()
    g = viz.draw(loss, title='ti"tle <&>')
    W2 = nn.Parameter(np.eye(2), name="W")
    h2 = (W2 @ Tensor([1.0, 2.0], name="x")).tanh()
    h2.name = "h"
    with tg.scope("s"):
        plain = parse_dot(viz.draw((h2 * 2.0).sum()).source)
    dot = parse_dot(g.source)
    # nothing injected: the same nodes and edges as with plain names
    # W, x, matmul, h, mul, sum
    assert (len(dot["nodes"]), len(dot["edges"])) == (len(plain["nodes"]), len(plain["edges"])) == (6, 5)
    assert "evil" not in dot["nodes"]
    svg = parse_svg(g.pipe(format="svg"))
    assert (len(svg["node"]), len(svg["edge"]), len(svg["cluster"])) == (6, 5, 1)
    texts = [t for _, ts, _ in svg["node"] for t in ts]
    assert 'W" ];\\n evil -> x [label="}{<b>&amp;</b>' in texts  # shown exactly as typed, the newline as \n
    assert "h'\"\\n{" in texts
    all_text = "".join(t.text or "" for t in ET.fromstring(g.pipe(format="svg")).iter(f"{SVG}text"))
    assert 'ti"tle <&>' in all_text and 's="1"<&>' in all_text


def test_escape_cuts_long_names_and_shows_control_characters_as_escapes():
    assert vr.escape("a" * 100, limit=10) == "a" * 9 + "…"
    assert vr.escape("a\x00b\x1bc") == "a\\x00b\\x1bc"
    assert vr.escape("") == "&#160;"  # never an empty label
    assert vr.escape("<&>\"'") == "&lt;&amp;&gt;&quot;&#x27;"


# --------------------------------------------------------------------------- rendering


@needs_renderer
def test_renders_through_graphviz_pure_without_a_system_dot(monkeypatch, tmp_path):
    real_which = shutil.which
    monkeypatch.setattr(vr.shutil, "which", lambda name: None if name == "dot" else real_which(name))
    monkeypatch.delenv("TGS_GRAPHVIZ", raising=False)
    exe = vr.find_renderer()
    if exe is None or "graphviz-pure" not in exe:
        pytest.skip("graphviz-pure is not installed")
    L, _, _ = examples.vanilla_rnn(2)
    out = viz.render(L, tmp_path / "rnn.svg")
    assert parse_svg(out.read_bytes())["cluster"]
    png = viz.render(L, tmp_path / "rnn.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dot = viz.render(L, tmp_path / "rnn.dot")
    assert dot.read_text().startswith("digraph")
    assert viz.render(L, tmp_path / "noext").suffix == ".svg"
    svg_inline = viz.draw(L)._repr_mimebundle_()["image/svg+xml"]  # what Jupyter shows
    assert "<svg" in svg_inline
    path = viz.draw(L).render(str(tmp_path / "g"), format="png")  # graphviz's own API works too
    assert path.endswith("g.png")
    with pytest.raises(ValueError, match="cannot write PDF"):
        viz.render(L, tmp_path / "rnn.pdf")


def test_without_a_renderer_draw_works_and_render_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.setattr(vr, "find_renderer", lambda: None)
    L, _, _ = examples.vanilla_rnn(2)
    g = viz.draw(L)
    assert g.source.startswith("digraph")
    viz.render(L, tmp_path / "ok.dot")  # the DOT source needs no layout engine
    with pytest.raises(viz.RendererNotFound, match="pip install graphviz-pure"):
        viz.render(L, tmp_path / "x.svg")
    with pytest.raises(viz.RendererNotFound):
        g.pipe(format="svg")


def test_chosen_renderer_must_exist(monkeypatch):
    monkeypatch.setenv("TGS_GRAPHVIZ", "no-such-graphviz-executable")
    with pytest.raises(viz.RendererNotFound, match="TGS_GRAPHVIZ"):
        vr.find_renderer()


# --------------------------------------------------------------------------- backward view, cuts, inputs


def test_backward_view_gradient_norms_match_backward():
    L, model, hs = examples.vanilla_rnn(4)
    g = viz.draw(L, backward=True)
    graph = g.graph
    for h in hs:
        h.retain_grad()
    L.backward()  # the graph was still alive when draw computed its own gradients
    for t, h in enumerate(hs, start=1):
        (node,) = graph.find(f"h({t})")
        np.testing.assert_allclose(node.grad_norm, np.linalg.norm(h.grad.data), rtol=1e-5)
    (w,) = graph.find("W")
    np.testing.assert_allclose(w.grad_norm, np.linalg.norm(model.W.grad.data), rtol=1e-5)
    # red arrows backwards where a gradient flows; a plain line out of x(t) and h(0), which need none
    carries = {(e.src, e.dst): e.carries_grad for e in graph.edges}
    for s, d, a in parse_dot(g.source)["edges"]:
        assert ("dir=back" in a) == carries[(s, d)] and ("dir=none" in a) == (not carries[(s, d)])
        if graph.nodes[s].kind == "input":
            assert not carries[(s, d)], f"a gradient into {graph.nodes[s].title}"
    assert sum(carries.values()) > len(carries) / 2
    # after backward the graph is freed: the view falls back to the stored .grad of the leaves
    again = viz.draw(L, backward=True).graph
    (w2,) = again.find("W")
    np.testing.assert_allclose(w2.grad_norm, np.linalg.norm(model.W.grad.data), rtol=1e-5)


@pytest.fixture
def tensor_inputs(monkeypatch):
    """Give Tensor an ``inputs`` view (every input of its op, constants too) if the engine has none yet."""
    if not hasattr(Tensor, "inputs"):
        monkeypatch.setattr(
            Tensor, "inputs", property(lambda t: () if t.grad_fn is None else t.grad_fn.inputs), raising=False
        )


def test_constant_inputs_are_drawn_when_the_engine_exposes_them(tensor_inputs):
    L, _, _ = examples.vanilla_rnn(3)
    graph = viz.draw(L).graph
    for t in (1, 2, 3):
        (x,) = graph.find(f"x({t})")
        assert x.kind == "input" and x.cluster.endswith(f"t={t}")
    assert not viz.draw(L, constants=False).graph.find("x(1)")


def test_truncated_bptt_cut_is_marked(tensor_inputs):
    model = examples.VanillaRNN(2, 3, 2)
    rng = np.random.default_rng(0)
    _, _, h = model(rng.standard_normal((3, 2)), [0, 1, 0])
    h0 = h.detach()  # the cut: chunk 2 starts from chunk 1's last state
    L2, _, _ = model(rng.standard_normal((3, 2)), [1, 1, 0], h0=h0)
    marked = viz.draw(L2, mark_detached=True).graph
    (cut,) = [n for n in marked.nodes.values() if n.kind == "detached"]
    assert cut.tensor is h0
    explicit = viz.draw(L2, detached=[h0])
    assert [n.tensor for n in explicit.graph.nodes.values() if n.kind == "detached"] == [h0]
    (cid,) = [nid for nid, (label, attrs, _) in parse_dot(explicit.source)["nodes"].items() if "dashed" in attrs]
    assert all("dashed" in a for s, _, a in parse_dot(explicit.source)["edges"] if s == cid)
    assert not [n for n in viz.draw(L2).graph.nodes.values() if n.kind == "detached"]


def test_bad_arguments_name_the_problem():
    with pytest.raises(TypeError, match="draw a Tensor"):
        viz.draw([1, 2])
    L, _, _ = examples.vanilla_rnn(2)
    with pytest.raises(ValueError, match="time_axis"):
        viz.draw(L, time_axis="diagonal")
    with pytest.raises(TypeError, match="options"):
        viz.render(viz.draw(L), "x.svg", collapse=2)


def test_seq2seq_with_attention_draws_encoder_and_decoder_steps():
    L, alignment = examples.seq2seq(S=4, T=3)
    graph = viz.draw(L, collapse=["*encoder*/t=*", "cell"]).graph
    enc = [n for n in graph.nodes.values() if n.kind == "scope" and "encoder" in n.cluster]
    assert sorted(n.title for n in enc) == [f"t = {t}" for t in range(1, 5)]
    alphas = graph.find("alpha")
    assert len(alphas) == 3  # one attention per decoder step
    # every encoder state reaches every decoder step's scores: attention looks at the whole source
    for box in enc:
        steps = {graph.nodes[e.dst].step[1] for e in graph.out_edges(box.id)
                 if graph.nodes[e.dst].step and "decoder" in graph.nodes[e.dst].step[0]}
        assert steps == {1, 2, 3}
    assert alignment.shape == (3, 4)
    np.testing.assert_allclose(alignment.sum(axis=1), 1.0, rtol=1e-5)


def test_chunks_of_an_nn_layer_are_numbered_on_and_joined_by_the_cut(tensor_inputs):
    """nn.RNN counts each chunk's scopes from 0 again, and its h_n is a stack of the last h: the
    drawing numbers the steps 1 … 6 and finds the state the second chunk was detached from by value."""
    tg.manual_seed(0)
    rnn = nn.RNN(2, 3).name_parameters("rnn")
    x = tg.randn(6, 1, 2)
    out1, h1 = rnn(x[:3])
    out2, _ = rnn(x[3:], h1.detach())
    L1, L2 = (out1 ** 2).sum(), (out2 ** 2).sum()
    graph = viz.draw([L1, L2], chunks=True).graph
    steps = sorted({n.step[1] for n in graph.nodes.values() if n.step and n.kind != "detached"})
    assert steps == [1, 2, 3, 4, 5, 6]
    assert {n.chunk for n in graph.nodes.values() if n.step and n.step[1] <= 3} == {0}
    assert {n.chunk for n in graph.nodes.values() if n.step and n.step[1] >= 4} == {1}
    (cut,) = [e for e in graph.edges if e.cut]
    src, dst = graph.nodes[cut.src], graph.nodes[cut.dst]
    assert src.title == "h" and src.step[1] == 3  # the last state of chunk 1 ...
    assert dst.kind == "detached" and np.array_equal(dst.tensor.data.reshape(-1), src.tensor.data.reshape(-1))
    assert not cut.carries_grad
    # without chunks=True the two graphs would share their step scopes: a list of roots is drawn as is
    together = viz.draw([L1, L2]).graph
    assert not [e for e in together.edges if e.cut]
