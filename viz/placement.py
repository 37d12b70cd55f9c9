"""Where every node of a drawing goes: the time steps placed in order from their index, then drawn.

Graphviz's ``dot`` orders clusters to cross few edges, not by time: left alone it may draw
t = 2 before t = 1, or one step's gates in another order than the next step's.  So a picture
with time steps is laid out in four runs of the layout engine, none of which can reorder them:

1. *measure*: the size of every node, from its label;
2. *one step*: each kind of step (the same ops, wired the same way) is laid out once, alone,
   and every step of that kind is drawn from that one layout, so each stage sits in the same
   place in every step;
3. *the rest*: each sequence of steps stands in as one box, a table with one cell per step in
   order of t (and a cell for the state it starts from), and ``dot`` lays out the parameters,
   inputs, losses and other layers around it;
4. *drawing*: every node is pinned where 1–3 put it (step t in cell t) and ``neato -n2`` draws
   the picture, routing the edges between steps and between a step and the rest.

A `Scene` is the drawing as Graphviz sees it (attributes of nodes, edges and clusters, and
the rows of steps); ``place(scene, run)`` returns DOT with every position fixed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re

import numpy as np

from .routes import FRAME, NODE, Box, route

PAD = 16.0  # points between a step's frame and the edge of its cell: two steps' frames are 2·PAD apart
ENTRY_GAP = 14.0  # points between the nodes a sequence starts from
LABEL_ROOM = 16.0  # points kept free for the label of a direction's frame ("l0_reverse") in a band of twin rows
FRAME_INSET = 3.0  # points between a direction's frame and the edge of its part of the band
TEXT_SIZE = re.compile(r'POINT-SIZE="([\d.]+)"')
STEP_FRAME = "cluster_1"  # the name of a step's own frame in its template


@dataclasses.dataclass
class Cluster:
    name: str  # DOT name, cluster_<k>
    path: str  # the scope it frames, steps numbered as drawn
    attrs: dict
    children: list = dataclasses.field(default_factory=list)  # paths, in drawing order
    nodes: list = dataclasses.field(default_factory=list)  # ids of the nodes drawn directly inside


@dataclasses.dataclass
class Cell:
    """One place in a row: an expanded step (a cluster), a node (a collapsed step, the elided steps),
    or the entry: the state the steps after it start from (h(0), or the detached state of a chunk)."""

    kind: str  # "step" | "node" | "entry"
    nodes: list  # ids of the nodes drawn in it
    cluster: str | None = None  # "step": the path of its cluster
    backwards: bool = False  # "entry" after the steps: the state a reverse direction starts from


@dataclasses.dataclass
class Row:
    """A sequence of time steps, drawn left to right (top to bottom with a vertical time axis)."""

    cluster: str  # path of the cluster the row is drawn in
    cells: list
    # the reverse direction of a bidirectional layer: the index of the forward direction's row.  The two
    # are drawn as one band, step t of each in the same column (this row above the other one, or to
    # its right with a vertical time axis), as the lecture draws a bidirectional RNN
    twin: int | None = None


@dataclasses.dataclass
class Scene:
    attrs: dict  # of the whole graph (rankdir, the legend as its label, ...)
    node_attrs: dict  # defaults
    edge_attrs: dict
    nodes: dict  # id -> attributes (label, shape, ...)
    edges: list  # (tail, head, attributes)
    clusters: dict  # path -> Cluster; "" is the graph itself
    rows: list
    vertical: bool = False
    free: set = dataclasses.field(default_factory=set)  # nodes that may go on either side of a row (parameters)
    cut: set = dataclasses.field(default_factory=set)  # detached states, framed where the gradient stops
    cut_frame: dict = dataclasses.field(default_factory=dict)  # attributes of that frame

    def dot(self, name: str = "tensor_graph") -> str:
        """The DOT text, nothing placed: what ``viz.render(…, "x.dot")`` writes."""
        return write_dot(name, self.attrs, self.node_attrs, self.edge_attrs, self.clusters, "", self.nodes,
                         self.edges)


# --------------------------------------------------------------------------- DOT text


def quote(value) -> str:
    """A DOT attribute value: HTML-like labels (``<…>``), names and numbers as they are, anything else quoted."""
    text = str(value)
    if (text.startswith("<") and text.endswith(">")) or re.fullmatch(r"[A-Za-z_]\w*|-?(\d+\.?\d*|\.\d+)", text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def attr_list(attrs: dict) -> str:
    return " ".join(f"{k}={quote(v)}" for k, v in attrs.items())


def write_dot(name, attrs, node_attrs, edge_attrs, clusters, top, nodes, edges) -> str:
    """DOT for the cluster tree under ``top``, with the given nodes (id -> attrs) and edges, one statement a line.

    Clusters without any node left in them (all of it drawn elsewhere) are left out.
    """
    lines = [f"digraph {name} {{"]
    if attrs:
        lines.append(f"\tgraph [{attr_list(attrs)}]")
    if node_attrs:
        lines.append(f"\tnode [{attr_list(node_attrs)}]")
    if edge_attrs:
        lines.append(f"\tedge [{attr_list(edge_attrs)}]")

    def holds(path):
        c = clusters[path]
        return any(n in nodes for n in c.nodes) or any(holds(p) for p in c.children)

    def emit(path, depth):
        c = clusters[path]
        pad = "\t" * depth
        for n in c.nodes:
            if n in nodes:
                lines.append(f"{pad}{n} [{attr_list(nodes[n])}]")
        for child in c.children:
            if not holds(child):
                continue
            sub = clusters[child]
            lines.append(f"{pad}subgraph {sub.name} {{")
            lines.append(f"{pad}\t{attr_list(sub.attrs)}")
            emit(child, depth + 1)
            lines.append(f"{pad}}}")

    emit(top, 1)
    for tail, head, a in edges:
        lines.append(f"\t{tail} -> {head}" + (f" [{attr_list(a)}]" if a else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- reading what Graphviz wrote


def read_json(data: bytes) -> list:
    """The graphs of a ``-Tjson`` output (one JSON object per graph of the input)."""
    text, out, i, decoder = data.decode("utf-8"), [], 0, json.JSONDecoder()
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = decoder.raw_decode(text, i)
        out.append(obj)


def numbers(text: str) -> list:
    return [float(v) for v in text.replace(",", " ").split()]


def layout_of(graph: dict) -> dict:
    """{'bb', 'lp', 'nodes': {name: (x, y, w, h)}, 'edges': {id: (pos, lp)}, 'clusters': {name: (bb, lp)}}."""
    objects = graph.get("objects", [])
    out = {"bb": numbers(graph["bb"]), "lp": graph.get("lp"), "nodes": {}, "edges": {}, "clusters": {}}
    for o in objects:
        if "nodes" in o or o.get("name", "").startswith("cluster"):
            if "bb" in o:
                out["clusters"][o["name"]] = (numbers(o["bb"]), o.get("lp"))
                if o.get("lp") and "lwidth" in o:  # the label's size, in points
                    out.setdefault("labels", {})[o["name"]] = (float(o["lwidth"]) * 72, float(o["lheight"]) * 72)
        elif "pos" in o:
            x, y = numbers(o["pos"])
            out["nodes"][o["name"]] = (x, y, float(o["width"]) * 72, float(o["height"]) * 72)
    for e in graph.get("edges", []):
        if "id" in e and "pos" in e:
            out["edges"][e["id"]] = (e["pos"], e.get("lp"))
    return out


def shifted(pos: str, dx: float, dy: float) -> str:
    """A spline ``pos`` ("e,x,y x,y …") or point moved by (dx, dy)."""
    out = []
    for token in pos.split():
        parts = token.split(",")
        head = parts[:-2]  # "e" / "s" marks an arrow's end point
        x, y = float(parts[-2]), float(parts[-1])
        out.append(",".join([*head, f"{x + dx:.2f}", f"{y + dy:.2f}"]))
    return " ".join(out)


# --------------------------------------------------------------------------- text the engine may measure wrongly

# DejaVu Sans advance widths in em of the characters outside ASCII that viz writes
WIDE = {"×": 0.838, "−": 0.838, "…": 1.0, "‖": 0.5, "∂": 0.517, "·": 0.318, "→": 0.838, "←": 0.838,
        "↑": 0.838, "↓": 0.838, "∇": 0.838, "Σ": 0.721, "≤": 0.838}
SPACE = 0.318  # DejaVu Sans


def shortfall(label: str) -> float:
    """Points by which an engine that counts each byte of a non-ASCII character as a space
    (graphviz-pure) underestimates the widest line of an HTML label; 0 if it does not."""
    worst = 0.0
    for line in re.split(r"<BR/>|</TR>", label):
        size = float(TEXT_SIZE.search(line).group(1)) if TEXT_SIZE.search(line) else 12.0
        text = re.sub(r"<[^>]+>", "", line)
        text = re.sub(r"&#x?[0-9a-fA-F]+;|&[a-z]+;", "x", text)  # entities of ASCII characters: as wide as a letter
        under = sum(WIDE.get(c, 1.0) - SPACE * len(c.encode("utf-8")) for c in text if ord(c) > 127)
        worst = max(worst, under * size)
    return worst


# --------------------------------------------------------------------------- the four runs


def place(scene: Scene, run) -> str:
    """DOT with every node, cluster and known edge route fixed, for ``neato -n2``.

    run(source, format, engine) -> bytes runs the layout engine (engine "dot" or "neato -n2").
    """
    return Placer(scene, measure(scene, run), run).final()


def measure(scene: Scene, run) -> dict:
    """{node id: (width, height)} in points, as the engine will draw it, with room for what it mis-measures."""
    probe = "×" * 10  # 8.38 em wide; an engine that counts each character as two bytes of spaces says 6.36 em
    nodes = {n: {**a, "pos": "0,0"} for n, a in scene.nodes.items()}
    nodes["probe__"] = {"label": f'<<FONT POINT-SIZE="100">{probe}</FONT>>', "shape": "plain", "pos": "0,0"}
    root = Cluster("", "", {}, [], list(nodes))
    src = write_dot("measure", {k: v for k, v in scene.attrs.items() if k in ("fontname",)}, scene.node_attrs,
                    {}, {"": root}, "", nodes, [])
    found = layout_of(read_json(run(src, "json", "neato -n2"))[0])["nodes"]
    careless = found["probe__"][2] < 0.95 * WIDE["×"] * 100 * len(probe)  # (at 100 points)
    sizes = {}
    for n, a in scene.nodes.items():
        _, _, w, h = found[n]
        if careless:
            w += 2 * shortfall(str(a.get("label", "")))  # the text starts where the engine thinks; leave it room
        sizes[n] = (math.ceil(w * 100) / 100, math.ceil(h * 100) / 100)
    return sizes


def _digest(value) -> str:
    """A short stable name for a value (Python's own hash of a string changes from run to run)."""
    return hashlib.sha1(repr(value).encode("utf-8")).hexdigest()[:16]


def _sized(attrs: dict, size: tuple, label: bool = True) -> dict:
    out = {**attrs, "width": f"{size[0] / 72:.4f}", "height": f"{size[1] / 72:.4f}"}
    if not label:
        out.update(label="", fixedsize="true")
    return out


class Placer:
    """Runs 2–4 of `place` on one scene, given the size of every node (run 1).

    Coordinates are Graphviz's points, y upwards.  "Along" is the direction time runs in a row
    (x, or −y with a vertical time axis), "across" the other one.
    """

    def __init__(self, scene: Scene, sizes: dict, run):
        self.scene, self.sizes, self.run = scene, sizes, run
        self.cell_of = {}  # node id -> (row index, cell index)
        for r, row in enumerate(scene.rows):
            for i, cell in enumerate(row.cells):
                for n in cell.nodes:
                    self.cell_of[n] = (r, i)
        self.layout_attrs = {k: v for k, v in scene.attrs.items() if k not in ("label", "labelloc", "labeljust")}
        self.edge_ids = {k: f"e{k}" for k in range(len(scene.edges))}
        self.frame_of = {n: p for p, c in scene.clusters.items() for n in c.nodes}  # node id -> its cluster
        self.gaps = {}  # row -> (where its cells meet along time, its low and high edge across)
        self.band_of = {r: r for r in range(len(scene.rows))}  # row -> the first row of the band it is drawn in
        for r, row in enumerate(scene.rows):
            if row.twin is not None:
                self.band_of[r] = row.twin
        self.bands = {}  # first row -> its rows, low to high across (forward, then reverse)
        for r in range(len(scene.rows)):
            self.bands.setdefault(self.band_of[r], []).append(r)
        for first, rows in self.bands.items():
            rows.sort(key=lambda r: r != first)
        self.clusters = self._frames_of_bands()
        self.cut_frames = []  # (cluster the row is in, nodes, box) of each entry that starts after a cut
        self.labels = []  # boxes of the steps' frame labels ("t = 3"), which no route may cross

    def _home(self, rows) -> str:
        """The innermost cluster that holds every row of a band (its stand-in node goes there)."""
        paths = [self.scene.rows[r].cluster.split("/") if self.scene.rows[r].cluster else [] for r in rows]
        common = []
        for parts in zip(*paths):
            if len(set(parts)) > 1:
                break
            common.append(parts[0])
        home = "/".join(common)
        while home not in self.scene.clusters:
            home = home.rpartition("/")[0]
        return home

    def _frames_of_bands(self) -> dict:
        """The scene's clusters, except that the frame of each direction drawn in a band of twin rows
        holds its row only: what else it held (the input projection) goes to the frame around it, and
        the direction's frame is drawn around its part of the band (``_place_band``)."""
        scene = self.scene
        out = {p: Cluster(c.name, p, c.attrs, list(c.children), list(c.nodes)) for p, c in scene.clusters.items()}
        self.band_frames = {}  # row -> the path of the frame drawn around it in its band
        for rows in self.bands.values():
            if len(rows) < 2:
                continue
            home = self._home(rows)
            for r in rows:
                path = scene.rows[r].cluster
                if path == home:
                    continue
                self.band_frames[r] = path
                parent = path.rpartition("/")[0]
                while parent not in out:
                    parent = parent.rpartition("/")[0]
                steps = {c.cluster for c in scene.rows[r].cells if c.kind == "step"}
                frame = out[path]
                out[parent].nodes += [n for n in frame.nodes if n not in self.cell_of]
                out[parent].children += [c for c in frame.children if c not in steps]
                frame.nodes = [n for n in frame.nodes if n in self.cell_of]
                frame.children = [c for c in frame.children if c in steps]
        return out

    def columns(self, cells: dict) -> dict:
        """{first row of a band: (widths of its columns along time, {row: (column of each cell, across)})}.

        A row alone has a column per cell.  Twin rows share columns: their steps t = 1 … T in the same
        columns, what comes before the steps (h(0)) right before them, what comes after (the state a
        reverse direction starts from) right after; each column as wide as the widest of its cells.
        """
        out = {}
        for first, rows in self.bands.items():
            if len(rows) == 1:
                r = rows[0]
                n = len(self.scene.rows[r].cells)
                out[first] = ([cells[r, i][0] for i in range(n)],
                              {r: (list(range(n)), max(cells[r, i][1] for i in range(n)))})
                continue
            parts = {}
            for r in rows:
                kinds = [c.kind for c in self.scene.rows[r].cells]
                steps = [i for i, k in enumerate(kinds) if k in ("step", "node")]
                parts[r] = (steps[0], steps[-1] - steps[0] + 1, len(kinds) - 1 - steps[-1])  # before, steps, after
            before = max(b for b, _, _ in parts.values())
            (middle,) = {m for _, m, _ in parts.values()}
            after = max(a for _, _, a in parts.values())
            widths = [0.0] * (before + middle + after)
            placed = {}
            for r in rows:
                b, _, _ = parts[r]
                cols = [before - b + i for i in range(len(self.scene.rows[r].cells))]
                for i, c in enumerate(cols):
                    widths[c] = max(widths[c], cells[r, i][0])
                across = max(cells[r, i][1] for i in range(len(cols)))
                if not self.scene.vertical:
                    across += LABEL_ROOM  # above the steps, which sit on the bottom edge of their cells
                placed[r] = (cols, across)
            out[first] = (widths, placed)
        return out

    # ------------------------------------------------------------------ 2. one layout per kind of step

    def steps(self) -> dict:
        """{(row, cell): (template, roles)} for every step cell: the one layout it shares, node id -> role."""
        scene = self.scene
        groups = {}  # signature -> [(row, cell, canonical node order)]
        for r, row in enumerate(scene.rows):
            for i, cell in enumerate(row.cells):
                if cell.kind == "step":
                    sig, canon = self.signature(cell)
                    groups.setdefault(sig, []).append((r, i, canon))
        graphs, members = [], []
        for cells in groups.values():
            size = {}  # role -> the largest size any step of the kind needs there
            for _, _, canon in cells:
                for k, n in enumerate(canon):
                    w, h = self.sizes[n]
                    size[k] = (max(w, size.get(k, (0, 0))[0]), max(h, size.get(k, (0, 0))[1]))
            r0, i0, canon0 = cells[0]
            step = scene.rows[r0].cells[i0].cluster
            # the widest frame label of the kind (t = 10 is wider than t = 9)
            label_of = max((scene.clusters[scene.rows[r].cells[i].cluster].attrs.get("label", "") for r, i, _ in cells),
                           key=lambda s: len(re.sub(r"<[^>]+>", "", s)))
            role = {n: f"r{k}" for k, n in enumerate(canon0)}
            nodes = {role[n]: _sized(scene.nodes[n], size[k], label=False) for k, n in enumerate(canon0)}
            clusters = self._relabelled_tree(step, role, label_of)
            edges = [(role[a], role[b], {**attrs, "id": f"{role[a]}-{role[b]}"}) for a, b, attrs in scene.edges
                     if a in role and b in role]
            graphs.append(write_dot(f"step{len(graphs)}", self.layout_attrs, scene.node_attrs, scene.edge_attrs,
                                    clusters, "", nodes, edges))
            members.append(cells)
        if not graphs:
            return {}
        laid = read_json(self.run("".join(graphs), "json", "dot"))
        out = {}
        for g, cells in zip(laid, members):
            template = layout_of(g)
            for r, i, canon in cells:
                out[r, i] = (template, {n: f"r{k}" for k, n in enumerate(canon)})
        return out

    def _relabelled_tree(self, step: str, role: dict, label: str) -> dict:
        """The clusters of one step (its frame and any inside), with node ids as roles, as a tree under ""."""
        scene = self.scene
        tree = {"": Cluster("", "", {}, [step], [])}

        def copy(path):
            c = scene.clusters[path]
            attrs = {**c.attrs, "label": label} if path == step else dict(c.attrs)
            tree[path] = Cluster(f"cluster_{len(tree)}", path, attrs, list(c.children),
                                 [role[n] for n in c.nodes if n in role])
            for child in c.children:
                copy(child)

        copy(step)
        return tree

    def signature(self, cell: Cell) -> tuple:
        """(kind of step, its nodes in a canonical order): steps of one kind get the same signature.

        Nodes are told apart by what they are (op, kind, shape, title with its digits blanked, frame)
        and, over a few rounds, by what feeds them and what they feed, as in the Weisfeiler-Lehman test.
        """
        scene = self.scene
        ids = list(cell.nodes)
        inside = set(ids)
        frame, base = self.frame_of, cell.cluster
        label = {}
        for n in ids:
            a = scene.nodes[n]
            text = re.sub(r"\d+", "#", re.sub(r"<[^>]+>", " ", str(a.get("label", ""))))
            label[n] = _digest((frame[n][len(base):], a.get("shape"), a.get("style"), text))
        preds, succs = {n: [] for n in ids}, {n: [] for n in ids}
        internal = [(a, b) for a, b, _ in scene.edges if a in inside and b in inside]
        for a, b in internal:
            preds[b].append(a)
            succs[a].append(b)
        for _ in range(3):
            label = {n: _digest((label[n], sorted(label[p] for p in preds[n]), sorted(label[s] for s in succs[n])))
                     for n in ids}
        canon = sorted(ids, key=lambda n: (label[n], ids.index(n)))
        index = {n: k for k, n in enumerate(canon)}
        sig = (tuple(label[n] for n in canon), tuple(sorted((index[a], index[b]) for a, b in internal)))
        return sig, canon

    # ------------------------------------------------------------------ 3. the rest, around one box per row

    def cell_sizes(self, templates: dict) -> dict:
        """{(row, cell): (along, across)}: how much room each cell needs, in points."""
        out = {}
        for r, row in enumerate(self.scene.rows):
            for i, cell in enumerate(row.cells):
                if cell.kind == "step":
                    x0, y0, x1, y1 = self._frame(templates[r, i])
                    w, h = x1 - x0, y1 - y0
                else:
                    w, h = self._stack_size(cell)
                along, across = (h, w) if self.scene.vertical else (w, h)
                out[r, i] = (math.ceil(along + 2 * PAD), math.ceil(across + 2 * PAD))
        return out

    @staticmethod
    def _frame(template):
        """The step's frame in its template: the first cluster of the tree `_relabelled_tree` writes."""
        return template[0]["clusters"][STEP_FRAME][0]

    def _stack_size(self, cell: Cell):
        """Width and height of a node cell (one node) or of an entry cell (its nodes in columns by depth)."""
        if cell.kind == "node":
            return self.sizes[cell.nodes[0]]
        columns = self._entry_columns(cell)
        along = sum(max(self._along(n) for n in col) for col in columns) + ENTRY_GAP * (len(columns) - 1)
        across = max(sum(self._across(n) for n in col) + ENTRY_GAP * (len(col) - 1) for col in columns)
        return (across, along) if self.scene.vertical else (along, across)

    def _along(self, n):
        w, h = self.sizes[n]
        return h if self.scene.vertical else w

    def _across(self, n):
        w, h = self.sizes[n]
        return w if self.scene.vertical else h

    def _entry_columns(self, cell: Cell) -> list:
        """The entry's nodes by depth: those fed by nothing first, so h_0 → h(0) reads along time."""
        inside = set(cell.nodes)
        depth = {n: 0 for n in cell.nodes}
        for _ in range(len(cell.nodes)):
            for a, b, _ in self.scene.edges:
                if a in inside and b in inside:
                    depth[b] = max(depth[b], depth[a] + 1)
        return [[n for n in cell.nodes if depth[n] == d] for d in range(max(depth.values()) + 1)]

    def _above(self, templates: dict) -> set:
        """The free nodes (parameters) that feed only steps, mostly in their upper half (V and c feed o(t)):
        drawn beyond the rows rather than below them, so their edges do not cross the whole step."""
        high, low = {}, {}
        for tail, head, _ in self.scene.edges:
            if tail not in self.scene.free:
                continue
            if head not in self.cell_of or self.scene.rows[self.cell_of[head][0]].cells[self.cell_of[head][1]].kind \
                    != "step":
                low[tail] = low.get(tail, 0) + 1000  # feeds the rest: leave it to dot
                continue
            layout, roles = templates[self.cell_of[head]]
            x0, y0, x1, y1 = self._frame(templates[self.cell_of[head]])
            x, y, _, _ = layout["nodes"][roles[head]]
            up = (x - x0) / (x1 - x0) if self.scene.vertical else (y - y0) / (y1 - y0)
            (high if up > 0.5 else low)[tail] = (high if up > 0.5 else low).get(tail, 0) + 1
        return {n for n in high if high[n] > low.get(n, 0)}

    def skeleton(self, cells: dict, columns: dict, templates: dict) -> dict:
        """Lay out everything outside the rows with ``dot``; each row is one node of cells in order."""
        scene = self.scene
        above = self._above(templates)
        clusters = {p: Cluster(c.name, p, c.attrs, list(c.children), [n for n in c.nodes if n not in self.cell_of])
                    for p, c in self.clusters.items()}
        nodes = {n: _sized(a, self.sizes[n]) for n, a in scene.nodes.items() if n not in self.cell_of}
        for first, (widths, placed) in columns.items():
            rows = self.bands[first]
            lead = LABEL_ROOM if scene.vertical and len(rows) > 1 else 0.0  # room for the frames' labels

            def td(r, c, placed=placed, widths=widths):
                cols, across = placed[r]
                w, h = (across, widths[c]) if scene.vertical else (widths[c], across)
                port = f' PORT="r{r}c{cols.index(c)}"' if c in cols else ""
                return f'<TD{port} FIXEDSIZE="TRUE" WIDTH="{w}" HEIGHT="{h}"></TD>'

            if scene.vertical:  # a table row per column of time, the rows of the band side by side
                body = "".join("<TR>" + "".join(td(r, c) for r in rows) + "</TR>" for c in range(len(widths)))
                if lead:
                    width = sum(placed[r][1] for r in rows)
                    body = (f'<TR><TD COLSPAN="{len(rows)}" FIXEDSIZE="TRUE" WIDTH="{width}" HEIGHT="{lead}"></TD>'
                            f'</TR>') + body
            else:  # a table row per row of the band, the last one (the reverse direction) on top
                body = "".join("<TR>" + "".join(td(r, c) for c in range(len(widths))) + "</TR>" for r in rows[::-1])
            nodes[f"row{first}"] = {"shape": "plain", "label": f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" '
                                                              f'CELLPADDING="0">{body}</TABLE>>'}
            home = scene.rows[first].cluster if len(rows) == 1 else self._home(rows)
            clusters[home].nodes.append(f"row{first}")
        edges, seen = [], set()
        for k, (tail, head, attrs) in enumerate(scene.edges):
            a, b = self._port(tail), self._port(head)
            if a.partition(":")[0] == b.partition(":")[0] and a.startswith("row"):
                continue  # within one row: placed with the row
            if (a, b) in seen:
                continue
            seen.add((a, b))
            if a == tail and b == head:
                edges.append((a, b, {**attrs, "id": self.edge_ids[k]}))
            elif tail in above:  # ranked beyond the row (the edge is drawn tail → head all the same)
                edges.append((b, a, {}))
            else:  # an edge into a cell only pulls the rest into place; it is routed in the last run
                keep = {key: v for key, v in attrs.items() if key in ("constraint", "weight", "style")}
                edges.append((a, b, keep))
        src = write_dot("skeleton", scene.attrs, scene.node_attrs, scene.edge_attrs, clusters, "", nodes, edges)
        return layout_of(read_json(self.run(src, "json", "dot"))[0])

    def _port(self, n):
        if n in self.cell_of:
            r, i = self.cell_of[n]
            return f"row{self.band_of[r]}:r{r}c{i}"
        return n

    # ------------------------------------------------------------------ 4. everything pinned

    def final(self) -> str:
        """Runs 2–4: the kinds of step, the rest around the rows, then every node pinned and every edge routed."""
        templates = self.steps()
        cells = self.cell_sizes(templates)
        columns = self.columns(cells)
        skel = self.skeleton(cells, columns, templates)
        pos, bbs, routes = self._from_skeleton(skel)
        for first, (widths, placed) in columns.items():
            self._place_band(first, widths, placed, skel["nodes"][f"row{first}"], cells, templates, pos, bbs, routes)
        self._route_the_rest(pos, routes, bbs)
        return self._pinned(pos, bbs, routes, skel)

    def _from_skeleton(self, skel):
        """What run 3 placed: the nodes outside the rows, the frames of scopes around them, their edges' routes."""
        pos = {n: (x, y) for n, (x, y, _, _) in skel["nodes"].items() if n in self.scene.nodes}
        names = {c.name: p for p, c in self.clusters.items()}
        bbs = {names[name]: found for name, found in skel["clusters"].items() if name in names}  # path -> (bb, lp)
        by_id = {v: k for k, v in self.edge_ids.items()}
        routes = {by_id[e]: found for e, found in skel["edges"].items() if e in by_id}  # edge index -> (pos, lp)
        return pos, bbs, routes

    def _place_band(self, first, widths, placed, where, cells, templates, pos, bbs, routes):
        """The rows of a band, each cell in its column along time, from the corner where time starts;
        twin rows one above the other (side by side with a vertical time axis), each in its frame."""
        vertical = self.scene.vertical
        rows = self.bands[first]
        x, y, _, _ = where  # the centre of the band's stand-in node
        lead = LABEL_ROOM if vertical and len(rows) > 1 else 0.0
        total = sum(widths) + lead
        across = sum(placed[r][1] for r in rows)
        start = (y + total / 2 - lead) if vertical else (x - total / 2)  # the top edge, or the left edge
        edges = [start - a if vertical else start + a for a in np.cumsum([0.0, *widths])]  # where columns meet
        low = (x - across / 2) if vertical else (y - across / 2)  # the left edge, or the bottom edge
        for r in rows:
            cols, band = placed[r]
            bounds = [edges[c] for c in cols] + [edges[cols[-1] + 1]]
            room = LABEL_ROOM if len(rows) > 1 and not vertical else 0.0  # the frame's label above the cells
            self._place_row(r, self.scene.rows[r], bounds, low, low + band - room, cells, templates, pos, bbs,
                            routes)
            if r in self.band_frames:  # the direction's frame around its part of the band, labelled in its corner
                a0, a1 = (edges[0] + lead, edges[-1]) if vertical else (edges[0], edges[-1])
                lo, hi = low + FRAME_INSET, low + band - FRAME_INSET
                bb = [lo, a1, hi, a0] if vertical else [a0, lo, a1, hi]
                path = self.band_frames[r]
                label = re.sub(r"<[^>]+>", "", str(self.scene.clusters[path].attrs.get("label", "")))
                w = 6.5 * len(label)  # about DejaVu Sans at 10 points
                lx, ly = bb[0] + 6 + w / 2, bb[3] - LABEL_ROOM / 2 - 1
                bbs[path] = (bb, f"{lx:.2f},{ly:.2f}")
                self.labels.append([lx - w / 2, ly - 7, lx + w / 2, ly + 7])
            low += band

    def _place_row(self, r, row, bounds, low, high, cells, templates, pos, bbs, routes):
        """Cell i of the row between bounds[i] and bounds[i + 1] along time, between low and high across."""
        vertical = self.scene.vertical
        self.gaps[r] = (bounds, low, high)
        entries = []
        for i, cell in enumerate(row.cells):
            a0, a1 = bounds[i], bounds[i + 1]
            box = (low, a1, high, a0) if vertical else (a0, low, a1, high)
            if cell.kind == "step":
                self._place_step(cell, templates[r, i], box, pos, bbs, routes)
            elif cell.kind == "node":
                pos[cell.nodes[0]] = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            else:
                entries.append((cell, box))
                if set(cell.nodes) & self.scene.cut:  # a frame where the gradient stops
                    inset = PAD / 2
                    frame = [box[0] + inset, box[1] + inset, box[2] - inset, box[3] - inset]
                    self.cut_frames.append((row.cluster, cell.nodes, frame))
        for cell, box in entries:  # after the steps: each entry node goes level with what it feeds
            self._place_entry(cell, box, pos)

    def _place_step(self, cell, template, box, pos, bbs, routes):
        """Step nodes, frame and inner routes: the template moved into the cell (input side on the row's edge)."""
        scene = self.scene
        layout, roles = template
        fx0, fy0, fx1, fy1 = self._frame(template)
        if scene.vertical:  # inputs on the left edge, centred along time
            dx = box[0] + PAD - fx0
            dy = (box[1] + box[3]) / 2 - (fy0 + fy1) / 2
        else:  # inputs on the bottom edge, centred along time
            dx = (box[0] + box[2]) / 2 - (fx0 + fx1) / 2
            dy = box[1] + PAD - fy0
        for n, role in roles.items():
            tx, ty, _, _ = layout["nodes"][role]
            pos[n] = (tx + dx, ty + dy)
        # clusters: the template's, in the same order as the scene's subtree of this step
        names = {}
        tree = self._relabelled_tree(cell.cluster, roles, "")
        for path, c in tree.items():
            if path:
                names[c.name] = path
        for name, (bb, lp) in layout["clusters"].items():
            path = names.get(name)
            if path is not None:
                moved = [bb[0] + dx, bb[1] + dy, bb[2] + dx, bb[3] + dy]
                bbs[path] = (moved, shifted(lp, dx, dy) if lp else None)
                if lp and name in layout.get("labels", {}):
                    (x, y), (w, h) = numbers(shifted(lp, dx, dy)), layout["labels"][name]
                    self.labels.append([x - w / 2, y - h / 2, x + w / 2, y + h / 2])
        for k, (a, b, _) in enumerate(scene.edges):
            if a in roles and b in roles:
                route = layout["edges"].get(f"{roles[a]}-{roles[b]}")
                if route:
                    p, lp = route
                    routes[k] = (shifted(p, dx, dy), shifted(lp, dx, dy) if lp else None)

    def _place_entry(self, cell, box, pos):
        """The state a sequence starts from: columns by depth, each node level with what it feeds."""
        scene = self.scene
        columns = self._entry_columns(cell)
        if cell.backwards:  # the state beside the step it feeds, whichever side that is
            columns = columns[::-1]
        vertical = scene.vertical
        widths = [max(self._along(n) for n in col) for col in columns]
        a = (box[3] - PAD) if vertical else (box[0] + PAD)
        centres = []
        for w in widths:
            centres.append(a - w / 2 if vertical else a + w / 2)
            a = a - w - ENTRY_GAP if vertical else a + w + ENTRY_GAP
        for d in range(len(columns) - 1, -1, -1):
            want = {}
            for n in columns[d]:
                targets = [pos[b] for x, b, _ in scene.edges if x == n and b in pos]
                across = [(t[0] if vertical else t[1]) for t in targets]
                mid = (box[0] + box[2]) / 2 if vertical else (box[1] + box[3]) / 2
                want[n] = sum(across) / len(across) if across else mid
            # keep the column's nodes apart, in the order of what they feed
            placed = []
            for n in sorted(columns[d], key=lambda n: want[n]):
                c = want[n]
                if placed:
                    prev, pc = placed[-1]
                    c = max(c, pc + (self._across(prev) + self._across(n)) / 2 + ENTRY_GAP)
                placed.append((n, c))
            lo, hi = (box[0], box[2]) if vertical else (box[1], box[3])
            over = placed[-1][1] + self._across(placed[-1][0]) / 2 - (hi - PAD / 2) if placed else 0.0
            under = (lo + PAD / 2) - (placed[0][1] - self._across(placed[0][0]) / 2) if placed else 0.0
            move = -min(over, -under) if over > 0 else max(under, 0.0)  # back inside the cell, if there is room
            for n, c in placed:
                pos[n] = (c + move, centres[d]) if vertical else (centres[d], c + move)

    def _route_the_rest(self, pos, routes, bbs):
        """Edges Graphviz did not route (between steps, or between a step and the rest): see routes.py.

        A route keeps clear of other nodes and of the frames of steps it does not join, and may run
        down the gap beside a step (or along the edge of the row) and turn into its node from the side.
        """
        scene = self.scene
        ids = list(scene.nodes)
        boxes = {n: Box(*pos[n], *self.sizes[n], scene.nodes[n].get("shape", "box")) for n in ids}
        rects = [[b.x - b.w / 2 - 2, b.y - b.h / 2 - 2, b.x + b.w / 2 + 2, b.y + b.h / 2 + 2] for b in boxes.values()]
        steps = [(r, i) for r, row in enumerate(scene.rows) for i, c in enumerate(row.cells) if c.kind == "step"]
        frames = [bbs[scene.rows[r].cells[i].cluster][0] for r, i in steps]
        obstacles = np.array(rects + frames + self.labels, float).reshape(-1, 4)
        weights = np.array([NODE] * len(rects) + [FRAME] * len(frames) + [NODE] * len(self.labels))
        owner = {n: k for k, n in enumerate(ids)}
        frame_index = {cell: len(rects) + k for k, cell in enumerate(steps)}

        lane = {}  # tail -> its lane in the channels, so that lines from different nodes run side by side
        for k, (tail, head, attrs) in enumerate(scene.edges):
            if k in routes:
                continue
            keep = np.ones(len(obstacles), bool)
            for n in (tail, head):
                keep[owner[n]] = False
                if n in self.cell_of and self.cell_of[n] in frame_index:
                    keep[frame_index[self.cell_of[n]]] = False
            vias = self._channels(tail, head, boxes, lane.setdefault(tail, len(lane)))
            arrow = {"back": "tail", "none": "none"}.get(attrs.get("dir"), "head")
            p, lp = route(boxes[tail], boxes[head], obstacles[keep], weights[keep], arrow, vias)
            routes[k] = (p, f"{lp[0]:.2f},{lp[1]:.2f}" if "label" in attrs else None)

    def _channels(self, tail, head, boxes, lane) -> list:
        """Ways from tail to head through the room the rows keep free: the margin along each edge of a
        row (above or below every frame) and the gaps between steps.  A node in a step is left or
        reached either sideways, from the gap beside its step, or straight up or down, from the margin.
        Each way is a list of points the route passes through."""
        vertical = self.scene.vertical

        def xy(along, across):
            return (across, along) if vertical else (along, across)

        def at(n):
            b = boxes[n]
            return (b.y, b.x) if vertical else (b.x, b.y)

        shift = ((lane % 5) - 2) * 3.0  # points: five lanes in each channel, one per node the lines start from

        def ports(n, margin):
            """Ways between node n and the row margin ``margin`` (a coordinate across), from n outwards."""
            along, across = at(n)
            if n not in self.cell_of:
                return [[xy(along, margin)]]
            r, i = self.cell_of[n]
            bounds = self.gaps[r][0]
            ways = [[xy(along, margin)]]
            if self.scene.rows[r].cells[i].kind == "step":  # a lone box is met from above or below: its sides
                # carry the arrows of the recurrence.  Each lane meets a node a little higher or lower, so
                # that lines from two nodes into two neighbouring steps never read as one line between them
                half = (boxes[n].w if vertical else boxes[n].h) / 2
                level = across + max(-0.5 * half, min(0.5 * half, shift * 1.3))
                for g in (bounds[i] + shift, bounds[i + 1] + shift):
                    ways.append([xy(g, level), xy(g, margin)])
            return ways

        def margins(n):
            if n not in self.cell_of:
                return []
            _, low, high = self.gaps[self.cell_of[n][0]]
            return [high - PAD / 2 + shift, low + PAD / 2 + shift]

        def crossings(n):
            """[(outer margin, way)] from node n of a band of twin rows to the band's far margins, across
            the other row through a gap between its steps (they share columns: the gaps line up)."""
            if n not in self.cell_of:
                return []
            r, i = self.cell_of[n]
            rows = self.bands[self.band_of[r]]
            if len(rows) < 2:
                return []
            bounds, low, high = self.gaps[r]
            band_low, band_high = min(self.gaps[q][1] for q in rows), max(self.gaps[q][2] for q in rows)
            out = []
            for own, outer in ((low + PAD / 2, band_low + PAD / 2), (high - PAD / 2, band_high - PAD / 2)):
                if abs(own - outer) < 1:
                    continue  # n's row is on that edge of the band
                for way in ports(n, own + shift):
                    for g in (bounds[i] + shift, bounds[i + 1] + shift):
                        out.append((outer + shift, way + [xy(g, own + shift), xy(g, outer + shift)]))
            return out

        (_, tc), (_, hc) = at(tail), at(head)
        t_cell, h_cell = self.cell_of.get(tail), self.cell_of.get(head)
        vias = []
        same_band = t_cell and h_cell and self.band_of[t_cell[0]] == self.band_of[h_cell[0]]
        if not same_band:  # into or out of a band's inner row: across the other row through a gap
            for outer, back in crossings(head):
                for out in (ports(tail, outer) if tail not in self.cell_of else []):
                    vias.append(out + back[::-1])
            for outer, way in crossings(tail):
                for back in (ports(head, outer) if head not in self.cell_of else []):
                    vias.append(way + back[::-1])
        if t_cell and h_cell and t_cell[0] == h_cell[0] and abs(t_cell[1] - h_cell[1]) == 1 \
                and "step" in {self.scene.rows[t_cell[0]].cells[c].kind for c in (t_cell[1], h_cell[1])}:
            g = self.gaps[t_cell[0]][0][max(t_cell[1], h_cell[1])] + shift  # the gap between two neighbours
            vias.append([xy(g, tc), xy(g, hc)])
        for margin in margins(tail) or margins(head):
            for out in ports(tail, margin):
                for back in ports(head, margin):
                    vias.append(out + back[::-1])
        if t_cell and h_cell and t_cell[0] != h_cell[0]:  # from a row to another: each along its own margin
            for mt in margins(tail):
                for mh in margins(head):
                    for out in ports(tail, mt):
                        for back in ports(head, mh):
                            vias.append(out + back[::-1])
        return vias

    def _pinned(self, pos, bbs, routes, skel) -> str:
        scene = self.scene
        nodes = {}
        for n, a in scene.nodes.items():
            x, y = pos[n]
            nodes[n] = {**_sized(a, self.sizes[n]), "pos": f"{x:.2f},{y:.2f}!"}
        clusters = {}
        for p, c in self.clusters.items():
            attrs = dict(c.attrs)
            if p in bbs:
                bb, lp = bbs[p]
                attrs["bb"] = ",".join(f"{v:.2f}" for v in bb)
                if lp:
                    attrs["lp"] = lp
            clusters[p] = Cluster(c.name, p, attrs, list(c.children), list(c.nodes))
        for k, (parent, members, bb) in enumerate(self.cut_frames):  # drawn only: not a scope of the model
            path = f"{parent}/cut#{k}"
            lp = f"{(bb[0] + bb[2]) / 2:.2f},{bb[3] - 12:.2f}"
            attrs = {**scene.cut_frame, "bb": ",".join(f"{v:.2f}" for v in bb), "lp": lp}
            clusters[path] = Cluster(f"cluster_cut{k}", path, attrs, [], list(members))
            clusters[parent].children.append(path)
            for c in clusters.values():
                if c.path != path:
                    c.nodes = [n for n in c.nodes if n not in members]
        edges = []
        for k, (tail, head, attrs) in enumerate(scene.edges):
            a = dict(attrs)
            if k in routes:
                p, lp = routes[k]
                a["pos"] = p
                if lp:
                    a["lp"] = lp
            edges.append((tail, head, a))
        attrs = {**scene.attrs, "bb": ",".join(f"{v:.2f}" for v in skel["bb"]), "splines": "true"}
        if skel["lp"]:
            attrs["lp"] = skel["lp"]
        return write_dot("tensor_graph", attrs, scene.node_attrs, scene.edge_attrs, clusters, "", nodes, edges)
