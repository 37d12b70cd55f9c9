"""The pictures as rendered: every model the library draws, read back from the SVG that Graphviz wrote.

For each model, with graphviz-pure (pip) and with a system ``dot`` when there is one
(each forced through TGS_GRAPHVIZ), the SVG is parsed with xml.etree and checked for what
a reader sees:

* the time steps of every sequence left to right (top to bottom) in order of t, numbered from 1;
* every node inside the frame of its step, and the same stage in the same place in every step;
* nothing overlapping: nodes, frames (nested or apart), text inside its node, legend text
  inside its swatch with room to spare (text widths measured with DejaVu Sans, the font viz
  sets, from the font file matplotlib ships);
* in the backward view, red arrows only on edges that carry a gradient;
* truncated BPTT: the chunks side by side, numbered on, the cut between them.
"""

import functools
import os
import re
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import tinygrad_seq as tg
import viz
import viz.drawing as vd
from tinygrad_seq import nn
from viz import examples

SVG = "{http://www.w3.org/2000/svg}"
ENGINES = {
    "graphviz-pure": "graphviz-pure is not installed (pip install graphviz-pure)",
    "dot": "no system Graphviz `dot` on this machine (apt-get install graphviz); the pip engine is tested",
}


@pytest.fixture(params=list(ENGINES))
def engine(request, monkeypatch):
    """Force one layout engine, or skip when it is not installed."""
    if shutil.which(request.param) is None:
        pytest.skip(ENGINES[request.param])
    monkeypatch.setenv("TGS_GRAPHVIZ", request.param)
    return request.param


# --------------------------------------------------------------------------- text widths


@functools.lru_cache(maxsize=2)
def font(bold: bool):
    import matplotlib
    from matplotlib import ft2font

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ft2font.FT2Font(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name))


@functools.lru_cache(maxsize=4096)
def text_width(text: str, size: float, bold: bool) -> float:
    """Width in points of ``text`` set in DejaVu Sans at ``size`` points."""
    f = font(bold)
    f.set_size(size * 50, 72)  # large, then scaled down: at 72 dpi FreeType rounds every advance to a whole point
    f.set_text(text)
    return f.get_width_height()[0] / 64 / 50


# --------------------------------------------------------------------------- reading the SVG


def numbers(text):
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)]


def outline(g):
    """Bounding box (x0, y0, x1, y1) of the shapes drawn in a group, and the polygons among them."""
    xs, ys, polygons, ellipses = [], [], [], []
    for el in g:
        tag = el.tag.replace(SVG, "")
        if tag == "polygon":
            v = numbers(el.get("points"))
            pts = list(zip(v[0::2], v[1::2]))
            polygons.append(pts)
        elif tag == "path":
            v = numbers(el.get("d"))
            pts = list(zip(v[0::2], v[1::2]))
        elif tag == "ellipse":
            cx, cy, rx, ry = (float(el.get(k)) for k in ("cx", "cy", "rx", "ry"))
            ellipses.append((cx, cy, rx, ry))
            pts = [(cx - rx, cy - ry), (cx + rx, cy + ry)]
        else:
            continue
        xs += [p[0] for p in pts]
        ys += [p[1] for p in pts]
    if not xs:
        return None, polygons, ellipses
    return (min(xs), min(ys), max(xs), max(ys)), polygons, ellipses


def texts(g):
    """[(text, x0, y0, x1, y1)]: each text element's extent, from its anchor and DejaVu Sans's widths."""
    out = []
    for t in g.iter(f"{SVG}text"):
        s = t.text or ""
        if not s.strip():
            continue
        size = float(t.get("font-size"))
        w = text_width(s, size, t.get("font-weight") == "bold")
        x, y = float(t.get("x")), float(t.get("y"))
        anchor = t.get("text-anchor", "start")
        x0 = x - w / 2 if anchor == "middle" else x - w if anchor == "end" else x
        out.append((s, x0, y - 0.76 * size, x0 + w, y + 0.24 * size))
    return out


def read(svg_bytes):
    """{'nodes': {id: (box, polygons, ellipses, texts)}, 'clusters': {name: (box, texts)},
    'edges': [(tail, head, stroke)], 'legend': [(box, texts)]} from Graphviz's SVG."""
    root = ET.fromstring(svg_bytes)
    graph = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "graph")
    out = {"nodes": {}, "clusters": {}, "edges": [], "legend": [], "root": graph}
    for g in graph.iter(f"{SVG}g"):
        kind, title = g.get("class"), g.find(f"{SVG}title")
        if kind == "node":
            box, polys, ells = outline(g)
            out["nodes"][title.text] = (box, polys, ells, texts(g))
        elif kind == "cluster":
            out["clusters"][title.text] = (outline(g)[0], texts(g))
        elif kind == "edge":
            tail, _, head = title.text.partition("->")
            strokes = [p.get("stroke") for p in g.iter(f"{SVG}path")]
            out["edges"].append((tail, head, strokes[0] if strokes else None))
    # the legend: the swatches are filled polygons of the graph's own group, each with its text
    own = [el for el in graph if el.tag == f"{SVG}polygon" and el.get("fill") not in (None, "none", "white")]
    words = [t for t in texts(graph) if not any(t in texts(g) for g in graph.iter(f"{SVG}g") if g is not graph)]
    for poly in own:
        v = numbers(poly.get("points"))
        box = (min(v[0::2]), min(v[1::2]), max(v[0::2]), max(v[1::2]))
        inside = [t for t in words if box[0] <= (t[1] + t[3]) / 2 <= box[2] and box[1] <= (t[2] + t[4]) / 2 <= box[3]]
        if inside:
            out["legend"].append((box, inside))
    return out


def disjoint(a, b, slack=0.5):
    return a[2] <= b[0] + slack or b[2] <= a[0] + slack or a[3] <= b[1] + slack or b[3] <= a[1] + slack


def contains(outer, inner, margin=0.0):
    return (outer[0] + margin <= inner[0] + 1e-6 and outer[1] + margin <= inner[1] + 1e-6
            and inner[2] <= outer[2] - margin + 1e-6 and inner[3] <= outer[3] - margin + 1e-6)


def in_polygon(p, poly):
    x, y, inside = p[0], p[1], False
    for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


# --------------------------------------------------------------------------- the models


def nn_loss(layer, T=3, input_size=3):
    tg.manual_seed(0)
    layer.name_parameters(type(layer).__name__.lower())
    x = tg.tensor(np.random.default_rng(0).standard_normal((T, 1, input_size)).astype(np.float32), name="x")
    out, _ = layer(x)
    loss = (out ** 2).sum()
    loss.name = "L"
    return loss


def attention_seq2seq():
    tg.manual_seed(0)
    model = nn.AttentionSeq2Seq(6, 6, embedding_dim=3, hidden_size=3, attention="additive", cell="composite")
    src, tgt = np.array([[3], [4], [5]]), np.array([[1], [3]])
    logits = model(src, np.array([3]), tgt)
    return (logits ** 2).sum()


MODELS = {  # name -> (tensors to draw, options of viz.draw)
    "rnn": lambda: (examples.vanilla_rnn(4)[0], {}),
    "rnn backward": lambda: (examples.vanilla_rnn(3)[0], {"backward": True}),
    "nn.RNN": lambda: (examples.recurrent("rnn", 3)[0], {}),
    "LSTM": lambda: (examples.lstm(3)[0], {}),
    "LSTM, steps collapsed": lambda: (examples.lstm(3)[0], {"collapse": "t=*"}),
    "GRU": lambda: (examples.recurrent("gru", 3)[0], {}),
    "GRU vertical": lambda: (examples.recurrent("gru", 2)[0], {"time_axis": "vertical"}),
    "PeepholeLSTM": lambda: (nn_loss(nn.PeepholeLSTM(3, 4)), {}),
    "CoupledLSTM": lambda: (nn_loss(nn.CoupledLSTM(3, 4)), {}),
    "LeakyRNN": lambda: (nn_loss(nn.LeakyRNN(3, 4)), {}),
    "TimeSkipRNN": lambda: (nn_loss(nn.TimeSkipRNN(3, 4), T=4), {}),
    "ClockworkRNN": lambda: (nn_loss(nn.ClockworkRNN(3, 4, periods=(1, 2))), {}),
    "DeepRNN": lambda: (nn_loss(nn.DeepRNN(3, 4, num_layers=2, mode="GRU"), T=2), {}),
    "EchoStateNetwork": lambda: (nn_loss(nn.EchoStateNetwork(3, 5, 2)), {}),
    "bidirectional GRU": lambda: (nn_loss(nn.GRU(3, 4, bidirectional=True)), {}),
    "bidirectional LSTM": lambda: (nn_loss(nn.LSTM(3, 4, bidirectional=True)), {}),
    "bidirectional RNN, collapsed": lambda: (nn_loss(nn.RNN(3, 4, bidirectional=True), T=4), {"collapse": "t=*"}),
    "bidirectional GRU vertical": lambda: (nn_loss(nn.GRU(3, 4, bidirectional=True), T=2), {"time_axis": "vertical"}),
    "stacked bidirectional RNN": lambda: (nn_loss(nn.RNN(3, 4, num_layers=2, bidirectional=True)), {}),
    "stacked LSTM": lambda: (nn_loss(nn.LSTM(3, 4, num_layers=2), T=2), {}),
    "seq2seq with attention": lambda: (examples.seq2seq()[0], {"collapse": ["*encoder*/t=*", "cell"]}),
    "AttentionSeq2Seq": lambda: (attention_seq2seq(), {"collapse": ["*GRU*", "*GRUCell*"]}),
    "Transformer": lambda: (examples.transformer()[0], {}),
    "long unroll": lambda: (examples.vanilla_rnn(300)[0], {}),
    "truncated BPTT": lambda: (examples.truncated_bptt(), {"chunks": True}),
    "truncated BPTT backward": lambda: (examples.truncated_bptt(), {"chunks": True, "backward": True}),
}


# the Transformer has no time steps; the echo state network's reservoir has no weight to train, so the
# engine records no graph for it and only its readout is drawn
NO_STEPS = {"Transformer", "EchoStateNetwork"}


@functools.cache
def drawn(name):
    roots, options = MODELS[name]()
    return viz.draw(roots, **options)


def rendered(name):
    g = drawn(name)
    return g, read(g.pipe(format="svg"))


def steps_of(g):
    """{sequence path: [(t, cluster name)]} for the expanded steps, and {sequence: [(t, node id)]} for boxes."""
    clusters = {p: c.name for p, c in g.scene.clusters.items()}
    frames, boxes = {}, {}
    for row in g.scene.rows:
        for cell in row.cells:
            if cell.kind == "step":
                _, t = vd.time_step(cell.cluster)
                frames.setdefault(vd.parent_path(cell.cluster), []).append((t, clusters[cell.cluster]))
            elif cell.kind == "node":
                n = g.graph.nodes[cell.nodes[0]]
                boxes.setdefault(vd.parent_path(n.step[0]), []).append((n.step[1], n.id))
    return frames, boxes


# --------------------------------------------------------------------------- order


@pytest.mark.parametrize("name", list(MODELS))
def test_steps_in_order_and_nodes_in_their_frames(name, engine):
    g, svg = rendered(name)
    vertical = g.scene.vertical
    frames, boxes = steps_of(g)
    assert frames or boxes or name in NO_STEPS, f"{name}: no time steps drawn"

    def along(box):  # (start, end) of a box along the time axis: x, or y downwards
        return (box[1], box[3]) if vertical else (box[0], box[2])

    for seq, steps in frames.items():
        ts = [t for t, _ in sorted(steps)]
        assert ts[0] >= 1, f"{name}: steps of {seq} numbered from {ts[0]}"
        laid = [along(svg["clusters"][c][0]) for _, c in sorted(steps)]
        for (t, _), a, b in zip(sorted(steps), laid, laid[1:]):
            assert a[1] < b[0], f"{name} ({engine}): step t={t} of {seq} does not end before the next one starts"
        for t, c in steps:  # its label says its t
            labels = [s for s, *_ in svg["clusters"][c][1]]
            assert f"t = {t}" in labels, f"{name}: frame of t={t} labelled {labels}"
    for seq, steps in boxes.items():
        centres = [sum(along(svg["nodes"][n][0])) / 2 for _, n in sorted(steps)]
        assert centres == sorted(centres), f"{name} ({engine}): collapsed steps of {seq} out of order"
    # every node drawn in a step lies inside that step's frame
    name_of = {p: c.name for p, c in g.scene.clusters.items()}
    for row in g.scene.rows:
        for cell in row.cells:
            if cell.kind == "step":
                frame = svg["clusters"][name_of[cell.cluster]][0]
                for n in cell.nodes:
                    assert contains(frame, svg["nodes"][n][0], margin=1.0), \
                        f"{name} ({engine}): {g.graph.nodes[n].title} sticks out of {cell.cluster}"


def test_numbering_is_stated_and_starts_at_one():
    """One convention: nn's layers count their scopes from 0, the pictures from 1, as the lecture."""
    for name in ("nn.RNN", "LSTM", "rnn", "seq2seq with attention"):
        g = drawn(name)
        ts = sorted({n.step[1] for n in g.graph.nodes.values() if n.step and n.step[1] is not None})
        assert ts[0] == 1 and ts == list(range(1, len(ts) + 1)), f"{name}: steps {ts}"
        assert "numbered as in the lecture" in g.source and "h(0)" in g.source
    # the engine's own scope is untouched; the drawn one is shifted
    g = drawn("LSTM")
    (gate, *_) = [n for n in g.graph.nodes.values() if n.title == "forget_gate" and n.step[1] == 1]
    assert "/t=0/" in gate.tensor.scope and "/t=1" in g.graph.drawn_scope(gate.tensor)


# --------------------------------------------------------------------------- the same stage in the same place


@pytest.mark.parametrize("name", ["LSTM", "GRU", "rnn", "PeepholeLSTM", "stacked LSTM"])
def test_each_stage_sits_in_the_same_place_in_every_step(name, engine):
    g, svg = rendered(name)
    name_of = {p: c.name for p, c in g.scene.clusters.items()}
    for row in g.scene.rows:
        steps = [c for c in row.cells if c.kind == "step"]
        if len(steps) < 2:
            continue
        placements = []
        for cell in steps:
            x0, y0, _, _ = svg["clusters"][name_of[cell.cluster]][0]
            named = {}
            for n in cell.nodes:
                title = re.sub(r"\d+", "#", g.graph.nodes[n].title)  # x(1), x(2): the same stage
                box = svg["nodes"][n][0]
                named.setdefault(title, []).append((round(box[0] - x0, 1), round(box[1] - y0, 1)))
            placements.append({k: sorted(v) for k, v in named.items()})
        for later in placements[1:]:
            assert later.keys() == placements[0].keys()
            for stage, where in later.items():
                assert np.allclose(where, placements[0][stage], atol=0.3), \
                    f"{name} ({engine}): {stage} moved from one step to the next: {where} vs {placements[0][stage]}"
    if name == "LSTM":  # the gates in one fixed order, left to right, in every step
        orders = []
        for cell in [c for row in g.scene.rows for c in row.cells if c.kind == "step"]:
            gates = [(svg["nodes"][n][0][0], g.graph.nodes[n].title) for n in cell.nodes
                     if g.graph.nodes[n].title.endswith(("_gate", "_candidate"))]
            orders.append([t for _, t in sorted(gates)])
        assert len(orders[0]) == 4 and all(o == orders[0] for o in orders), orders


# --------------------------------------------------------------------------- nothing overlaps, nothing is cut


@pytest.mark.parametrize("name", list(MODELS))
def test_nothing_overlaps_and_no_text_is_cut(name, engine):
    g, svg = rendered(name)
    nodes = svg["nodes"]
    boxes = {n: v[0] for n, v in nodes.items()}
    ids = sorted(boxes)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            assert disjoint(boxes[a], boxes[b]), \
                f"{name} ({engine}): {g.graph.nodes[a].title} overlaps {g.graph.nodes[b].title}"
    # text inside its node: inside the polygon or ellipse, else inside the outline with a margin
    for n, (box, polys, ells, words) in nodes.items():
        for s, x0, y0, x1, y1 in words:
            corners = [(x0, y0), (x1, y0), (x0, y1), (x1, y1)]
            if ells:
                cx, cy, rx, ry = ells[0]
                ok = all(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0 for x, y in corners)
            elif polys and len(polys[0]) >= 5 and g.graph.nodes[n].kind == "loss":  # the octagon
                ok = all(in_polygon(c, polys[0]) for c in corners)
            else:
                ok = contains(box, (x0, y0, x1, y1), margin=1.5)
            assert ok, f"{name} ({engine}): {s!r} does not fit in its node {g.graph.nodes[n].title}"
    # frames: two are apart or one holds the other, and a node is inside a frame or outside it
    frames = [v[0] for v in svg["clusters"].values()]
    for i, a in enumerate(frames):
        for b in frames[i + 1:]:
            assert disjoint(a, b) or contains(a, b) or contains(b, a), f"{name} ({engine}): frames overlap"
        for n, box in boxes.items():
            assert disjoint(a, box) or contains(a, box), \
                f"{name} ({engine}): {g.graph.nodes[n].title} straddles a frame's border"
        for s, x0, y0, x1, y1 in svg["clusters"][list(svg["clusters"])[i]][1]:  # the frame's own label
            assert contains(a, (x0, y0, x1, y1)), f"{name} ({engine}): frame label {s!r} sticks out"
    # the legend: every swatch's text inside its box with room on each side
    assert svg["legend"], f"{name}: no legend drawn"
    for box, words in svg["legend"]:
        for s, x0, y0, x1, y1 in words:
            assert contains(box, (x0, y0, x1, y1), margin=2.0), f"{name} ({engine}): legend {s!r} touches its box"


def test_the_subtitle_of_cross_entropy_does_not_touch_its_title():
    """Each line of a label sits in a row of its own: the 9-point shape under cross_entropy clears the underscore."""
    g, svg = rendered("rnn")
    for n in g.graph.nodes.values():
        if n.title == "cross_entropy":
            lines = sorted(svg["nodes"][n.id][3], key=lambda t: t[2])
            assert lines[0][0] == "cross_entropy"
            assert lines[1][2] >= lines[0][4] - 0.5, "the subtitle runs into the title's descenders"


# --------------------------------------------------------------------------- gradients, cuts


@pytest.mark.parametrize("name", ["rnn backward", "truncated BPTT backward"])
def test_backward_view_draws_gradient_arrows_only_where_a_gradient_flows(name, engine):
    g, svg = rendered(name)
    graph = g.graph
    red = vd.BACKWARD_COLOR.lower()
    carries = {(e.src, e.dst): e.carries_grad for e in graph.edges}
    seen = 0
    for tail, head, stroke in svg["edges"]:
        src = graph.nodes[tail]
        if (tail, head) not in carries:
            continue
        seen += 1
        is_red = (stroke or "").lower().startswith(red)
        assert is_red == carries[(tail, head)], f"{name}: {src.title} → {graph.nodes[head].title}"
        if src.kind in ("input", "detached"):  # x(t), y(t), h(0), the detached state: no gradient into them
            assert not is_red, f"{name}: a gradient arrow into {src.title}"
    assert seen == len(graph.edges)
    inputs = [n for n in graph.nodes.values() if n.kind in ("input", "detached")]
    assert inputs and all(n.grad_norm is None for n in inputs)


def test_truncated_bptt_draws_chunks_side_by_side_with_the_cut_between(engine):
    g, svg = rendered("truncated BPTT")
    graph = g.graph
    frames, _ = steps_of(g)
    (steps,) = frames.values()
    assert [t for t, _ in sorted(steps)] == [1, 2, 3, 4, 5, 6]  # numbered on across the chunks
    chunk_of = {t: graph.nodes[n].chunk for t in range(1, 7) for n in graph.nodes
                if graph.nodes[n].step and graph.nodes[n].step[1] == t}
    assert [chunk_of[t] for t in range(1, 7)] == [0, 0, 0, 1, 1, 1]
    (cut,) = [e for e in graph.edges if e.cut]
    src, dst = graph.nodes[cut.src], graph.nodes[cut.dst]
    assert src.title == "h(3)" and src.step[1] == 3 and dst.kind == "detached"
    assert np.shares_memory(dst.tensor.data, src.tensor.data)  # detach() keeps the values
    name_of = dict(sorted(steps))
    t3, t4 = svg["clusters"][name_of[3]][0], svg["clusters"][name_of[4]][0]
    box = svg["nodes"][dst.id][0]
    assert t3[2] < box[0] and box[2] < t4[0], "the detached state sits between the chunks"
    (frame,) = [v for k, v in svg["clusters"].items() if k.startswith("cluster_cut")]
    assert contains(frame[0], box) and "gradient stops" in [s for s, *_ in frame[1]]
    losses = sorted(n.title for n in graph.nodes.values() if n.kind == "loss" and n.step is None)
    assert losses == ["L (chunk 1)", "L (chunk 2)"]
    # h(0) of chunk 1 sits before t = 1
    (h0,) = graph.find("h(0)")
    assert svg["nodes"][h0.id][0][2] < svg["clusters"][name_of[1]][0][0]


# --------------------------------------------------------------------------- bidirectional: the directions aligned

BIDIRECTIONAL = ["bidirectional GRU", "bidirectional LSTM", "bidirectional RNN, collapsed",
                 "bidirectional GRU vertical", "stacked bidirectional RNN"]


@pytest.mark.parametrize("name", BIDIRECTIONAL)
def test_bidirectional_directions_share_their_columns(name, engine):
    """Step t of the forward and of the reverse direction in one column (one row of steps each, the reverse
    one above, or to the right with time running down), both t = 1 … T in the same order along time."""
    g, svg = rendered(name)
    vertical = g.scene.vertical
    frames, boxes = steps_of(g)
    where = {}  # sequence -> {t: box of the step (its frame, or its collapsed box)}
    for seq, steps in frames.items():
        where[seq] = {t: svg["clusters"][c][0] for t, c in steps}
    for seq, steps in boxes.items():
        where[seq] = {t: svg["nodes"][n][0] for t, n in steps}
    pairs = [(seq, seq + "_reverse") for seq in where if seq + "_reverse" in where]
    assert pairs and len(pairs) == len(where) // 2, f"{name}: directions {sorted(where)}"
    for forward, reverse in pairs:
        f, r = where[forward], where[reverse]
        assert sorted(f) == sorted(r) == list(range(1, len(f) + 1)), f"{name}: steps {sorted(f)} and {sorted(r)}"
        along = (lambda b: ((b[1] + b[3]) / 2, b[1], b[3])) if vertical else (lambda b: ((b[0] + b[2]) / 2, b[0], b[2]))
        across = (lambda b: (b[0], b[2])) if vertical else (lambda b: (b[1], b[3]))
        for t in f:  # the same column: centres agree, and so do the extents of frames of one kind
            assert abs(along(f[t])[0] - along(r[t])[0]) <= 1.0, \
                f"{name} ({engine}): t={t} of {forward} at {along(f[t])}, of {reverse} at {along(r[t])}"
        centres = [along(f[t])[0] for t in sorted(f)]
        # time runs left to right (SVG y grows downwards: top to bottom is increasing y too)
        assert centres == sorted(centres) and len(set(centres)) == len(centres), f"{name}: {centres}"
        for t in f:  # two rows apart: the reverse one above (right of) the forward one, nothing shared
            (f0, f1), (r0, r1) = across(f[t]), across(r[t])
            if vertical:
                assert f1 < r0, f"{name} ({engine}): t={t}: reverse step not right of the forward one"
            else:
                assert r1 < f0, f"{name} ({engine}): t={t}: reverse step not above the forward one"
        for a in (f, r):  # and within a row, each step apart from the next
            for t in sorted(a)[:-1]:
                assert along(a[t])[2] < along(a[t + 1])[1], f"{name} ({engine}): t={t} and t={t + 1} overlap"
    # the directions' frames: each around its own row, labelled, apart from each other
    name_of = {p: c.name for p, c in g.scene.clusters.items()}
    for forward, reverse in pairs:
        ff, rf = (svg["clusters"][name_of[p]] for p in (forward, reverse))
        assert disjoint(ff[0], rf[0]), f"{name} ({engine}): the frames of {forward} and {reverse} overlap"
        for (box, words), path, steps in ((ff, forward, where[forward]), (rf, reverse, where[reverse])):
            assert [s for s, *_ in words] == [path.rpartition("/")[2]]
            assert all(contains(box, b) for b in steps.values()), f"{name} ({engine}): a step outside {path}'s frame"
            for _, x0, y0, x1, y1 in words:
                assert all(disjoint((x0, y0, x1, y1), b) for b in steps.values()), f"{name}: label over a step"
                assert all(disjoint((x0, y0, x1, y1), v[0]) for v in svg["nodes"].values()), \
                    f"{name} ({engine}): the label of {path} runs into a node"


# --------------------------------------------------------------------------- placement holds whatever dot would do


def test_order_does_not_depend_on_the_engine_ordering_clusters(monkeypatch):
    """The steps are placed from their index: even if Graphviz laid the clusters out backwards, the
    picture keeps t in order.  Simulated by writing every step's nodes and edges in reverse order."""
    if vd.find_renderer() is None:
        pytest.skip("no Graphviz renderer")
    g = viz.draw(examples.lstm(3)[0])
    g.scene.edges.reverse()
    for c in g.scene.clusters.values():
        c.children.reverse()
        c.nodes.reverse()
    svg = read(g.pipe(format="svg"))
    frames, _ = steps_of(g)
    (steps,) = frames.values()
    xs = [svg["clusters"][c][0][0] for _, c in sorted(steps)]
    assert xs == sorted(xs)


def test_pictures_are_the_same_from_run_to_run(tmp_path):
    """No randomness in the layout (Python's string hashes differ per process): the same SVG twice."""
    if vd.find_renderer() is None:
        pytest.skip("no Graphviz renderer")
    import subprocess
    import sys

    code = "import viz; from viz import examples; print(viz.draw(examples.lstm(2)[0]).positioned())"
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in (1, 2)]
    assert runs[0] == runs[1]
