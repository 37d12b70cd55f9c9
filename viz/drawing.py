"""Drawing the graph with Graphviz: styles, the legend, escaping, and finding a layout engine.

    >>> g = viz.draw(loss)                 # a graphviz.Digraph; shows inline in Jupyter (SVG)
    >>> viz.render(loss, "rnn.svg")        # or .png, or .dot (the DOT source, no layout engine needed)

Laying out a graph needs Graphviz's ``dot``.  Setup stays pip-only: a system
``dot`` is used when there is one, otherwise ``graphviz-pure`` (``pip install
graphviz-pure``: a self-contained port of Graphviz whose executable is called
``graphviz-pure``).  graphviz-pure writes SVG, PNG and DOT but not PDF.  The
environment variable ``TGS_GRAPHVIZ`` names another executable to use.

The legend (drawn under the picture):

    parameter   orange box        a learnable weight, drawn once however many steps use it
    input       blue ellipse      data that needs no gradient: x(t), targets
    value       green rounded box a named result (h(t), forget_gate, ...)
    op          white rounded box an unnamed intermediate, labelled by its op
    loss        red octagon       the loss and the per-step losses summed into it
    detached    grey dashed       where detach() cut the graph: gradients stop here (truncated BPTT)
    scope       purple 3-D box    a collapsed scope (a whole cell or time step)
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

FONT = "Helvetica"

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


def node_label(node, show_values: bool, show_grad: bool) -> str:
    if node.kind in ("scope", "elided"):
        lines = [f"<B>{escape(node.title)}</B>"]
        small = node.detail or f"{node.members} tensor{'s' if node.members != 1 else ''}"
        lines.append(SMALL.format(escape(small)))
        return "<" + "<BR/>".join(lines) + ">"
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
    return "<" + "<BR/>".join(lines) + ">"


def cluster_label(path: str) -> str:
    name = pretty_scope(path.rpartition("/")[2])
    if time_step(path) and time_step(path)[0] == path:
        return f'<<B><FONT POINT-SIZE="13">{escape(name)}</FONT></B>>'
    return f'<<FONT POINT-SIZE="10" COLOR="#555555">{escape(name)}</FONT>>'


def legend_label(kinds_present, notes, title) -> str:
    """One HTML table under the picture: title, notes, then a swatch per kind drawn."""
    rows = []
    if title:
        rows.append(f'<TR><TD COLSPAN="20"><B><FONT POINT-SIZE="14">{escape(title, 120)}</FONT></B></TD></TR>')
    for note in notes:
        rows.append(f'<TR><TD COLSPAN="20"><FONT POINT-SIZE="10" COLOR="#8A4B00">{escape(note, 200)}</FONT></TD></TR>')
    cells = []
    for kind in KINDS:
        if kind in kinds_present:
            st = STYLE[kind]
            fill = st.get("fillcolor", "#FFFFFF")
            cells.append(
                f'<TD BGCOLOR="{fill}" COLOR="{st["color"]}" BORDER="1" CELLPADDING="3">'
                f'<FONT POINT-SIZE="10">{escape(LEGEND[kind])}</FONT></TD>'
            )
    if cells:
        rows.append("<TR>" + "".join(cells) + "</TR>")
    if not rows:
        return ""
    return '<<TABLE BORDER="0" CELLSPACING="4" CELLPADDING="2">' + "".join(rows) + "</TABLE>>"


# --------------------------------------------------------------------------- Graph -> Digraph


def to_digraph(graph: Graph, *, time_axis="horizontal", backward=False, show_values=False, show_grad=False,
               legend=True, title=None) -> TensorGraph:
    """Lay the `Graph` out as Graphviz source: nested clusters per scope, time steps in order."""
    if time_axis not in ("horizontal", "vertical"):
        raise ValueError(f"viz: time_axis must be 'horizontal' or 'vertical', got {time_axis!r}")
    g = TensorGraph("tensor_graph", format="svg")
    # Bottom to top, as the lecture draws it (x(t) below, L(t) above); time runs across.
    g.attr(rankdir="BT" if time_axis == "horizontal" else "LR", newrank="true", nodesep="0.25", ranksep="0.35",
           fontname=FONT, bgcolor="white", pad="0.2", compound="true")
    g.attr("node", fontname=FONT, fontsize="12", margin="0.12,0.05", height="0.3")
    g.attr("edge", fontname=FONT, fontsize="9", color=EDGE_COLOR, arrowsize="0.7")
    if legend or graph.notes or title:
        label = legend_label({n.kind for n in graph.nodes.values()} if legend else set(), graph.notes, title)
        if label:
            g.attr(label=label, labelloc="b", labeljust="c")

    ctx = _Emitter(graph, show_values, show_grad, backward, vertical=time_axis == "vertical")
    for n in graph.nodes.values():
        if n.kind == "parameter":
            g.node(n.id, node_label(n, show_values, show_grad), **STYLE["parameter"])
    ctx.emit(g, _cluster_tree(graph), "")
    if ctx.anchors:
        # Few rounds of crossing reduction: Graphviz's mincross may swap whole clusters (time steps) to
        # save a crossing; starting from the order of t and barely moving keeps them in order.
        g.attr(mclimit="0.01")
    ctx.pin_time_order(g)

    norms = [e.grad_norm for e in graph.edges if e.grad_norm]
    top = max(norms) if norms else None
    for e in graph.edges:
        if e.src in ctx.rows and ctx.rows[e.src] == ctx.rows.get(e.dst):
            continue  # two steps of one collapsed row: the arrow between their cells says it
        attrs = {}
        if e.cross_time:
            # sideways h(t−1) → h(t): it must not push step t up a rank, so every step lines up
            attrs.update(constraint="false", color=CROSS_TIME_COLOR, penwidth="1.4")
        elif graph.nodes[e.src].kind == "parameter":
            attrs.update(color=PARAM_EDGE_COLOR)
        if graph.nodes[e.src].kind == "detached":
            attrs.update(style="dashed")
        if backward:
            attrs.update(dir="back", color=BACKWARD_COLOR, fontcolor=BACKWARD_COLOR)
            if e.grad_norm is not None:
                attrs["label"] = "<" + escape(fmt_number(e.grad_norm)) + ">"
                # width grows with log ‖∂L/∂·‖: vanishing gradients show as ever thinner arrows
                rel = math.log10(max(e.grad_norm, 1e-30) / top) if top and top > 0 else 0.0
                attrs["penwidth"] = f"{max(0.4, 2.8 + 0.6 * rel):.2f}"
        g.edge(ctx.endpoint(e.src), ctx.endpoint(e.dst), **attrs)
    return g


def _cluster_tree(graph: Graph) -> dict:
    """path → {"nodes": [...], "children": [paths]} for every scope path that holds a node."""
    tree = {"": {"nodes": [], "children": []}}

    def ensure(path):
        if path not in tree:
            tree[path] = {"nodes": [], "children": []}
            parent = path.rpartition("/")[0]
            ensure(parent)
            tree[parent]["children"].append(path)

    for n in graph.nodes.values():
        if n.kind == "parameter":
            continue
        ensure(n.cluster)
        tree[n.cluster]["nodes"].append(n)
    return tree


def _is_step(path: str) -> bool:
    st = time_step(path)
    return st is not None and st[0] == path


class _Emitter:
    """Writes nodes and nested clusters, and keeps the time steps of each sequence in order of t.

    Graphviz orders clusters to cross few edges, not by t, so:
    * steps collapsed to boxes are drawn as the cells of one row (a table), in order, joined by arrows;
    * expanded steps each get an invisible anchor just under their lowest nodes; the anchors of a
      sequence share one rank and are chained left to right by invisible edges.
    """

    def __init__(self, graph, show_values, show_grad, backward, vertical=False):
        self.graph, self.show_values, self.show_grad, self.backward = graph, show_values, show_grad, backward
        self.vertical = vertical
        self.count = 0
        self.anchors = {}  # sequence path -> [(t, anchor id, step path)]
        self.rows = {}  # box node id -> row node id

    def endpoint(self, nid):
        return f"{self.rows[nid]}:{nid}" if nid in self.rows else nid

    def emit(self, g, tree, path):
        entry = tree[path]
        expanded_steps = {parent_path(c) for c in entry["children"] if _is_step(c)} | (
            {parent_path(path)} if _is_step(path) else set())
        boxes = [n for n in entry["nodes"] if n.kind in ("scope", "elided") and n.step is not None
                 and parent_path(n.step[0]) == path and path not in expanded_steps]
        if boxes:
            self._row(g, sorted(boxes, key=lambda n: n.step[1]))
        for n in entry["nodes"]:
            if n.id not in self.rows:
                g.node(n.id, node_label(n, self.show_values, self.show_grad), **STYLE[n.kind])
        # time steps in order of t, left to right; other scopes in order of first use
        sign = -1 if self.vertical else 1  # with rankdir=LR, Graphviz stacks a rank's nodes upwards
        for child in sorted(entry["children"], key=lambda c: (0, sign * time_step(c)[1]) if _is_step(c) else (1, 0)):
            sub = tree[child]
            if not _is_step(child) and (time_step(child) or (not sub["children"] and len(sub["nodes"]) <= 1)):
                # inside a time step, the nodes' names (forget_gate, c, h) say what a frame around them would;
                # elsewhere, a frame around a single node says nothing its name does not
                self.emit(g, tree, child)
                continue
            self.count += 1
            with g.subgraph(name=f"cluster_{self.count}") as c:
                if _is_step(child):
                    c.attr(label=cluster_label(child), style="rounded,filled", fillcolor="#F6F8FB",
                           color="#9DB3CF", fontname=FONT, penwidth="1.2", labeljust="c")
                    anchor = f"a{self.count}"
                    c.node(anchor, label="", shape="point", style="invis", width="0", height="0")
                    self.anchors.setdefault(parent_path(child), []).append((time_step(child)[1], anchor, child))
                else:
                    c.attr(label=cluster_label(child), style="rounded,dashed", color="#B8B8B8", fontname=FONT,
                           fillcolor="none", labeljust="l")
                self.emit(c, tree, child)
        chain = sorted(self.anchors.get(path, ()), key=lambda item: item[0], reverse=self.vertical)
        if len(chain) > 1:  # declared inside the sequence's own cluster, where Graphviz honours it best
            with g.subgraph() as s:
                s.attr(rank="same")
                for _, a, _ in chain:
                    s.node(a)
            for (_, a, _), (_, b, _) in zip(chain, chain[1:]):
                g.edge(a, b, style="invis")

    def _row(self, g, boxes):
        """The collapsed steps of one sequence as one table: | t = 1 | → | t = 2 | → | … 994 steps … | → ..."""
        self.count += 1
        rid = f"r{self.count}"
        arrow = ("↑" if self.backward else "↓") if self.vertical else ("←" if self.backward else "→")
        color = BACKWARD_COLOR if self.backward else CROSS_TIME_COLOR
        cells = []
        for i, n in enumerate(boxes):
            self.rows[n.id] = rid
            if i:
                cells.append(f'<TD BORDER="0"><FONT POINT-SIZE="18" COLOR="{color}">{arrow}</FONT></TD>')
            st = STYLE[n.kind]
            fill = f' BGCOLOR="{st["fillcolor"]}"' if "fillcolor" in st else ""
            style = "dashed" if n.kind == "elided" else "rounded"
            inner = node_label(n, self.show_values, self.show_grad)[1:-1]
            cells.append(f'<TD PORT="{n.id}"{fill} COLOR="{st["color"]}" BORDER="1" STYLE="{style}" '
                         f'CELLPADDING="5">{inner}</TD>')
        rows = ["<TR>" + c + "</TR>" for c in cells] if self.vertical else ["<TR>" + "".join(cells) + "</TR>"]
        g.node(rid, '<<TABLE BORDER="0" CELLSPACING="2">' + "".join(rows) + "</TABLE>>", shape="plain")

    def pin_time_order(self, g):
        """Hang each expanded step's anchor just under the step's lowest nodes (those fed by nothing inside)."""
        graph = self.graph
        inside = {}
        for n in graph.nodes.values():
            if n.step is not None and n.kind not in ("scope", "elided"):
                inside.setdefault(n.step[0], []).append(n.id)
        fed_inside = set()
        for e in graph.edges:
            step = graph.nodes[e.dst].step
            if not e.cross_time and step is not None and graph.nodes[e.src].step == step:
                fed_inside.add(e.dst)
        for chain in self.anchors.values():
            for _, anchor, step_path in chain:
                for nid in inside.get(step_path, ()):
                    if nid not in fed_inside:
                        g.edge(anchor, self.endpoint(nid), style="invis")


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
    time_axis: str = "horizontal",
    max_nodes: int = 400,
    max_steps: int = 24,
    keep_steps: int = 3,
    legend: bool = True,
    title: str | None = None,
) -> TensorGraph:
    """The graph that produced ``roots`` (a tensor, usually the loss, or a list of tensors) as a Digraph.

    Every time-step scope (``t=3``) is a cluster, in order of t from left to
    right (``time_axis="vertical"``: top to bottom); parameters are drawn once,
    with an edge into each step that uses them; losses summed into the output
    are marked.  Options:

    collapse       scopes drawn as one box: a depth (2), a name pattern ("t=*", "*_gate"), a list of
                   patterns, or a function path -> bool
    fold           hide ops that only move data (reshape, transpose, slicing out a step, stack)
    constants      draw inputs that need no gradient (x(t), targets) when the engine exposes them
    backward       the gradient flow: arrows reversed, labelled ‖∂L/∂·‖ of the tensor they leave
                   (computed here while the graph is alive, else read from .grad), width ~ log ‖∂L/∂·‖
    show_values    a value summary on each node;  show_grad  ‖∂L/∂·‖ on each node (default: with backward)
    detached       tensors where a truncated-BPTT chunk starts (the result of detach());
    mark_detached  also mark leaves without grad made outside the time steps and used inside one
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
                  mark_detached=mark_detached, max_nodes=max_nodes, max_steps=max_steps, keep_steps=keep_steps,
                  gradients=gradients)
    if backward:
        graph.notes.append("Backward view: arrows carry ∂L/∂· from the loss back to the parameters; "
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
        source = obj.source
    else:
        source = draw(obj, **options).source
    if fmt in ("dot", "gv"):
        path.write_text(source, encoding="utf-8")
    else:
        path.write_bytes(layout(source, fmt))
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


def layout(source: str, format: str = "svg") -> bytes:
    """Run the layout engine on DOT source; returns the picture's bytes (svg, png, jpg, dot, ...)."""
    exe = find_renderer()
    if exe is None:
        raise RendererNotFound("viz needs Graphviz's layout engine to render and found none: no `dot` and no "
                               "`graphviz-pure`. " + INSTALL_HINT)
    fmt = format.lower()
    if fmt == "pdf" and "graphviz-pure" in os.path.basename(exe):
        raise ValueError("graphviz-pure cannot write PDF: render SVG or PNG (an SVG converts to PDF losslessly, "
                         "e.g. with cairosvg or Inkscape), or install Graphviz's dot for PDF output")
    proc = subprocess.run([exe, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{os.path.basename(exe)} -T{fmt} failed (exit {proc.returncode}): "
                           f"{proc.stderr.decode('utf-8', 'replace').strip()[:2000]}")
    if not proc.stdout:  # e.g. a wrapper script that swallowed the output: never leave an empty picture behind
        raise RuntimeError(f"{os.path.basename(exe)} -T{fmt} exited 0 but wrote nothing"
                           + (f": {proc.stderr.decode('utf-8', 'replace').strip()[:2000]}" if proc.stderr else ""))
    return proc.stdout


class TensorGraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` whose ``pipe``/``render`` (and Jupyter display) use `find_renderer`.

    So a notebook shows the SVG inline with only ``graphviz-pure`` installed.
    """

    graph = None  # the viz.graph.Graph it was drawn from

    def pipe(self, format=None, renderer=None, formatter=None, neato_no_op=None, quiet=False, *,
             engine=None, encoding=None):
        data = layout(self.source, format or self.format or "svg")
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
        out.write_bytes(layout(self.source, fmt))
        if cleanup:
            source_path.unlink()
        if view:
            graphviz.view(out, quiet=quiet_view)
        return str(out)
