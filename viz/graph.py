"""What a drawing of a computational graph contains, decided from the tensors alone (no graphviz here).

``build(loss)`` walks the graph that produced ``loss`` back to its leaves and
returns a `Graph`: nodes (parameters, inputs, values, losses, collapsed
scopes), edges, and for every node the scope it is drawn in.  drawing.py turns
it into Graphviz (and placement.py decides where everything goes); tests and
``viz.explore`` read it.

The walk reads only the public surface of a Tensor: ``op`` (None for a leaf),
``parents`` (the inputs that require grad), ``inputs`` when the engine offers
it (every input, constants such as x(t) and y(t) included), ``name``,
``scope`` (``"LSTM/l0/t=3/forget_gate"``), ``shape``, ``data``, ``grad``,
``requires_grad``.

Four decisions make an unrolled graph readable:

* Ops that only move data (reshape, transpose, slicing a time step out of a
  sequence, stacking) are *folded*: their inputs are joined to their users.
  ``W.T`` used at every step then shows as W with an edge into every step.
* Parameters are drawn once, outside every scope, so weight sharing shows as
  one node with an edge into each time step.
* The losses are the output and every scalar that is summed into it: the
  per-step losses L(t) feeding the total L.
* A scope can be *collapsed* into one box, chosen by depth, by name pattern or
  by a function; a graph larger than ``max_nodes`` collapses its time steps
  by itself and, if still too large, draws only the first and last steps.

Time steps are numbered as the lecture numbers them, t = 1 … T, with h(0) the
initial state, whatever the code did: the layers of ``nn`` count their scopes
from 0 (``LSTM/l0/t=0`` is the first step, as ``output[0]`` is its output), so a
sequence whose steps start at 0 is drawn shifted by one.  Every path in a
`Graph` (``Node.cluster``, ``Node.step``, ``Node.path``) uses this drawn
numbering; ``node.tensor.scope`` keeps the engine's.  Truncated BPTT drawn as
several chunks (``build([L1, L2], chunks=True)``) numbers its steps on across
the chunks (t = 1 … 4, then 5 … 8) and joins each detached state to the value
it was detached from by a *cut* edge, along which no gradient flows.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import warnings
from collections.abc import Callable, Iterable

import numpy as np

from tinygrad_seq import Tensor
from tinygrad_seq.nn import Parameter

# Ops that copy or rearrange values without computing anything new.
STRUCTURAL_OPS = frozenset(
    {"reshape", "permute", "expand", "getitem", "slice", "select", "unbind", "stack", "cat", "cast"}
)
# Ops through which a total loss is made from per-step losses (L = Σ_t L(t)).
SUMMING_OPS = frozenset({"add", "sum", "mean", "stack", "cat", "reshape", "expand"})
COMBINING_OPS = frozenset({"add", "stack", "cat"})

TIME_STEP = re.compile(r"^t=(-?\d+)$")
STEP_PATTERN = "t=*"

# Node kinds, in legend order.
KINDS = ("parameter", "input", "value", "op", "loss", "detached", "scope", "elided")


@dataclasses.dataclass
class Node:
    """One node of the drawing.

    kind:     one of KINDS
    title:    the big text (name, op, or scope)
    cluster:  scope path of the cluster it is drawn in ("" = outside every cluster)
    step:     (path of the time-step scope, t) if the node belongs to a time step, else None
    tensor:   the tensor drawn, or None for a collapsed scope / elided steps
    members:  how many tensors a collapsed box stands for
    requires_grad: a gradient flows back into it (parameters and what is computed from them;
              for a box: into one of its tensors)
    chunk:    which of the roots drawn as truncated-BPTT chunks it belongs to (0 otherwise)

    Paths (cluster, step, path) number the time steps as drawn: from 1 (see the module docstring).
    """

    id: str
    kind: str
    title: str
    cluster: str
    step: tuple | None = None
    op: str | None = None
    shape: tuple | None = None
    tensor: Tensor | None = None
    members: int = 1
    detail: str = ""  # small print under the title for boxes (e.g. "t = 4 … 996")
    path: str = ""  # the scope a collapsed box stands for
    grad_norm: float | None = None
    requires_grad: bool = False
    chunk: int = 0


@dataclasses.dataclass
class Edge:
    """src feeds dst.

    cross_time:   the two ends sit in different steps of one sequence (h(t−1) → h(t))
    carries_grad: the backward pass sends ∂L/∂src back along it (src requires grad); an edge out of an
                  input such as x(t) or h(0) carries none
    grad_norm:    ‖∂L/∂(the tensor at dst)‖, the gradient sent back along this edge (backward view only)
    cut:          not data flow: dst is ``src.detach()``, the state a truncated-BPTT chunk starts from;
                  the gradient stops here
    """

    src: str
    dst: str
    cross_time: bool = False
    grad_norm: float | None = None
    carries_grad: bool = False
    cut: bool = False


@dataclasses.dataclass
class Graph:
    nodes: dict  # id -> Node, in drawing order
    edges: list
    notes: list  # sentences drawn on the picture (e.g. why it was collapsed)
    tensor_count: int  # tensors in the graph before folding and collapsing
    scopes: dict = dataclasses.field(default_factory=dict)  # id(tensor) -> its scope path as drawn

    def drawn_scope(self, t: Tensor) -> str:
        """The scope of tensor ``t`` with its time steps numbered as drawn (``LSTM/l0/t=0`` → ``LSTM/l0/t=1``)."""
        return self.scopes.get(id(t), t.scope)

    def find(self, title: str) -> list:
        """The nodes whose title is ``title`` (e.g. the parameter ``"W"``)."""
        return [n for n in self.nodes.values() if n.title == title]

    def out_edges(self, node_id: str) -> list:
        return [e for e in self.edges if e.src == node_id]

    def in_edges(self, node_id: str) -> list:
        return [e for e in self.edges if e.dst == node_id]


# --------------------------------------------------------------------------- scopes


def time_step(scope: str) -> tuple | None:
    """``"LSTM/l0/t=3/forget_gate"`` → ``("LSTM/l0/t=3", 3)``: the innermost time-step scope and its t."""
    parts = scope.split("/") if scope else []
    for i in range(len(parts) - 1, -1, -1):
        m = TIME_STEP.match(parts[i])
        if m:
            return "/".join(parts[: i + 1]), int(m.group(1))
    return None


def parent_path(path: str) -> str:
    return path.rpartition("/")[0]


def pretty_scope(component: str) -> str:
    """How a scope is labelled: ``t=3`` as ``t = 3``; other names as they are."""
    m = TIME_STEP.match(component)
    return f"t = {m.group(1)}" if m else component


def collapser(collapse) -> Callable[[str], str | None]:
    """Turn the ``collapse`` argument into scope path → path of the scope to draw as one box (or None).

    collapse: None (nothing), an int depth (``2``: every scope two levels deep,
    e.g. ``LSTM/l0``), a name pattern or a list of them matched against each
    scope's name or full path (``"t=*"`` every time step, ``"*_gate"`` every
    LSTM gate, ``"encoder"``), or a function ``path -> bool``.  The outermost
    matching scope wins.
    """
    if collapse is None or collapse is False:
        return lambda path: None
    if isinstance(collapse, bool) or (isinstance(collapse, int) and collapse < 1):
        raise ValueError(f"viz: collapse depth must be a positive int, got {collapse!r}")
    if isinstance(collapse, int):
        depth = collapse

        def by_depth(path):
            parts = path.split("/") if path else []
            return "/".join(parts[:depth]) if len(parts) >= depth else None

        return by_depth
    if callable(collapse):
        test = collapse
    else:
        patterns = [collapse] if isinstance(collapse, str) else list(collapse)
        if not all(isinstance(p, str) for p in patterns):
            raise TypeError(
                f"viz: collapse must be an int, a pattern, a list of patterns or a function; got {collapse!r}"
            )

        def test(path):
            name = path.rpartition("/")[2]
            return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(path, p) for p in patterns)

    cache = {}

    def by_test(path):
        if path not in cache:
            parts, found = path.split("/") if path else [], None
            for i in range(1, len(parts) + 1):
                prefix = "/".join(parts[:i])
                if test(prefix):
                    found = prefix
                    break
            cache[path] = found
        return cache[path]

    return by_test


# --------------------------------------------------------------------------- the walk


def inputs_of(t: Tensor, constants: bool = True) -> list:
    """The tensors ``t`` was computed from, each once.

    Uses ``t.inputs`` (every input, constants too) when the engine provides it
    and still holds it (it is freed by a backward pass without
    ``retain_graph``), otherwise ``t.parents`` (only the inputs that require grad).
    """
    ins = getattr(t, "inputs", None) if constants else None
    if ins is None:
        ins = t.parents
    out, seen = [], set()
    for a in ins:
        if isinstance(a, Tensor) and id(a) not in seen:
            seen.add(id(a))
            out.append(a)
    return out


def trace(roots: list, constants: bool = True) -> tuple[list, dict]:
    """Every tensor the roots depend on, inputs before users, and each one's inputs.

    An explicit stack instead of recursion: a 10,000-step unroll is fine.
    Returns ``(order, inputs)`` with ``inputs[id(t)]`` the list of t's inputs.
    """
    order, ins, seen = [], {}, set()
    stack = [(r, False) for r in reversed(roots)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        ins[id(t)] = inputs_of(t, constants)
        stack.append((t, True))
        stack.extend((a, False) for a in reversed(ins[id(t)]) if id(a) not in seen)
    return order, ins


def find_losses(roots: list, ins: dict) -> set:
    """ids of the loss tensors: each scalar root, and the scalars summed into it (the L(t) of L = Σ_t L(t)).

    From the root the walk goes back through ops that add losses up (+, stack,
    cat) and through reductions and reshapes; a scalar that is one of several
    terms of a sum is a loss.  So the per-step losses are found however the
    total was formed (a chain of +, or a stack and a sum), and nothing further
    back (an o(t), or the unreduced cross-entropy inside L(t), is not marked).
    """
    losses, seen = {id(r) for r in roots if r.numel() == 1 and r.op is not None}, set()
    stack = [r for r in roots if r.numel() == 1]
    while stack:
        t = stack.pop()
        if id(t) in seen or t.op not in SUMMING_OPS:
            continue
        seen.add(id(t))
        terms = ins[id(t)]
        for a in terms:
            if t.op in COMBINING_OPS and a.numel() == 1 and a.op is not None:
                losses.add(id(a))
            stack.append(a)
    return losses


# --------------------------------------------------------------------------- numbering the time steps


def chunk_of(roots: list, order: list, ins: dict) -> dict:
    """``{id(t): k}``: the first root (chunk) whose graph reaches t.  One root: every tensor is in chunk 0."""
    chunk, reached = {}, set()
    for k, root in enumerate(roots):
        stack = [root]
        while stack:
            t = stack.pop()
            if id(t) in reached:
                continue
            reached.add(id(t))
            chunk[id(t)] = k
            stack.extend(ins[id(t)])
    return chunk


def drawn_scopes(order: list, chunk: dict) -> dict:
    """``{id(t): scope path with its time steps numbered as drawn}``.

    A step ``t=k`` of a sequence (the steps under one parent path) whose steps start at
    t=0 is drawn as t=k+1.  In chunk 2, 3, … of a truncated-BPTT drawing the numbers go on
    from where the previous chunk of the same sequence ended, unless they already do.
    """
    steps = {}  # (chunk, sequence path) -> the step numbers used in it
    for t in order:
        parts = t.scope.split("/") if t.scope else []
        for i, part in enumerate(parts):
            m = TIME_STEP.match(part)
            if m:
                steps.setdefault((chunk[id(t)], "/".join(parts[:i])), set()).add(int(m.group(1)))
    shift, last = {}, {}  # (chunk, sequence) -> added to each number; sequence -> last number drawn so far
    for c, seq in sorted(steps):
        first = min(steps[c, seq]) + (1 if min(steps[c, seq]) == 0 else 0)
        before = last.get(seq, 0)
        shift[c, seq] = (first - min(steps[c, seq])) + (before if first <= before else 0)
        last[seq] = max(steps[c, seq]) + shift[c, seq]

    cache, out = {}, {}
    for t in order:
        key = (chunk[id(t)], t.scope)
        if key not in cache:
            parts = t.scope.split("/") if t.scope else []
            drawn = []
            for i, part in enumerate(parts):
                m = TIME_STEP.match(part)
                drawn.append(f"t={int(m.group(1)) + shift[key[0], '/'.join(parts[:i])]}" if m else part)
            cache[key] = "/".join(drawn)
        out[id(t)] = cache[key]
    return out


# --------------------------------------------------------------------------- building the graph


@dataclasses.dataclass
class Walk:
    """What `build` learns from the tensors once, before it decides what to collapse or elide.

    order:   every tensor the roots depend on, inputs before users
    inputs:  id(t) → the tensors t was computed from
    kinds:   id(t) → its node kind (KINDS)
    kept:    id(t) → drawn as a node of its own (False: a data-moving op folded away)
    rep:     id(t) → the kept tensors that stand for it (itself, or the inputs of a folded op)
    scopes:  id(t) → its scope path with the time steps numbered as drawn
    chunk:   id(t) → the root (truncated-BPTT chunk) whose graph it belongs to
    cuts:    (value, value.detach()) pairs joined by a cut edge
    gradients: id(t) → ‖∂L/∂t‖, for the backward view
    """

    order: list
    inputs: dict
    kinds: dict
    kept: dict
    rep: dict
    scopes: dict
    chunk: dict
    cuts: list
    gradients: dict

    def has_steps(self) -> bool:
        return any(time_step(self.scopes[id(t)]) for t in self.order)


def build(
    roots,
    *,
    collapse=None,
    fold: bool = True,
    constants: bool = True,
    detached: Iterable = (),
    mark_detached: bool = False,
    chunks: bool = False,
    max_nodes: int = 400,
    max_steps: int = 24,
    keep_steps: int = 3,
    gradients: dict | None = None,
) -> Graph:
    """The drawing's content for the graph that produced ``roots`` (a tensor or a list of them).

    collapse:      scopes to draw as one box (see ``collapser``; patterns see the drawn numbering, t=1 first)
    fold:          hide ops that only move data (STRUCTURAL_OPS) unless they carry a name
    constants:     draw inputs that do not require grad (x(t), targets) when the engine exposes them
    detached:      tensors to mark as truncated-BPTT cuts (e.g. the detached state a chunk starts from)
    mark_detached: also mark every leaf without grad that was made outside the time steps but is used
                   inside one: the state carried in from an earlier chunk (or the initial state), where
                   gradients stop
    chunks:        the roots are the losses of consecutive truncated-BPTT chunks, in order: their steps
                   are numbered on across the chunks, and the state each chunk starts from (a detached
                   copy of a value of the chunk before) is marked and joined to that value by a cut edge
    max_nodes:     above this many nodes the time steps collapse, then the middle steps are elided,
                   keeping ``keep_steps`` steps at each end; a note on the picture says so
    max_steps:     collapsed steps of one sequence drawn side by side before the middle ones are elided
    gradients:     ``{id(tensor): ‖∂L/∂tensor‖}`` to print on nodes and edges (the backward view)
    """
    roots = [roots] if isinstance(roots, Tensor) else list(roots)
    if not roots or not all(isinstance(r, Tensor) for r in roots):
        kinds = sorted({type(r).__name__ for r in roots}) or ["nothing"]
        raise TypeError(f"viz: draw a Tensor or a list of Tensors; got {', '.join(kinds)}")
    if max_nodes < 1 or keep_steps < 1:
        raise ValueError(f"viz: max_nodes and keep_steps must be positive, got {max_nodes}, {keep_steps}")
    walk = _walk(roots, fold, constants, detached, mark_detached, chunks, gradients or {})

    notes = []
    collapse_of = collapser(collapse)
    graph = _assemble(walk, collapse_of)
    if len(graph.nodes) > max_nodes and collapse is None and walk.has_steps():
        collapse_of = collapser(STEP_PATTERN)
        graph = _assemble(walk, collapse_of)
        notes.append(f"{len(walk.order)} tensors (more than max_nodes={max_nodes}): each time step drawn as one box.")
    if len(graph.nodes) > max_nodes or _longest_row(graph) > max_steps:
        elided = _middle_steps(walk, keep_steps)
        if elided:
            graph = _assemble(walk, collapse_of, elided)
            notes.append(f"Only the first and last {keep_steps} steps of each sequence are drawn; the rest are elided.")
    if len(graph.nodes) > max_nodes:
        notes.append(f"{len(graph.nodes)} nodes: pass collapse=… to draw scopes as single boxes.")
    graph.notes = notes
    return graph


def _walk(roots, fold, constants, detached, mark_detached, chunks, gradients) -> Walk:
    """Everything `build` needs to know about the tensors, found once (see `Walk`)."""
    order, ins = trace(roots, constants)
    root_ids = {id(r) for r in roots}
    chunk = chunk_of(roots, order, ins) if chunks else {id(t): 0 for t in order}
    scopes = drawn_scopes(order, chunk)
    cut = {id(t) for t in detached}
    carried = _carried_states(order, ins, scopes)
    if mark_detached:
        cut |= carried
    kept = {id(t): not (fold and t.op in STRUCTURAL_OPS and t.name is None and id(t) not in root_ids) for t in order}
    rep = {}
    for t in order:
        rep[id(t)] = (t,) if kept[id(t)] else tuple({id(r): r for a in ins[id(t)] for r in rep[id(a)]}.values())
    cuts = []  # each chunk's starting state, joined to the value of the chunk before it was detached from
    for t in order:
        if chunks and chunk[id(t)] > 0 and (id(t) in cut or id(t) in carried):
            origin = _detached_from(t, [u for u in order if chunk[id(u)] == chunk[id(t)] - 1], scopes)
            if origin is not None:
                cut.add(id(t))
                # a folded origin (h_n, a stack of the last h) is drawn as what it stands for
                cuts.append((origin if kept[id(origin)] else rep[id(origin)][-1], t))
    losses = find_losses(roots, ins)
    kinds = {id(t): _kind(t, losses, cut) for t in order}
    return Walk(order, ins, kinds, kept, rep, scopes, chunk, cuts, gradients)


def _detached_from(leaf: Tensor, earlier: list, scopes: dict) -> Tensor | None:
    """The tensor of the chunk before that ``leaf`` is a detached copy of, or None.

    ``detach()`` keeps the array, so the same array (or memory) names it; a state that went
    through a layer's bookkeeping first (``h_n`` is a stack of the last h) is found by its
    values, latest step first.
    """
    for u in reversed(earlier):
        if u.data is leaf.data:
            return u
    for u in reversed(earlier):
        if np.shares_memory(u.data, leaf.data):
            return u
    same = [u for u in earlier if u.op is not None and u.data.size == leaf.data.size  # computed, not a leaf
            and np.array_equal(u.data.reshape(-1), leaf.data.reshape(-1))]
    if not same:
        return None
    return max(reversed(same), key=lambda u: ((time_step(scopes[id(u)]) or ("", -1))[1], u.name is not None))


def _longest_row(graph: Graph) -> int:
    """The most collapsed time steps of one sequence (drawn side by side)."""
    rows = {}
    for n in graph.nodes.values():
        if n.kind == "scope" and n.step is not None and n.step[0] == n.path:  # the box is a whole step
            rows[n.cluster] = rows.get(n.cluster, 0) + 1
    return max(rows.values(), default=0)


def _kind(t: Tensor, losses: set, cut: set) -> str:
    if id(t) in cut:
        return "detached"
    if t.op is None:
        return "parameter" if (isinstance(t, Parameter) or t.requires_grad) else "input"
    if id(t) in losses:
        return "loss"
    return "value" if t.name else "op"


def _carried_states(order: list, ins: dict, scopes: dict) -> set:
    """Leaves without grad made outside every time step and used inside one (see ``build``)."""
    out = set()
    for u in order:
        if u.op is None or time_step(scopes[id(u)]) is None:
            continue
        for a in ins[id(u)]:
            if a.op is None and not a.requires_grad and a.dtype.kind == "f" and time_step(scopes[id(a)]) is None:
                out.add(id(a))
    return out


def _middle_steps(walk: Walk, keep: int) -> frozenset:
    """Paths of the time-step scopes to elide: all but the first and last ``keep`` steps of each sequence."""
    by_seq = {}
    for t in walk.order:
        st = time_step(walk.scopes[id(t)])
        if st:
            by_seq.setdefault(parent_path(st[0]), {})[st[1]] = st[0]
    elided = set()
    for steps in by_seq.values():
        ts = sorted(steps)
        if len(ts) > 2 * keep + 1:
            elided.update(steps[t] for t in ts[keep:-keep])
    return frozenset(elided)


def _assemble(walk: Walk, collapse_of: Callable[[str], str | None], elided: frozenset = frozenset()) -> Graph:
    """One pass: place every kept tensor in a node (its own, a scope box or the elided box) and join them."""
    nodes, node_of, boxes = {}, {}, {}
    grads = walk.gradients

    def box(key, kind, cluster, step, title, t):
        if key not in boxes:
            nid = f"s{len(boxes)}"
            boxes[key] = nid
            nodes[nid] = Node(nid, kind, title, cluster, step=step, members=0, path=key[1],
                              chunk=walk.chunk[id(t)])
        node = nodes[boxes[key]]
        node.members += 1
        node.requires_grad = node.requires_grad or t.requires_grad
        return node.id

    for t in walk.order:
        if not walk.kept[id(t)]:
            continue
        kind, scope = walk.kinds[id(t)], walk.scopes[id(t)]
        st = time_step(scope)
        if kind != "parameter" and st is not None and st[0] in elided:
            seq = parent_path(st[0])
            node_of[id(t)] = box(("elided", seq), "elided", seq, (seq, None), "…", t)
            continue
        key = None if kind == "parameter" else collapse_of(scope)
        if key is not None and not (kind in ("input", "detached") and t.name):
            title = pretty_scope(key.rpartition("/")[2])
            node_of[id(t)] = box(("scope", key), "scope", parent_path(key), time_step(key), title, t)
            continue
        # parameters are drawn once, outside every scope: weight sharing is visible;
        # a named input of a collapsed scope stays visible next to its box
        home = "" if kind == "parameter" else parent_path(key) if key is not None else scope
        nid = f"n{len(node_of)}"
        node_of[id(t)] = nid
        nodes[nid] = Node(
            nid, kind, t.name or t.op or ("parameter" if kind == "parameter" else "input"), home,
            step=None if kind == "parameter" else time_step(home),
            op=t.op, shape=tuple(t.shape), tensor=t, grad_norm=grads.get(id(t)),
            requires_grad=t.requires_grad, chunk=walk.chunk[id(t)],
        )

    if elided:  # say which steps each elided box stands for
        for (what, seq), nid in boxes.items():
            if what == "elided":
                ts = sorted(time_step(p)[1] for p in elided if parent_path(p) == seq)
                nodes[nid].title = f"… {len(ts)} steps …"
                nodes[nid].detail = f"t = {ts[0]} … {ts[-1]}"
                # it stands in the sequence where its first step was, for ordering and sideways edges
                nodes[nid].step = (f"{seq}/t={ts[0]}" if seq else f"t={ts[0]}", ts[0])

    edges = {}
    for u in walk.order:
        if not walk.kept[id(u)]:
            continue
        dst = node_of[id(u)]
        g = grads.get(id(u))
        for a in walk.inputs[id(u)]:
            for r in walk.rep[id(a)]:
                src = node_of[id(r)]
                if src == dst:
                    continue
                e = edges.get((src, dst))
                if e is None:
                    e = edges[(src, dst)] = Edge(src, dst, _cross_time(nodes[src], nodes[dst]))
                if r.requires_grad and u.requires_grad:
                    e.carries_grad = True
                    if g is not None:
                        e.grad_norm = g if e.grad_norm is None else max(e.grad_norm, g)
    for origin, t in walk.cuts:
        src, dst = node_of[id(origin)], node_of[id(t)]
        if src != dst and (src, dst) not in edges:
            edges[(src, dst)] = Edge(src, dst, cut=True)
    return Graph(nodes, list(edges.values()), [], len(walk.order), walk.scopes)


def _cross_time(a: Node, b: Node) -> bool:
    """Both ends in time steps of the same sequence, at different t (drawn sideways, not up)."""
    if a.step is None or b.step is None:
        return False
    return parent_path(a.step[0]) == parent_path(b.step[0]) and a.step[1] != b.step[1]


# --------------------------------------------------------------------------- gradients for the backward view


def gradient_norms(roots: list, tensors: list) -> dict:
    """``{id(t): ‖∂L/∂t‖}`` for the tensors that require grad.

    Computed afresh with ``tinygrad_seq.grad`` while the graph is alive (nothing
    needs ``retain_grad``, no ``.grad`` is touched); after a backward pass has
    freed the graph, read from ``.grad`` where it was kept.  Several scalar roots
    (the losses of truncated-BPTT chunks) give each tensor the sum of their
    gradients: the gradient of its own chunk's loss, and for a shared weight the
    sum over the chunks.
    """
    import tinygrad_seq as tg

    wanted = [t for t in tensors if t.requires_grad]
    if wanted and all(r.numel() == 1 and r.requires_grad for r in roots):
        try:
            total = {}
            for root in roots:
                grads = tg.grad(root, wanted, retain_graph=True, allow_unused=True)
                for t, g in zip(wanted, grads):
                    if g is not None:
                        total[id(t)] = g.data if id(t) not in total else total[id(t)] + g.data
            return {k: float(np.linalg.norm(g)) for k, g in total.items()}
        except RuntimeError:
            pass  # freed by an earlier backward(): fall back to the stored gradients
    with warnings.catch_warnings():  # (an intermediate's .grad is None unless it was retained: that is expected here)
        warnings.simplefilter("ignore", UserWarning)
        kept = {id(t): t.grad for t in wanted}
    return {i: float(np.linalg.norm(g.data)) for i, g in kept.items() if g is not None}
