"""The backward pass: grad mode, scopes, anomaly detection and the graph walk.

A tensor made by an op remembers the op (a `Function`, see tensor.py) and the op
remembers its inputs.  `backward()` first counts how many ops used each tensor,
then visits the graph from the output back to the leaves, calling each op's
rule from ops.py and *adding* what it returns into the gradient of each input.
A tensor is visited once all its uses have sent their share, so its gradient
is complete.  The adding is the whole of BPTT: a weight used at every time step
receives the sum over steps.

Both passes keep an explicit stack, so a 100,000-step unroll needs no recursion.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np


class _State(threading.local):
    """The switches every op reads, one set per thread (as PyTorch's grad mode is thread-local).

    A ``no_grad()`` block in one thread leaves recording on in the others, and scope names
    and anomaly checks do not mix across threads; a new thread starts from the defaults.
    The three are kept as one tuple, ``mode``, so that an op reads them with one lookup.
    """

    mode = (True, False, "")  # (grad_enabled, anomaly, scope): recording on, no NaN checks, no scope

    grad_enabled = property(lambda self: self.mode[0], lambda self, on: self._set(0, bool(on)))
    anomaly = property(lambda self: self.mode[1], lambda self, on: self._set(1, bool(on)))
    scope = property(lambda self: self.mode[2], lambda self, path: self._set(2, path))

    def _set(self, i, value):
        mode = list(self.mode)
        mode[i] = value
        self.mode = tuple(mode)


state = _State()


# --------------------------------------------------------------------------- modes


@contextlib.contextmanager
def set_grad_enabled(mode: bool):
    """Record ops for backward (True) or not (False) inside the block, as ``torch.set_grad_enabled``."""
    before = state.grad_enabled
    state.grad_enabled = bool(mode)
    try:
        yield
    finally:
        state.grad_enabled = before


def no_grad():
    """Run ops without recording them (evaluation, optimizer updates); also a decorator."""
    return set_grad_enabled(False)


def enable_grad():
    """Record ops again inside a `no_grad()` block."""
    return set_grad_enabled(True)


def is_grad_enabled() -> bool:
    return state.grad_enabled


@contextlib.contextmanager
def detect_anomaly():
    """Raise at the first op whose value or gradient holds a NaN or an Inf.

    The error names the op and the scope it ran in, e.g.
    ``log in LSTM/t=17/loss produced NaN``.  Checking costs a pass over every
    array, so it is off unless asked for.
    """
    before = state.anomaly
    state.anomaly = True
    try:
        yield
    finally:
        state.anomaly = before


@contextlib.contextmanager
def scope(name: str):
    """Name the tensors made inside: ``with scope("t=3"):`` nests as ``RNN/t=3``.

    Modules and unrolled layers open scopes for themselves; viz groups the
    drawing by these paths and error messages quote them.
    """
    name = str(name)
    if not name or "/" in name:
        raise ValueError(f"scope name must be non-empty and contain no '/': {name!r}")
    before = state.scope
    state.scope = f"{before}/{name}" if before else name
    try:
        yield state.scope
    finally:
        state.scope = before


def current_scope() -> str:
    return state.scope


def located(op: str, scope_path: str) -> str:
    """``'matmul in RNN/t=4'``: how error messages name the place of an op."""
    return f"{op} in {scope_path}" if scope_path else op


def check_finite(value, what: str) -> None:
    """Raise FloatingPointError naming ``what`` if ``value`` (an array, a numpy scalar or a Tensor) is not finite."""
    array = np.asarray(value)  # a Tensor gives its array; a numpy scalar (0-d arithmetic) a 0-d array
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        kind = "NaN" if np.isnan(array).any() else "Inf"
        raise FloatingPointError(f"{kind} first produced by {what}")


# --------------------------------------------------------------------------- the walk


def count_uses(roots):
    """For every tensor the roots depend on (through ops that require grad): how many ops used it.

    Returns ``{id(tensor): count}``.  A tensor's gradient is complete once each
    of those ops has sent back its share; the walk below waits for exactly that.
    """
    uses, stack = {}, []
    for r in roots:
        if id(r) not in uses:
            uses[id(r)] = 0
            stack.append(r)
    while stack:
        fn = stack.pop()._ctx
        if fn is None:
            continue
        for p in fn.parents:
            if id(p) in uses:
                uses[id(p)] += 1
            else:
                uses[id(p)] = 1
                stack.append(p)
    return uses


def unbroadcast(g, shape, fn=None):
    """Sum a gradient back to the shape of the input it belongs to.

    Broadcasting copies an input along new leading axes and along axes of size
    1; the chain rule adds up the copies' gradients.  Every op relies on this
    one function instead of handling broadcasting itself.  A gradient that no
    broadcasting explains is a bug in the rule of ``fn``, reported as such.
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead < 0 or any(n != 1 and n != m for n, m in zip(shape, g.shape[lead:])):
        op = "a rule" if fn is None else f"the backward of {located(fn.op, fn.scope)}"
        raise RuntimeError(f"{op} returned a gradient of shape {g.shape} for an input of shape {shape}")
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def run_backward(roots, root_grads, *, retain_graph=False, create_graph=False, inputs=None, allow_unused=False):
    """Propagate ``root_grads`` from ``roots`` back through the graph.

    With ``inputs=None`` the gradients are added into ``.grad`` of every leaf
    that requires grad (and of tensors that called ``retain_grad()``); with a
    list of ``inputs`` they are returned instead, in that order (arrays, or
    Tensors with ``create_graph``; None for an input the roots do not reach).

    The walk visits a tensor once all the ops that used it have sent their
    share of its gradient (``count_uses``), so every tensor is visited once,
    after everything that depends on it, with no recursion and no sort.

    In the default mode every rule runs on plain numpy arrays (fast).  With
    ``create_graph=True`` the same rules run on Tensors, so the gradient is
    itself a graph that can be differentiated again.
    """
    uses = count_uses(roots)
    grads = seed(roots, root_grads, create_graph)
    ready = [r for r in {id(r): r for r in roots}.values() if uses[id(r)] == 0]
    wanted = None if inputs is None else {id(t): None for t in inputs}
    anomaly = state.anomaly
    with set_grad_enabled(create_graph):  # the rules' own ops are recorded only to differentiate them again
        while ready:
            t = ready.pop()
            fn, g = t._ctx, grads.pop(id(t), None)
            if g is not None:
                if t._hooks:
                    g = t._run_hooks(g, create_graph)
                if wanted is not None or fn is None or t._retains_grad:
                    keep(t, g, wanted, create_graph)
                if fn is not None:
                    send_to_inputs(fn, t, g, grads, create_graph, retain_graph, anomaly)
            if fn is not None:
                for p in fn.parents:  # a parent is ready once every op that used it has sent its share
                    uses[id(p)] -= 1
                    if uses[id(p)] == 0:
                        ready.append(p)
    return None if wanted is None else [wanted[id(t)] for t in inputs]


class Shares(dict):
    """``{id(tensor): the sum of the shares of its gradient received so far}``, as the walk fills it.

    The first share is kept as it came: a rule may hand one array to several inputs (add does), or a
    view.  The second makes a new array, the running sum, which is ours alone (``owned``): later
    shares are added into it in place, so a weight read at each of T steps costs one new array, not T.
    """

    def __init__(self):
        super().__init__()
        self.owned = set()  # (a tensor's entry is popped once, when the walk visits it: no share comes later)


def seed(roots, root_grads, create_graph):
    """The gradients the walk starts from: ``{id(root): its gradient}`` (a root given twice gets the sum)."""
    grads = Shares()
    for r, g in zip(roots, root_grads):
        g = g if create_graph else g._data
        if state.anomaly:
            check_finite(g, "the gradient given to backward()")
        grads[id(r)] = g if id(r) not in grads else grads[id(r)] + g
    return grads


def keep(t, g, wanted, create_graph):
    """Store the complete gradient ``g`` of ``t``: in ``wanted`` if it was asked for, else in ``t.grad``."""
    if wanted is not None:
        if id(t) in wanted:  # (a copy: g may be a read-only broadcast view)
            wanted[id(t)] = g if create_graph else np.array(g, dtype=t.dtype)
    elif t._ctx is None or t._retains_grad:
        t._accumulate_grad(g, create_graph)


def send_to_inputs(fn, out, g, grads, create_graph, retain_graph, anomaly=False):
    """Run the rule of op ``fn`` (which made ``out``) on ``g`` and add each input's share into ``grads``."""
    ins, z = fn.saved_inputs(out, as_tensors=create_graph)
    for a, ga in zip(fn.inputs, fn.backward(g, *ins, z)):
        if ga is None or not getattr(a, "requires_grad", False):  # a constant, or a tensor that needs none
            continue
        value = a._data  # (the array itself: cheaper than the tensor's shape and dtype properties)
        if ga.shape != value.shape:
            ga = unbroadcast(ga, value.shape, fn)
        if ga.dtype != value.dtype:  # e.g. float32 input, float64 result: PyTorch keeps the input's
            ga = ga.astype(value.dtype)
        if anomaly:
            check_finite(ga, f"the backward of {located(fn.op, fn.scope)}")
        prev = grads.get(id(a))
        if prev is None:
            grads[id(a)] = ga
        elif id(a) in grads.owned:
            prev += ga  # into the running sum (see Shares)
        else:
            grads[id(a)] = total = prev + ga
            if type(total) is np.ndarray:  # (not a Tensor, with create_graph; nor a 0-d sum, an immutable scalar)
                grads.owned.add(id(a))
    if not retain_graph:
        fn.release()
