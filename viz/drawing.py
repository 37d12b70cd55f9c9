"""Drawing the graph with Graphviz: styles, the legend, escaping, and finding a layout engine.

    >>> g = viz.draw(loss)                 # a graphviz.Digraph; shows inline in Jupyter (SVG)
    >>> viz.render(loss, "rnn.svg")        # or .png, or .dot (the DOT source, no layout engine needed)

Laying out a graph needs Graphviz.  Setup stays pip-only: a system ``dot`` is
used when there is one, otherwise ``graphviz-pure`` (``pip install
graphviz-pure``: a self-contained port of Graphviz whose executable is called
``graphviz-pure``).  graphviz-pure writes SVG, PNG and DOT but not PDF.  The
environment variable ``TGS_GRAPHVIZ`` names another executable to use.

Time steps are placed, not left to Graphviz's ordering (placement.py): step t
is drawn in the t-th cell of its sequence's row, every step of one kind from
the same layout, so the order and the place of each stage hold with either
engine.  ``g.source`` is the DOT before placement (what a ``.dot`` file gets);
``g.pipe("dot")`` gives it with every position fixed.

Text is set in DejaVu Sans, whose widths both engines know (Helvetica is
measured as Helvetica and then drawn in whatever a viewer substitutes, often
wider); the SVG names Helvetica and Arial after it for viewers without it.

The legend (drawn under the picture):

    parameter   orange box        a learnable weight, drawn once however many steps use it
    input       blue ellipse      data that needs no gradient: x(t), targets
    value       green rounded box a named result (h(t), forget_gate, ...)
    op          white rounded box an unnamed intermediate, labelled by its op
    loss        red octagon       the loss and the per-step losses summed into it
    detached    grey dashed       where detach() cut the graph: gradients stop here (truncated BPTT)
    scope       purple 3-D box    a collapsed scope (a whole cell or time step)

Arrows: grey data flow, blue h(t−1) → step t, translucent orange from a parameter, a dashed
purple ⊣ from a state to its detached copy.  In the backward view red arrows carry ∂L/∂· and
grey lines without an arrow carry no gradient.
"""

from __future__ import annotations

import html
import math
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import graphviz

from .graph import KINDS, Graph, build, gradient_norms, parent_path, pretty_scope, time_step, trace
from .placement import Cell, Cluster, Row, Scene, place

FONT = "DejaVu Sans"
REVERSE = "_reverse"  # how nn names the reverse direction of a bidirectional layer (l0, l0_reverse)
SVG_FONTS = 'font-family="DejaVu Sans,Helvetica,Arial,sans-serif"'

STYLE = {  # node attributes per kind; fills light enough for black text, borders that tell kinds apart
    "parameter": {"shape": "box", "style": "filled", "fillcolor": "#FDE3C3", "color": "#D9822B", "penwidth": "1.6"},
    "input": {"shape": "ellipse", "style": "filled", "fillcolor": "#DDEBF7", "color": "#4A7FB5"},
    "value": {"shape": "box", "style": "rounded,filled", "fillcolor": "#E3F1DC", "color": "#5E9E4A"},
    "op": {"shape": "box", "style": "rounded,filled", "fillcolor": "#FFFFFF", "color": "#A0A8B2"},
    "loss": {"shape": "octagon", "style": "filled", "fillcolor": "#F8D3D0", "color": "#C0392B", "penwidth": "1.6"},
    "detached": {"shape": "ellipse", "style": "dashed,filled", "fillcolor": "#EEEEEE", "color": "#666666",
                 "penwidth": "1.6"},
    "scope": {"shape": "box3d", "style": "filled", "fillcolor": "#ECE4F6", "color": "#7B5AA6"},
    "elided": {"shape": "box", "style": "dashed,rounded", "color": "#999999", "fontcolor": "#555555"},
}
LEGEND = {
    "parameter": "parameter",
    "input": "input (no grad)",
    "value": "named value",
    "op": "op",
    "loss": "loss",
    "detached": "detached: gradient stops",
    "scope": "collapsed scope",
    "elided": "elided steps",
}
PARAM_EDGE_COLOR = "#D9822B99"  # translucent orange: the edges of weight sharing, quieter than the data flow
EDGE_COLOR, CROSS_TIME_COLOR, BACKWARD_COLOR = "#5F6B78", "#2E6DB4", "#C0392B"
CUT_COLOR, NO_GRAD_COLOR = "#8E44AD", "#B8BEC6"
SMALL = '<FONT POINT-SIZE="9" COLOR="#555555">{}</FONT>'


class RendererNotFound(RuntimeError):
    """No Graphviz layout engine: neither a system ``dot`` nor ``graphviz-pure``."""


# --------------------------------------------------------------------------- labels


def escape(text, limit: int = 48) -> str:
    """Text for an HTML-like Graphviz label: shown as typed, never parsed.

    ``& < > " '`` become entities; a newline is drawn as the two characters
    ``\\n``, a tab as a space, and other control characters as their escape (``\\x1b``), so a name
    cannot end the label or inject DOT, and a name made only of control characters still shows.
    Long names are cut at ``limit`` characters with an ellipsis.
    """
    text = "".join(c if c.isprintable() else " " if c == "\t" else repr(c)[1:-1] for c in str(text))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=True) or "&#160;"  # an empty <B></B> is a syntax error for Graphviz


def fmt_shape(shape) -> str:
    return "scalar" if len(shape) == 0 else "×".join(str(n) for n in shape)


def fmt_number(x: float) -> str:
    return f"{x:.3g}".replace("-", "−")


def summary(data) -> str:
    """A few numbers that describe a value: itself if small, else its mean and standard deviation."""
    if data.dtype.kind not in "biuf":
        return ""
    if data.size == 1:
        return "= " + fmt_number(float(data.reshape(())))
    if data.size <= 3:
        return "[" + ", ".join(fmt_number(float(v)) for v in data.reshape(-1)) + "]"
    d = data.astype(float)
    return f"mean {fmt_number(d.mean())}, std {fmt_number(d.std())}"


def lines_label(lines: list) -> str:
    """An HTML-like label of lines, each in a row of its own: a line never overlaps the next, whatever the fonts."""
    rows = "".join(f"<TR><TD>{line}</TD></TR>" for line in lines)
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{rows}</TABLE>>'


def node_label(node, show_values: bool, show_grad: bool) -> str:
    if node.kind in ("scope", "elided"):
        small = node.detail or f"{node.members} tensor{'s' if node.members != 1 else ''}"
        return lines_label([f"<B>{escape(node.title)}</B>", SMALL.format(escape(small))])
    t = node.tensor
    named = bool(t.name)
    title = f"<B>{escape(node.title)}</B>" if named or node.kind == "loss" else escape(node.title)
    small = fmt_shape(node.shape)
    if named and node.op is not None:
        small = f"{node.op} · {small}"
    if node.kind == "detached":
        small = f"detached · {small}"
    lines = [title, SMALL.format(escape(small))]
    if show_values or node.kind == "loss":
        s = summary(t.data)
        if s:
            lines.append(SMALL.format(escape(s)))
    if show_grad and node.grad_norm is not None:
        lines.append(SMALL.format("‖∂L/∂·‖ " + escape(fmt_number(node.grad_norm))))
    return lines_label(lines)


def cluster_label(path: str) -> str:
    name = pretty_scope(path.rpartition("/")[2])
    if _is_step(path):
        return f'<<B><FONT POINT-SIZE="13">{escape(name)}</FONT></B>>'
    return f'<<FONT POINT-SIZE="10" COLOR="#555555">{escape(name)}</FONT>>'


def legend_label(kinds_present, notes, title) -> str:
    """One HTML table under the picture: title, notes, then a row of swatches, one per kind drawn."""
    rows = []
    if title:
        rows.append(f'<TR><TD><B><FONT POINT-SIZE="14">{escape(title, 120)}</FONT></B></TD></TR>')
    for note in notes:
        rows.append(f'<TR><TD><FONT POINT-SIZE="10" COLOR="#8A4B00">{escape(note, 200)}</FONT></TD></TR>')
    cells = []
    for kind in KINDS:
        if kind in kinds_present:
            st = STYLE[kind]
            fill = st.get("fillcolor", "#FFFFFF")
            cells.append(
                f'<TD BGCOLOR="{fill}" COLOR="{st["color"]}" BORDER="1" CELLPADDING="5">'
                f'<FONT POINT-SIZE="10">{escape(LEGEND[kind])}</FONT></TD>'
            )
    if cells:  # a table of their own, so that a long note above does not stretch them
        rows.append('<TR><TD><TABLE BORDER="0" CELLSPACING="6" CELLPADDING="0"><TR>' + "".join(cells)
                    + "</TR></TABLE></TD></TR>")
    if not rows:
        return ""
    return '<<TABLE BORDER="0" CELLSPACING="2" CELLPADDING="2">' + "".join(rows) + "</TABLE>>"


def numbering_note(graph: Graph, vertical: bool) -> str | None:
    """The caption that states the numbering, for a graph with time steps."""
    ts = [n.step[1] for n in graph.nodes.values() if n.step is not None and n.step[1] is not None]
    if not ts:
        return None
    way = "top to bottom" if vertical else "left to right"
    return (f"Time steps t = 1 … {max(ts)} from {way}, numbered as in the lecture; "
            "h(0) (h_0 in nn) is the state before t = 1.")


# --------------------------------------------------------------------------- Graph -> Scene


def to_digraph(graph: Graph, *, time_axis="horizontal", backward=False, show_values=False, show_grad=False,
               legend=True, title=None) -> TensorGraph:
    """The `Graph` as Graphviz source: nested clusters per scope, the time steps of each sequence as one row."""
    if time_axis not in ("horizontal", "vertical"):
        raise ValueError(f"viz: time_axis must be 'horizontal' or 'vertical', got {time_axis!r}")
    scene = to_scene(graph, vertical=time_axis == "vertical", backward=backward, show_values=show_values,
                     show_grad=show_grad, legend=legend, title=title)
    g = TensorGraph("tensor_graph", format="svg")
    g.body = [line + "\n" for line in scene.dot().splitlines()[1:-1]]
    g.scene, g.scene_body = scene, list(g.body)
    return g


def to_scene(graph: Graph, *, vertical=False, backward=False, show_values=False, show_grad=False, legend=True,
             title=None) -> Scene:
    # Bottom to top, as the lecture draws it (x(t) below, L(t) above); time runs across.
    attrs = dict(rankdir="LR" if vertical else "BT", newrank="true", nodesep="0.25", ranksep="0.35", fontname=FONT,
                 bgcolor="white", pad="0.2")
    notes = list(graph.notes)
    caption = numbering_note(graph, vertical)
    if caption:
        notes.insert(0, caption)
    if any(e.cut for e in graph.edges):
        notes.append("Truncated BPTT: each chunk starts from a detached copy of the state the chunk before ended "
                     "with (dashed); no gradient crosses the cut.")
    if backward:
        notes.append("Grey lines carry no gradient: inputs such as x(t), y(t) and h(0) need none.")
    if legend or notes or title:
        label = legend_label({n.kind for n in graph.nodes.values()} if legend else set(), notes, title)
        if label:
            attrs.update(label=label, labelloc="b", labeljust="c")
    node_attrs = dict(fontname=FONT, fontsize="12", margin="0.12,0.05", height="0.3")
    edge_attrs = dict(fontname=FONT, fontsize="9", color=EDGE_COLOR, arrowsize="0.7")
    nodes = {n.id: {"label": node_label(n, show_values, show_grad), **STYLE[n.kind]} for n in graph.nodes.values()}
    clusters = _clusters(graph, vertical)
    rows = _rows(graph, clusters)
    params = {n.id for n in graph.nodes.values() if n.kind == "parameter"}
    cut = {e.dst for e in graph.edges if e.cut}
    frame = dict(style="rounded,dashed", color=CUT_COLOR, penwidth="1.4", fontname=FONT,
                 label=f'<<FONT POINT-SIZE="10" COLOR="{CUT_COLOR}">gradient stops</FONT>>')
    return Scene(attrs, node_attrs, edge_attrs, nodes, _edges(graph, backward), clusters, rows, vertical, params, cut,
                 frame)


def _edges(graph: Graph, backward: bool) -> list:
    norms = [e.grad_norm for e in graph.edges if e.grad_norm]
    top = max(norms) if norms else None
    out = []
    for e in graph.edges:
        src = graph.nodes[e.src]
        attrs = {}
        if e.cut:  # h(t) ⇢ its detached copy: where truncated BPTT stops the gradient
            attrs.update(style="dashed", color=CUT_COLOR, penwidth="1.4", arrowhead="tee",
                         label="<" + SMALL.format("detach()") + ">", constraint="false")
            out.append((e.src, e.dst, attrs))
            continue
        if e.cross_time:
            # sideways h(t−1) → h(t): it must not push step t up a rank, so every step lines up
            attrs.update(constraint="false", color=CROSS_TIME_COLOR, penwidth="1.4")
        elif src.kind == "parameter":
            attrs.update(color=PARAM_EDGE_COLOR)
        if src.kind == "detached":
            attrs.update(style="dashed")
        if backward and e.carries_grad:
            attrs.update(dir="back", color=BACKWARD_COLOR, fontcolor=BACKWARD_COLOR)
            if e.grad_norm is not None:
                attrs["label"] = "<" + escape(fmt_number(e.grad_norm)) + ">"
                # width grows with log ‖∂L/∂·‖: vanishing gradients show as ever thinner arrows
                rel = math.log10(max(e.grad_norm, 1e-30) / top) if top and top > 0 else 0.0
                attrs["penwidth"] = f"{max(0.4, 2.8 + 0.6 * rel):.2f}"
        elif backward:  # data that needs no gradient (x(t), y(t), h(0)): a plain grey line, no arrow
            attrs.update(dir="none", color=NO_GRAD_COLOR, penwidth="0.8")
        out.append((e.src, e.dst, attrs))
    return out


def _is_step(path: str) -> bool:
    st = time_step(path)
    return st is not None and st[0] == path


def _clusters(graph: Graph, vertical: bool) -> dict:
    """path → Cluster for the scopes drawn as frames, each with the nodes drawn directly inside it.

    Every time step gets a frame.  Inside a step the nodes' names (forget_gate, c, h) say what a
    frame around a smaller scope would; elsewhere a frame around a single node says nothing its name
    does not: such scopes are drawn as part of the frame around them.
    """
    held = {"": {"nodes": [], "children": []}}

    def ensure(path):
        if path not in held:
            held[path] = {"nodes": [], "children": []}
            parent = parent_path(path)
            ensure(parent)
            held[parent]["children"].append(path)

    for n in graph.nodes.values():
        ensure("" if n.kind == "parameter" else n.cluster)  # parameters outside every scope
        held["" if n.kind == "parameter" else n.cluster]["nodes"].append(n.id)

    def framed(path):
        if path == "" or _is_step(path):
            return True
        return not (time_step(path) or (not held[path]["children"] and len(held[path]["nodes"]) <= 1))

    def order(children):  # time steps in order of t, then the other scopes in order of first use
        return sorted(children, key=lambda c: (0, time_step(c)[1]) if _is_step(c) else (1, 0))

    out = {}
    step_loc = "t" if vertical else "b"  # under rankdir=BT Graphviz puts a cluster's labelloc=b on top

    def visit(path, frame):
        if framed(path):
            if path:
                style = dict(style="rounded,filled", fillcolor="#F6F8FB", color="#9DB3CF", penwidth="1.2",
                             labeljust="c") if _is_step(path) else dict(style="rounded,dashed", color="#B8B8B8",
                                                                         labeljust="l")
                out[path] = Cluster(f"cluster_{len(out)}", path, dict(label=cluster_label(path), labelloc=step_loc,
                                                                      fontname=FONT, **style))
                out[frame].children.append(path)
            else:
                out[""] = Cluster("", "", {})
            frame = path
        out[frame].nodes.extend(held[path]["nodes"])
        for child in order(held[path]["children"]):
            visit(child, frame)

    visit("", "")
    return out


def _rows(graph: Graph, clusters: dict) -> list:
    """The time steps of each sequence as one row of cells, in order of t, each chunk after the state it
    starts from (the entry: h(0), or the detached state carried over from the chunk before)."""

    def in_step(path):
        return time_step(path) is not None

    def subtree(path):
        c = clusters[path]
        return list(c.nodes) + [n for child in c.children for n in subtree(child)]

    seqs = {}  # sequence path -> [(t, Cell)]
    for path in clusters:
        if path and _is_step(path) and not in_step(parent_path(path)):
            seqs.setdefault(parent_path(path), []).append((time_step(path)[1], Cell("step", subtree(path), path)))
    for n in graph.nodes.values():
        whole_step = n.kind == "elided" or (n.kind == "scope" and n.step is not None and n.path == n.step[0])
        if whole_step and n.step is not None and not in_step(n.cluster):
            seqs.setdefault(parent_path(n.step[0]), []).append((n.step[1], Cell("node", [n.id])))

    placed = {n for cells in seqs.values() for _, c in cells for n in c.nodes}
    data_in, data_out = {}, {}
    for e in graph.edges:
        if not e.cut:
            data_out.setdefault(e.src, set()).add(e.dst)
            data_in.setdefault(e.dst, set()).add(e.src)
    # what a node inside a step reads is part of that step (x(t) beside its collapsed box), never a state
    stepwise = {n.id for n in graph.nodes.values() if n.tensor is not None and time_step(graph.drawn_scope(n.tensor))}
    rows, seq_of = [], []
    for seq, cells_of in seqs.items():
        cells = [c for _, c in sorted(cells_of, key=lambda tc: tc[0])]
        chunks = []  # runs of consecutive cells of one chunk
        for cell in cells:
            chunk = graph.nodes[cell.nodes[0]].chunk
            if not chunks or chunks[-1][0] != chunk:
                chunks.append((chunk, []))
            chunks[-1][1].append(cell)
        out = []
        for _, run in chunks:
            inside = {n for c in run for n in c.nodes}
            before = _entry(graph, set(run[0].nodes), inside, placed | stepwise, data_in, data_out)
            placed |= before
            # a sequence run backwards (the reverse direction) starts from its last step
            after = _entry(graph, set(run[-1].nodes), inside, placed | stepwise, data_in, data_out) \
                if len(run) > 1 else set()
            placed |= after
            out += [Cell("entry", [n for n in graph.nodes if n in before])] if before else []
            out += run
            out += [Cell("entry", [n for n in graph.nodes if n in after], backwards=True)] if after else []
        frame = seq
        while frame not in clusters:
            frame = parent_path(frame)
        rows.append(Row(frame, out))
        seq_of.append((seq, [t for t, _ in sorted(cells_of, key=lambda tc: tc[0])]))
    # a bidirectional layer (nn names its directions l0 and l0_reverse): the reverse direction's row is
    # drawn with the forward one, step t above step t, when both have the same steps
    index = {seq: k for k, (seq, _) in enumerate(seq_of)}
    for k, (seq, ts) in enumerate(seq_of):
        forward = index.get(seq[: -len(REVERSE)]) if seq.endswith(REVERSE) else None
        if forward is not None and seq_of[forward][1] == ts and all(_steps_in_a_run(rows[j]) for j in (k, forward)):
            rows[k].twin = forward
    return rows


def _steps_in_a_run(row: Row) -> bool:
    """Whether the row's steps follow each other with no other cell between (no chunks)."""
    kinds = "".join("s" if c.kind in ("step", "node") else "e" for c in row.cells)
    return "s" in kinds and "e" not in kinds.strip("e")


def _entry(graph, first: set, row: set, placed: set, data_in: dict, data_out: dict) -> set:
    """The state a sequence starts from, drawn just before its first step (``first``, its nodes): the
    nodes outside every step that feed the first step, and maybe later steps of the row (``row``),
    or each other, and are fed by nothing else (h(0), c(0), the detached state of the chunk before)."""
    entry, changed = set(), True
    while changed:  # grow back from the first step
        changed = False
        for n in graph.nodes.values():
            if n.id in entry or n.id in placed or n.kind in ("parameter", "loss"):
                continue
            outs = data_out.get(n.id, set())
            if outs and outs <= row | entry and outs & (first | entry):
                entry.add(n.id)
                changed = True
    changed = True
    while changed:  # anything fed from outside is computed there, not carried in
        changed = False
        for n in list(entry):
            if not data_in.get(n, set()) <= entry or not data_out.get(n, set()) <= row | entry:
                entry.discard(n)
                changed = True
    return entry


# --------------------------------------------------------------------------- the public functions


def draw(
    roots,
    *,
    collapse=None,
    fold: bool = True,
    constants: bool = True,
    backward: bool = False,
    show_values: bool = False,
    show_grad: bool | None = None,
    detached=(),
    mark_detached: bool = False,
    chunks: bool = False,
    time_axis: str = "horizontal",
    max_nodes: int = 400,
    max_steps: int = 24,
    keep_steps: int = 3,
    legend: bool = True,
    title: str | None = None,
) -> TensorGraph:
    """The graph that produced ``roots`` (a tensor, usually the loss, or a list of tensors) as a Digraph.

    Every time-step scope (``t=3``) is a cluster, placed in order of t from left
    to right (``time_axis="vertical"``: top to bottom) and numbered from 1 as in
    the lecture; parameters are drawn once, with an edge into each step that uses
    them; losses summed into the output are marked.  Options:

    collapse       scopes drawn as one box: a depth (2), a name pattern ("t=*", "*_gate"), a list of
                   patterns, or a function path -> bool
    fold           hide ops that only move data (reshape, transpose, slicing out a step, stack)
    constants      draw inputs that need no gradient (x(t), targets) when the engine exposes them
    backward       the gradient flow: arrows reversed, labelled ‖∂L/∂·‖ of the tensor they leave
                   (computed here while the graph is alive, else read from .grad), width ~ log ‖∂L/∂·‖
    show_values    a value summary on each node;  show_grad  ‖∂L/∂·‖ on each node (default: with backward)
    detached       tensors where a truncated-BPTT chunk starts (the result of detach());
    mark_detached  also mark leaves without grad made outside the time steps and used inside one
    chunks         roots are the losses of consecutive truncated-BPTT chunks, in order: drawn side by
                   side, steps numbered on across them, each detached state joined to the state it
                   was cut from by a dashed ⊣ (``viz.draw([L1, L2], chunks=True)``)
    max_nodes      larger graphs collapse their time steps, then elide the middle steps (with a note)
    max_steps      at most this many collapsed steps of one sequence side by side, else the middle is elided
    legend, title  drawn under the picture

    Returns a `TensorGraph` (a ``graphviz.Digraph``): ``.source`` is the DOT text,
    ``.render()``/``.pipe()`` use whichever Graphviz is installed.
    """
    roots_list = [roots] if not isinstance(roots, (list, tuple)) else list(roots)
    show_grad = backward if show_grad is None else show_grad
    gradients = None
    if backward or show_grad:
        order, _ = trace(roots_list, constants=False)
        gradients = gradient_norms(roots_list, order)
    graph = build(roots_list, collapse=collapse, fold=fold, constants=constants, detached=detached,
                  mark_detached=mark_detached, chunks=chunks, max_nodes=max_nodes, max_steps=max_steps,
                  keep_steps=keep_steps, gradients=gradients)
    if backward:
        graph.notes.append("Backward view: red arrows carry ∂L/∂· from the loss back to the parameters; "
                           "labels give ‖∂L/∂·‖ of the tensor each arrow leaves, widths its log.")
    g = to_digraph(graph, time_axis=time_axis, backward=backward, show_values=show_values, show_grad=show_grad,
                   legend=legend, title=title)
    g.graph = graph  # the content, for tests and for counting
    return g


def render(obj, path, format: str | None = None, **options) -> pathlib.Path:
    """Write a picture of a tensor's graph (or of a Digraph from ``draw``) to ``path``; returns the path.

    The format is taken from the suffix (.svg, .png, .dot/.gv) unless given;
    without a suffix SVG is written and ``.svg`` appended.  ``.dot`` writes the
    DOT source and needs no layout engine.  ``options`` go to ``draw``.
    """
    path = pathlib.Path(path)
    fmt = (format or path.suffix.lstrip(".") or "svg").lower()
    if not path.suffix:
        path = path.with_suffix("." + fmt)
    if hasattr(obj, "source") and not hasattr(obj, "data"):
        if options:
            raise TypeError(f"viz.render: options {sorted(options)} apply to tensors, not to an existing graph")
        g = obj
    else:
        g = draw(obj, **options)
    if fmt in ("dot", "gv"):
        path.write_text(g.source, encoding="utf-8")
    elif isinstance(g, TensorGraph):
        path.write_bytes(g.pipe(format=fmt))
    else:  # a Digraph made some other way: Graphviz lays it out as it is
        path.write_bytes(layout(g.source, fmt))
    return path


# --------------------------------------------------------------------------- the layout engine


def find_renderer() -> str | None:
    """Path of the Graphviz executable to use: $TGS_GRAPHVIZ, a system ``dot``, else ``graphviz-pure``."""
    chosen = os.environ.get("TGS_GRAPHVIZ")
    if chosen:
        found = shutil.which(chosen)
        if not found:
            raise RendererNotFound(f"TGS_GRAPHVIZ={chosen!r} is not an executable on PATH")
        return found
    dot = shutil.which("dot")
    if dot:
        return dot
    # graphviz-pure installs its executable next to the interpreter's scripts, which may not be on PATH
    # (a Jupyter kernel started from a virtual environment that was never activated)
    exe = "graphviz-pure.exe" if sys.platform == "win32" else "graphviz-pure"
    for folder in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        candidate = os.path.join(folder, exe)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("graphviz-pure")


INSTALL_HINT = (
    "Install one with `pip install graphviz-pure` (pip only, no system packages), or install Graphviz "
    "itself (apt install graphviz, brew install graphviz, conda install graphviz). Without one, the DOT "
    "source is still there: viz.draw(t).source, or viz.render(t, 'graph.dot')."
)


def layout(source: str, format: str = "svg", engine: str = "dot") -> bytes:
    """Run the layout engine on DOT source; returns the picture's bytes (svg, png, jpg, json, dot, ...).

    engine: "dot" (lay the graph out) or "neato -n2" (draw it where its ``pos`` attributes say).
    """
    exe = find_renderer()
    if exe is None:
        raise RendererNotFound("viz needs Graphviz's layout engine to render and found none: no `dot` and no "
                               "`graphviz-pure`. " + INSTALL_HINT)
    fmt = format.lower()
    if fmt == "pdf" and "graphviz-pure" in os.path.basename(exe):
        raise ValueError("graphviz-pure cannot write PDF: render SVG or PNG (an SVG converts to PDF losslessly, "
                         "e.g. with cairosvg or Inkscape), or install Graphviz's dot for PDF output")
    flags = {"dot": ["-Kdot"], "neato -n2": ["-Kneato", "-n2"]}[engine]
    proc = subprocess.run([exe, *flags, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{os.path.basename(exe)} {' '.join(flags)} -T{fmt} failed (exit {proc.returncode}): "
                           f"{proc.stderr.decode('utf-8', 'replace').strip()[:2000]}")
    if not proc.stdout:  # e.g. a wrapper script that swallowed the output: never leave an empty picture behind
        raise RuntimeError(f"{os.path.basename(exe)} -T{fmt} exited 0 but wrote nothing"
                           + (f": {proc.stderr.decode('utf-8', 'replace').strip()[:2000]}" if proc.stderr else ""))
    if fmt == "svg":  # viewers without DejaVu Sans: narrower fonts, so nothing overflows
        return proc.stdout.replace(f'font-family="{FONT}"'.encode(), SVG_FONTS.encode())
    return proc.stdout


class TensorGraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` whose ``pipe``/``render`` (and Jupyter display) place the steps in order
    (placement.py) and use `find_renderer`, so a notebook shows the SVG inline with only ``graphviz-pure``.

    Statements added to it after ``viz.draw`` (``g.node(...)``) are drawn too, but then Graphviz lays
    the whole source out by itself, without the placement.
    """

    graph = None  # the viz.graph.Graph it was drawn from
    scene = None  # the placement.Scene: what is drawn, as Graphviz attributes
    scene_body = None

    def positioned(self) -> str:
        """The DOT with every node, frame and known edge route fixed, as ``neato -n2`` draws it."""
        return place(self.scene, layout)

    def pipe(self, format=None, renderer=None, formatter=None, neato_no_op=None, quiet=False, *,
             engine=None, encoding=None):
        fmt = format or self.format or "svg"
        if self.scene is not None and self.body == self.scene_body:
            data = layout(self.positioned(), fmt, engine="neato -n2")
        else:
            data = layout(self.source, fmt)
        return data.decode(encoding) if encoding else data

    def render(self, filename=None, directory=None, view=False, cleanup=False, format=None, renderer=None,
               formatter=None, neato_no_op=None, quiet=False, quiet_view=False, *, outfile=None, engine=None,
               raise_if_result_exists=False, overwrite_source=False):
        """As ``graphviz.Digraph.render``: saves the source to ``filename`` and the picture next to it."""
        if outfile is not None:
            out = pathlib.Path(outfile)
            fmt = format or out.suffix.lstrip(".") or self.format
            source_path = out.with_suffix(".gv") if filename is None else pathlib.Path(directory or "") / filename
        else:
            fmt = format or self.format
            source_path = pathlib.Path(directory or self.directory or "") / (filename or self.filename)
            out = source_path.with_name(source_path.name + "." + fmt)
        if raise_if_result_exists and out.exists():
            raise FileExistsError(f"output file exists: {out}")
        source_path.parent.mkdir(parents=True, exist_ok=True)
        source_path.write_text(self.source, encoding="utf-8")
        out.write_bytes(self.pipe(format=fmt))
        if cleanup:
            source_path.unlink()
        if view:
            graphviz.view(out, quiet=quiet_view)
        return str(out)
