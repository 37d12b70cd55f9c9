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
import math

import numpy as np


class _State:
    """Process-wide switches read by every op (module globals, kept in one place)."""

    grad_enabled = True  # `no_grad()` turns recording off
    anomaly = False  # `detect_anomaly()` checks every value for NaN / Inf
    scope = ""  # the scope path in force, e.g. "LSTM/l0/t=3"


state = _State()


# --------------------------------------------------------------------------- modes


@contextlib.contextmanager
def no_grad():
    """Run ops without recording them (evaluation, optimizer updates)."""
    before = state.grad_enabled
    state.grad_enabled = False
    try:
        yield
    finally:
        state.grad_enabled = before


@contextlib.contextmanager
def enable_grad():
    """Record ops again inside a `no_grad()` block."""
    before = state.grad_enabled
    state.grad_enabled = True
    try:
        yield
    finally:
        state.grad_enabled = before


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


def check_finite(array, what: str) -> None:
    # numpy arithmetic on 0-d arrays returns numpy scalars (np.generic): check those too
    if isinstance(array, (np.ndarray, np.generic)) and array.dtype.kind in "fc" and not np.isfinite(array).all():
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
    list of ``inputs`` they are returned instead, in that order.

    The walk visits a tensor once all the ops that used it have sent their
    share of its gradient (``count_uses``), so every tensor is visited once,
    after everything that depends on it, with no recursion and no sort.

    In the default mode every rule runs on plain numpy arrays (fast).  With
    ``create_graph=True`` the same rules run on Tensors, so the gradient is
    itself a graph that can be differentiated again.
    """
    from .tensor import Tensor

    uses = count_uses(roots)
    grads = {}
    for r, g in zip(roots, root_grads):
        g = g if create_graph else g.data
        grads[id(r)] = g if id(r) not in grads else grads[id(r)] + g
    ready = [r for r in {id(r): r for r in roots}.values() if uses[id(r)] == 0]
    wanted = None if inputs is None else {id(t): None for t in inputs}

    before = state.grad_enabled
    state.grad_enabled = create_graph
    try:
        while ready:
            t = ready.pop()
            g = grads.pop(id(t), None)
            fn = t._ctx
            if g is not None:
                if t._hooks:
                    g = _run_hooks(t, g, create_graph)
                if wanted is not None:
                    if id(t) in wanted:  # (a copy: g may be a read-only broadcast view)
                        wanted[id(t)] = g if create_graph else Tensor(np.array(g, dtype=t.data.dtype))
                elif fn is None or t._retains_grad:
                    _accumulate(t, g, create_graph)
            if fn is None:
                continue
            if g is not None:
                ins, out = fn.saved_inputs(t, as_tensors=create_graph)
                for a, ga in zip(fn.inputs, fn.backward(g, *ins, out)):
                    if ga is None or not isinstance(a, Tensor) or not a.requires_grad:
                        continue
                    if ga.shape != a.data.shape:
                        ga = unbroadcast(ga, a.data.shape, fn)
                    if ga.dtype != a.data.dtype:  # e.g. float32 input, float64 result: PyTorch keeps the input's
                        ga = ga.to(a.data.dtype) if create_graph else ga.astype(a.data.dtype)
                    if state.anomaly:
                        check_finite(ga.data if create_graph else ga, f"the backward of {located(fn.op, fn.scope)}")
                    prev = grads.get(id(a))
                    grads[id(a)] = ga if prev is None else prev + ga
                if not retain_graph:
                    fn.release()
            for p in fn.parents:
                left = uses[id(p)] - 1
                uses[id(p)] = left
                if left == 0:
                    ready.append(p)
    finally:
        state.grad_enabled = before

    if wanted is None:
        return None
    result = []
    for t in inputs:
        g = wanted[id(t)]
        if g is None and not allow_unused:
            raise RuntimeError(
                "grad: one of the inputs was not used to compute the outputs "
                f"(input named {t.name!r}, shape {t.shape}); pass allow_unused=True to get None for it"
            )
        result.append(g)
    return result


def _run_hooks(t, g, create_graph):
    from .tensor import Tensor

    for hook in t._hooks:
        res = hook(g if create_graph else Tensor(g))
        if res is not None:
            g = res if create_graph else res.data
    return g


def _accumulate(t, g, create_graph):
    from .tensor import Tensor

    if create_graph:
        t.grad = g if t.grad is None else t.grad + g
    elif t.grad is None:
        # a copy: the same array may be handed to several inputs (e.g. by add)
        t.grad = Tensor(np.array(g, dtype=t.data.dtype))
    else:
        t.grad = Tensor(t.grad.data + g)


# --------------------------------------------------------------------------- gradient checks


def _numeric_grad(f, x, eps):
    """Central differences of the scalar f() with respect to every entry of x."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compare autodiff gradients of ``fn(*inputs)`` with central differences.

    ``inputs`` are float64 Tensors; those with ``requires_grad=True`` are
    checked.  The output may be any shape: it is reduced with a fixed random
    weighting, so every output entry matters and transposition bugs show.
    Fails with a report naming the input and its worst element.
    """
    from .tensor import Tensor

    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    for t in checked:
        if t.dtype != np.float64:
            raise TypeError(f"gradcheck needs float64 inputs for accuracy; got {t.dtype} (shape {t.shape})")
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(o.shape) for o in outs]

    def scalar():
        with no_grad():
            res = fn(*inputs)
        res = res if isinstance(res, (tuple, list)) else (res,)
        return math.fsum(float((r.data * w).sum()) for r, w in zip(res, weights))

    analytic = run_backward(
        list(outs), [Tensor(w) for w in weights], inputs=checked, allow_unused=True
    )
    for k, (t, a) in enumerate(zip(checked, analytic)):
        a = np.zeros(t.shape) if a is None else a.data
        n = _numeric_grad(scalar, t.data, eps)
        if not np.allclose(a, n, atol=atol, rtol=rtol):
            err = np.abs(a - n) - rtol * np.abs(n)
            i = np.unravel_index(np.argmax(err), err.shape) if err.ndim else ()
            msg = (
                f"gradcheck failed for input {k} (name {t.name!r}, shape {t.shape}): "
                f"at index {tuple(int(j) for j in i)} autodiff gives {float(a[i]):.10g}, "
                f"finite differences {float(n[i]):.10g}; "
                f"max abs difference {np.abs(a - n).max():.3e}"
            )
            if raise_exception:
                raise AssertionError(msg)
            return False
    return True


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Check second derivatives: gradcheck of the (create_graph) gradient of fn.

    The first gradient is contracted with a fixed random vector, so this tests
    the Hessian-vector products of every input.
    """
    from .tensor import Tensor

    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]

    def first_grads(*xs):
        with enable_grad():  # gradcheck evaluates this under no_grad(); the first gradient needs a graph
            out = fn(*xs)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            rng = np.random.default_rng(1)
            ws = [Tensor(rng.standard_normal(o.shape)) for o in outs]
            gs = run_backward(
                list(outs), ws, create_graph=True, retain_graph=True,
                inputs=[x for x in xs if isinstance(x, Tensor) and x.requires_grad], allow_unused=True,
            )
        return tuple(g for g in gs if g is not None)

    if not checked:
        return True
    return gradcheck(first_grads, inputs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception)
