"""An explorer of the unrolled graph: one self-contained HTML page to open in any browser.

    >>> page = viz.explore(loss, "graph.html")   # writes the page; in Jupyter it also shows inline
    >>> viz.explore(loss)                         # inline only (an iframe), nothing written

The page shows the picture that ``viz.render`` draws (the same Graphviz layout)
and lets a student

* pan (drag) and zoom (wheel) it, and collapse or expand any scope, a time step,
  a cell or a layer, by clicking its frame (or the scope's name in the side panel);
* hover or click a node to read its op, scope and shape, a summary of its value
  and gradient ∂L/∂· (with their norms and a small heatmap), and the derivative
  rule of its op as the library writes it (the ``op = ...  # rule`` line, the
  docstring and ``backward`` of its class in ``tinygrad_seq/ops.py``);
* step through the backward pass with a slider: position k lights the nodes
  whose gradient is complete once the walk from the loss has gone back through
  the first k time steps, next to bars of ‖∇h(t) L‖ per step (the vanishing or
  exploding gradient of the lecture); a ``detach()`` cut of truncated BPTT is
  marked where the gradient stops.

Nothing is fetched when the page opens: the picture is inline SVG, the script
(``explorer.js``) and style (``explorer.css``) sit in the file, and the numbers
are embedded as JSON, rounded and capped (a summary, the first values and a
heatmap of at most ``heatmap`` × ``heatmap`` cells per tensor), so a 100-step
LSTM gives a page of a few MB.  Python needs nothing beyond what ``viz.render``
needs: Graphviz's SVG and JSON output of the same DOT source (JSON names the
scope of each frame).

Gradients are computed here with ``tinygrad_seq.grad`` while the graph is alive
(call ``explore`` before ``backward()``, or after ``backward(retain_graph=True)``);
after a backward pass that freed the graph, the page shows what ``.grad`` kept.
"""

from __future__ import annotations

import dataclasses
import html
import inspect
import json
import pathlib
import re

import numpy as np

import tinygrad_seq as tg

from .drawing import draw, layout
from .graph import Graph, collapser, parent_path, pretty_scope, time_step, trace

ASSETS = pathlib.Path(__file__).parent
HIDDEN_NAMES = (re.compile(r"^h(\(.*\))?$"), re.compile(r"^s(\(.*\))?$"))  # h(t) first, then a decoder's s(t)


def _never(path: str) -> bool:
    return False


@dataclasses.dataclass
class Explorer:
    """The page: ``html`` (the whole file), ``path`` (where it was written, or None), ``graph`` (what was drawn).

    In Jupyter it displays itself inline (an iframe holding the page).
    """

    html: str
    graph: Graph
    data: dict
    path: pathlib.Path | None = None
    height: int = 640

    def save(self, path) -> pathlib.Path:
        """Write the page to ``path`` (``.html`` appended when there is no suffix); returns the path."""
        path = pathlib.Path(path)
        if not path.suffix:
            path = path.with_suffix(".html")
        if path.suffix.lower() not in (".html", ".htm"):
            raise ValueError(f"viz.explore writes an HTML page: name it .html, not {path.name!r}")
        path.write_text(self.html, encoding="utf-8")
        self.path = path
        return path

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" style="width:100%;height:{self.height}px;'
                'border:1px solid #ccc" title="tinygrad_seq graph explorer"></iframe>')

    def __repr__(self):
        where = f" at {self.path}" if self.path else ""
        return f"<viz.Explorer: {len(self.graph.nodes)} nodes, {len(self.html) / 1e6:.2f} MB{where}>"


PLACED_NODES = 400  # up to this many nodes the page uses the placed layout of the static pictures


def explore(
    roots,
    path=None,
    *,
    collapse=None,
    detached=(),
    mark_detached: bool = False,
    chunks: bool = False,
    time_axis: str = "horizontal",
    title: str | None = None,
    max_nodes: int = 2500,
    keep_steps: int = 4,
    heatmap: int = 16,
) -> Explorer:
    """Write the explorer page of the graph that produced ``roots`` (usually the loss) to ``path``.

    roots          a Tensor or a list of them; gradients are of their sum when they are scalars
    path           the .html file to write (None: only return the page, e.g. to show it in Jupyter)
    collapse       scopes that start collapsed (same forms as ``viz.draw``: "t=*", a depth, patterns, a
                   function); every scope can still be expanded in the page
    detached, mark_detached   the truncated-BPTT cut, as in ``viz.draw``
    chunks         roots are the losses of the chunks of truncated BPTT (``[L1, L2]``): drawn side by side
                   with the cut between them, as ``viz.draw(..., chunks=True)``
    time_axis      "horizontal" (steps left to right) or "vertical"
    max_nodes      above this many nodes only the first and last ``keep_steps`` steps of each sequence
                   are drawn (the bars still show every step)
    heatmap        the largest heatmap embedded per tensor, in cells per side

    Returns an `Explorer` (``.html``, ``.path``, ``.graph``).
    """
    roots = [roots] if isinstance(roots, tg.Tensor) else list(roots) if isinstance(roots, (list, tuple)) else [roots]
    if not roots or not all(isinstance(r, tg.Tensor) for r in roots):
        kinds = sorted({type(r).__name__ for r in roots}) or ["nothing"]
        raise TypeError(f"viz.explore: explore a Tensor or a list of Tensors; got {', '.join(kinds)}")
    if heatmap < 1 or max_nodes < 1 or keep_steps < 1:
        raise ValueError(f"viz.explore: heatmap, max_nodes and keep_steps must be positive, "
                         f"got {heatmap}, {max_nodes}, {keep_steps}")
    order, ins = trace(roots)
    # Steps stay expanded in the page (it collapses them itself); a graph too large to lay out at once
    # keeps its first and last steps, expanded, and elides the middle ones.
    drawing = draw(roots, collapse=_never, detached=detached, mark_detached=mark_detached, chunks=chunks,
                   time_axis=time_axis, max_nodes=max_nodes, max_steps=10**9, keep_steps=keep_steps, title=title)
    graph = drawing.graph
    # small graphs: the drawing's own pipe lays the page out as the SVG pictures are (steps placed in order by
    # viz.placement); very large ones (a 100-step LSTM) go straight to the layout engine, which is far faster
    if len(graph.nodes) <= PLACED_NODES:
        svg, frames_json = drawing.pipe("svg"), drawing.pipe("json")
    else:
        svg, frames_json = layout(drawing.source, "svg"), layout(drawing.source, "json")
    svg = _inline_svg(svg.decode("utf-8"))
    frames = _frames(json.loads(frames_json), graph)

    grads, grad_note = _gradients(roots, order)
    steps = _steps(order, ins, graph.drawn_scope)
    cells = heatmap if len(graph.nodes) <= 400 else max(4, heatmap * 3 // 4) if len(graph.nodes) <= 1200 \
        else max(4, heatmap // 2)
    data = {
        "title": title or _default_title(graph, steps),
        "notes": graph.notes,
        "gradNote": grad_note,
        "nodes": _nodes(graph, grads, steps, cells),
        "edges": [[e.src, e.dst, int(e.cross_time)] for e in graph.edges],
        "scopes": _scopes(graph, frames),
        "collapsed": _initially_collapsed(graph, collapse),
        "schedule": [{"path": s, "t": steps["t"][s], "seq": steps["seq"][s]} for s in steps["schedule"]],
        "bars": _bars(order, ins, steps, grads, graph),
        "rules": _rules(graph),
        "cuts": _cuts(graph, steps),
        "vertical": time_axis == "vertical",
    }
    page = Explorer(_page(svg, data), graph, data)
    if path is not None:
        page.save(path)
    return page


# --------------------------------------------------------------------------- the picture


def _inline_svg(svg: str) -> str:
    """Graphviz's SVG as an element inside HTML: no XML prolog or comments; sized by the page, not in pt."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    head_end = svg.index(">")
    head = re.sub(r'\s(width|height)="[^"]*"', "", svg[:head_end])
    return head + ' id="tgs-svg"' + svg[head_end:]


def _frames(layout_json: dict, graph: Graph) -> dict:
    """{Graphviz cluster name: scope path} for every frame of the picture.

    Graphviz's JSON lists each cluster's nodes; the frame's scope is the
    shortest scope, below its parent frame's, that holds all of them and whose
    name is the frame's label.
    """
    objects = layout_json.get("objects", [])
    n_sub = layout_json.get("_subgraph_cnt", 0)
    names = {o["_gvid"]: o.get("name") for o in objects[n_sub:]}
    subgraphs = {o["_gvid"]: o for o in objects[:n_sub]}
    children = {g for o in subgraphs.values() for g in o.get("subgraphs", [])}
    frames = {}

    def visit(gvid, parent):
        o = subgraphs[gvid]
        path = parent
        if o.get("name", "").startswith("cluster"):
            members = [graph.nodes[names[i]] for i in o.get("nodes", []) if names.get(i) in graph.nodes]
            found = _frame_path(members, _label_text(o.get("label", "")), parent)
            if found is not None:
                frames[o["name"]] = path = found
        for child in o.get("subgraphs", []):
            visit(child, path)

    for gvid in subgraphs:
        if gvid not in children:
            visit(gvid, "")
    return frames


def _label_text(label: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", label)).strip()


def _home(node) -> str:
    """The deepest scope a node belongs to (a collapsed box: the scope it stands for)."""
    return node.path if node.kind == "scope" else node.cluster


def _frame_path(members, label, parent) -> str | None:
    paths = [_home(n).split("/") for n in members if _home(n)]
    if not paths:
        return None
    common = paths[0]
    for p in paths[1:]:
        k = 0
        while k < min(len(common), len(p)) and common[k] == p[k]:
            k += 1
        common = common[:k]
    depth = len(parent.split("/")) if parent else 0
    for k in range(depth + 1, len(common) + 1):
        if pretty_scope(common[k - 1]) == label:
            return "/".join(common[:k])
    return "/".join(common) or None


def _scopes(graph: Graph, frames: dict) -> dict:
    """{scope path: {label, members (node ids), frame (cluster name or null), t}} for every scope drawn."""
    by_path = {}
    for n in graph.nodes.values():
        home = _home(n)
        parts = home.split("/") if home else []
        for k in range(1, len(parts) + 1):
            by_path.setdefault("/".join(parts[:k]), []).append(n.id)
    frame_of = {p: name for name, p in frames.items()}
    out = {}
    for path, members in by_path.items():
        st = time_step(path)
        out[path] = {
            "label": pretty_scope(path.rpartition("/")[2]),
            "members": members,
            "frame": frame_of.get(path),
            "t": st[1] if st and st[0] == path else None,
        }
    return out


def _initially_collapsed(graph: Graph, collapse) -> list:
    if collapse is None:
        return []
    which = collapser(collapse)
    paths = {p for n in graph.nodes.values() for p in _prefixes(_home(n))}
    return sorted(p for p in paths if which(p) == p)


def _prefixes(path: str):
    parts = path.split("/") if path else []
    return ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]


def _default_title(graph, steps) -> str:
    n_steps = len(steps["t"])
    return f"unrolled graph: {len(graph.nodes)} nodes" + (f", {n_steps} time steps" if n_steps else "")


# --------------------------------------------------------------------------- gradients and time steps


def _gradients(roots, order) -> tuple[dict, str]:
    """{id(tensor): ∂L/∂tensor as an array} for every tensor that requires grad, and a note for the page."""
    wanted = [t for t in order if t.requires_grad]
    scalars = all(r.numel() == 1 and r.requires_grad for r in roots)
    if wanted and scalars:
        try:
            found = tg.grad(roots, wanted, retain_graph=True, allow_unused=True)
            what = "L" if len(roots) == 1 else "the sum of the " + str(len(roots)) + " roots"
            return ({id(t): g.data for t, g in zip(wanted, found) if g is not None},
                    f"∂{what}/∂· computed by tinygrad_seq.grad")
        except RuntimeError:
            pass  # freed by an earlier backward(): fall back to what .grad kept
    kept = {id(t): t.grad.data for t in wanted if (t.is_leaf or t.retains_grad) and t.grad is not None}
    if not scalars:
        return kept, "no gradients computed: the roots are not scalars (showing .grad where it is set)"
    return kept, ("the graph was freed by backward(): showing .grad where it was kept; call viz.explore "
                  "before backward(), or use backward(retain_graph=True), to see every gradient")


def _steps(order, ins, scope_of) -> dict:
    """The time steps of the graph and the order in which the backward pass goes through them.

    Returns {"t": {step path: t}, "seq": {step path: sequence path}, "schedule": [step paths],
    "index": {step path: position in the schedule, from 1}}.  Each sequence (the steps of one
    layer and direction) is walked against its recurrence, from its last step to its first;
    sequences in reverse order of when their last step was computed.
    """
    t_of, seq_of, last = {}, {}, {}
    for i, x in enumerate(order):
        st = time_step(scope_of(x))
        if st:
            t_of[st[0]], seq_of[st[0]] = st[1], parent_path(st[0])
            last[st[0]] = i
    direction = {}
    for u in order:
        su = time_step(scope_of(u))
        if not su:
            continue
        for a in ins[id(u)]:
            sa = time_step(scope_of(a))
            if sa and sa[0] != su[0] and seq_of[sa[0]] == seq_of[su[0]]:
                direction[seq_of[su[0]]] = direction.get(seq_of[su[0]], 0) + (1 if su[1] > sa[1] else -1)
    seqs = {}
    for s in t_of:
        seqs.setdefault(seq_of[s], []).append(s)
    schedule = []
    for seq in sorted(seqs, key=lambda q: -max(last[s] for s in seqs[q])):
        forward = direction.get(seq, 0) >= 0  # a reverse-direction layer runs from its last t to its first
        schedule += sorted(seqs[seq], key=lambda s: -t_of[s] if forward else t_of[s])
    return {"t": t_of, "seq": seq_of, "schedule": schedule, "index": {s: i + 1 for i, s in enumerate(schedule)}}


def _node_steps(graph: Graph, steps: dict) -> dict:
    """{node id: [step paths it stands for]} for the nodes inside time steps (an elided box: many)."""
    drawn = {n.step[0] for n in graph.nodes.values() if n.step and n.kind not in ("scope", "elided")}
    out = {}
    for n in graph.nodes.values():
        if n.kind == "elided":
            out[n.id] = [s for s in steps["schedule"] if steps["seq"][s] == n.path and s not in drawn]
        elif n.kind == "scope":
            out[n.id] = [s for s in steps["schedule"] if s == n.path or s.startswith(n.path + "/")
                         or n.path.startswith(s + "/")]
        elif n.step and n.step[0] in steps["index"]:
            out[n.id] = [n.step[0]]
    return out


def _backward_positions(graph: Graph, steps: dict) -> dict:
    """{node id: (first, done)}: the slider positions at which its gradient starts to arrive and is complete.

    A node of step s: both the position of s.  A node outside the steps gets gradient from its users:
    from the first of them to finish to the last (a weight W: from the last step back to the first).
    """
    own = {nid: [steps["index"][s] for s in ss] for nid, ss in _node_steps(graph, steps).items() if ss}
    users = {nid: [] for nid in graph.nodes}
    indegree = {nid: 0 for nid in graph.nodes}
    for e in graph.edges:
        users[e.src].append(e.dst)
        indegree[e.dst] += 1
    topo, ready = [], [nid for nid, d in indegree.items() if d == 0]
    while ready:
        nid = ready.pop()
        topo.append(nid)
        for u in users[nid]:
            indegree[u] -= 1
            if indegree[u] == 0:
                ready.append(u)
    topo += [nid for nid in graph.nodes if nid not in set(topo)]  # (no cycles are expected; be safe)
    pos = {}
    for nid in reversed(topo):
        if nid in own:
            pos[nid] = (min(own[nid]), max(own[nid]))
        else:
            got = [pos[u] for u in users[nid] if u in pos]
            pos[nid] = (min(f for f, _ in got), max(d for _, d in got)) if got else (0, 0)
    return pos


def _hidden_states(order, ins, steps, scope_of) -> dict:
    """{step path: the tensor whose gradient the bars show}: h (or h(t)), else s, else the recurrent state."""
    by_step = {}
    for x in order:
        st = time_step(scope_of(x))
        if st and x.requires_grad:
            by_step.setdefault(st[0], []).append(x)
    carried = set()  # tensors of one step read by another step of the same sequence
    for u in order:
        su = time_step(scope_of(u))
        for a in ins[id(u)] if su else ():
            sa = time_step(scope_of(a))
            if sa and sa[0] != su[0] and steps["seq"].get(sa[0]) == steps["seq"].get(su[0]):
                carried.add(id(a))
    out = {}
    for s, xs in by_step.items():
        for pattern in HIDDEN_NAMES:
            named = [x for x in xs if x.name and pattern.match(x.name)]
            if named:
                out[s] = named[-1]
                break
        else:
            rec = [x for x in xs if id(x) in carried]
            if rec:
                out[s] = rec[-1]
    return out


def _bars(order, ins, steps, grads, graph) -> list:
    """One row of bars per sequence: ‖∂L/∂h(t)‖ for every step t, drawn or elided."""
    hidden = _hidden_states(order, ins, steps, graph.drawn_scope)
    node_of = {id(n.tensor): n.id for n in graph.nodes.values() if n.tensor is not None}
    rows = {}
    for s in steps["schedule"]:
        h = hidden.get(s)
        if h is None:
            continue
        row = rows.setdefault(steps["seq"][s], {"seq": steps["seq"][s], "name": _symbol(h.name), "steps": []})
        g = grads.get(id(h))
        row["steps"].append({"path": s, "t": steps["t"][s], "node": node_of.get(id(h)),
                             "norm": None if g is None else _num(np.linalg.norm(g.astype(np.float64)))})
    for row in rows.values():
        row["steps"].sort(key=lambda b: b["t"])
    return list(rows.values())


def _symbol(name) -> str:
    """``h(3)`` → ``h``: the name of the state in ‖∇h(t) L‖."""
    return re.sub(r"\(.*\)$", "", name) if name else "h"


def _cuts(graph, steps) -> list:
    """The detach() cuts: each detached node and the first step that reads it (where the gradient stops)."""
    out = []
    for n in graph.nodes.values():
        if n.kind != "detached":
            continue
        users = [graph.nodes[e.dst] for e in graph.out_edges(n.id)]
        into = sorted({u.step[0] for u in users if u.step and u.step[0] in steps["index"]},
                      key=lambda s: steps["t"][s])
        out.append({"node": n.id, "step": into[0] if into else None,
                    "t": steps["t"][into[0]] if into else None, "seq": steps["seq"][into[0]] if into else None})
    return out


# --------------------------------------------------------------------------- the numbers of each node


def _nodes(graph: Graph, grads: dict, steps: dict, cells: int) -> dict:
    positions = _backward_positions(graph, steps)
    out = {}
    for n in graph.nodes.values():
        t = n.tensor
        first, done = positions.get(n.id, (0, 0))
        item = {
            "kind": n.kind, "title": n.title, "op": n.op, "shape": list(n.shape) if n.shape is not None else None,
            "scope": t.scope if t is not None else n.path, "home": _home(n),
            "step": [n.step[0], n.step[1]] if n.step and n.step[1] is not None else None,
            "first": first, "done": done,
            "detail": n.detail, "members": n.members,
        }
        if t is not None:
            item["dtype"] = str(t.dtype)
            item["requiresGrad"] = bool(t.requires_grad)
            item["value"] = summarize(t.data, cells)
            g = grads.get(id(t))
            item["grad"] = None if g is None else summarize(g, cells)
        out[n.id] = item
    return out


def _num(x):
    """A number for the page: 5 significant digits; NaN and ±inf as text (JSON has no such numbers)."""
    x = float(x)
    if not np.isfinite(x):
        return "nan" if np.isnan(x) else "inf" if x > 0 else "-inf"
    return float(f"{x:.5g}")


def _picks(n: int, most: int) -> list:
    """Up to ``most`` evenly spaced indices into range(n), first and last included."""
    if n <= most:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, most)})


def summarize(array, cells: int = 16) -> dict:
    """What the page shows of a value or gradient: size, min, max, mean, std, norm, the first values, a heatmap.

    The heatmap is the array as a matrix (leading axes merged into rows), at most
    ``cells`` rows and columns (a single row: ``2 cells`` columns) picked evenly,
    each cell an integer in −99…99 proportional to the value over ``scale`` = max |x|.
    """
    a = np.asarray(array)
    out = {"size": int(a.size)}
    if a.dtype.kind not in "biuf" or a.size == 0:
        return out
    f = a.astype(np.float64)
    finite = np.isfinite(f)
    good = f[finite]
    out["nonfinite"] = int(f.size - good.size)
    if good.size:
        out.update(min=_num(good.min()), max=_num(good.max()), mean=_num(good.mean()), std=_num(good.std()),
                   norm=_num(np.sqrt(np.sum(good * good))))
    flat = f.reshape(-1)
    out["head"] = [_num(v) for v in flat[:12]]
    if a.dtype.kind in "biu":
        out["head"] = [int(v) for v in a.reshape(-1)[:12]]
        out["integer"] = True
    if a.size > 1:
        m = f.reshape(-1, f.shape[-1]) if f.ndim >= 2 else f.reshape(1, -1)
        rows, cols = _picks(m.shape[0], cells), _picks(m.shape[1], cells if m.shape[0] > 1 else 2 * cells)
        sub = m[np.ix_(rows, cols)]
        scale = float(np.max(np.abs(sub[np.isfinite(sub)]), initial=0.0))
        q = np.where(np.isfinite(sub), np.round(sub / (scale or 1.0) * 99), np.nan)
        out["heat"] = {
            "shape": list(m.shape), "rows": rows if len(rows) < m.shape[0] else None,
            "cols": cols if len(cols) < m.shape[1] else None, "scale": _num(scale),
            "q": [[None if np.isnan(v) else int(v) for v in row] for row in q],
        }
    return out


# --------------------------------------------------------------------------- the table of derivatives


def derivative_rule(fn_class) -> dict:
    """The derivative rule of an op as its Function class writes it.

    Returns {"class", "module", "op", "rule" (the comment of the ``op = "..."`` line
    and the comment lines right under it), "doc" (the class docstring), "backward"
    (the source of its ``backward`` method)}; parts that cannot be read are "".
    """
    out = {"class": fn_class.__name__, "module": fn_class.__module__, "op": getattr(fn_class, "op", ""),
           "rule": "", "doc": "", "backward": ""}
    doc = fn_class.__dict__.get("__doc__")
    out["doc"] = inspect.cleandoc(doc) if doc else ""
    try:
        source = inspect.getsource(fn_class)
    except (OSError, TypeError):
        source = ""
    lines = source.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"\s*op\s*=\s*(['\"])(.*?)\1\s*(?:#\s?(.*))?$", line)
        if m:
            comment = [m.group(3).strip()] if m.group(3) else []
            for more in lines[i + 1:]:
                c = re.match(r"\s*#\s?(.*)$", more)
                if not c:
                    break
                comment.append(c.group(1).strip())
            out["rule"] = "\n".join(comment)
            break
    backward = fn_class.__dict__.get("backward")
    if backward is not None:
        try:
            out["backward"] = inspect.cleandoc("\n" + inspect.getsource(backward))
        except (OSError, TypeError):
            pass
    return out


def op_classes() -> dict:
    """{op name: Function class} for every Function subclass loaded (ops.py, the fused cells, ...)."""
    found, stack = {}, list(tg.Function.__subclasses__())
    while stack:
        cls = stack.pop()
        found.setdefault(getattr(cls, "op", cls.__name__), cls)
        stack.extend(cls.__subclasses__())
    return found


def _rules(graph: Graph) -> dict:
    classes, rules = None, {}
    for n in graph.nodes.values():
        t = n.tensor
        if t is None or t.op is None or t.op in rules:
            continue
        fn = getattr(t, "grad_fn", None)
        cls = type(fn) if fn is not None and hasattr(type(fn), "backward") else None
        if cls is None:
            classes = classes or op_classes()
            cls = classes.get(t.op)
        if cls is not None:
            rules[t.op] = derivative_rule(cls)
    return rules


# --------------------------------------------------------------------------- the page


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _json_for_html(data) -> str:
    # "<" escaped: no name in the data can end the script element or open a comment
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def _page(svg: str, data: dict) -> str:
    title = html.escape(data["title"])
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; \
style-src 'unsafe-inline'; img-src data:">
<link rel="icon" href="data:,">
<title>{title} · tinygrad_seq explorer</title>
<style>
{_asset("explorer.css")}
</style>
</head>
<body>
<header id="tgs-header">
  <span class="tgs-brand">tinygrad_seq</span>
  <span id="tgs-title">{title}</span>
  <span class="tgs-tools">
    <button id="tgs-fit" title="fit the whole graph (key f)">fit</button>
    <button id="tgs-zoom-in" title="zoom in (key +)">+</button>
    <button id="tgs-zoom-out" title="zoom out (key −)">−</button>
    <button id="tgs-collapse-steps" title="draw every time step as one box">collapse steps</button>
    <button id="tgs-expand-all" title="expand every scope">expand all</button>
  </span>
  <span class="tgs-help">drag to pan · wheel to zoom · click a frame to collapse it · hover a node</span>
</header>
<main id="tgs-main">
  <div id="tgs-graph">{svg}</div>
  <aside id="tgs-info"><p class="tgs-hint">Hover or click a node to see its value, its gradient and the
  derivative rule of its op. Click a frame (a time step, a layer) to collapse it into one box; click the
  box to expand it again.</p></aside>
</main>
<section id="tgs-backward">
  <div class="tgs-controls">
    <strong>Backward pass</strong>
    <button id="tgs-bw-first" title="back to the loss">|◀</button>
    <button id="tgs-bw-prev" title="one step towards the loss">◀</button>
    <input id="tgs-slider" type="range" min="0" max="0" value="0" step="1" aria-label="backward pass position">
    <button id="tgs-bw-next" title="one step further back in time (key →)">▶</button>
    <button id="tgs-bw-last" title="to the first step">▶|</button>
    <button id="tgs-bw-play" title="play the backward pass">play</button>
    <button id="tgs-bw-off" title="leave the backward view">forward view</button>
    <span id="tgs-bw-label"></span>
    <label class="tgs-log"><input id="tgs-bars-log" type="checkbox" checked> log scale</label>
  </div>
  <div id="tgs-bars"></div>
</section>
<script id="tgs-data" type="application/json">{_json_for_html(data)}</script>
<script>
{_asset("explorer.js")}
</script>
</body>
</html>
"""
