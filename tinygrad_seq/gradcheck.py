"""Gradient checks: autodiff against central finite differences, first and second order.

    tg.gradcheck(lambda x, W: (x @ W).tanh(), [x, W])       # float64 inputs with requires_grad=True
    tg.gradgradcheck(lambda x: (x * x * x).sum(), [x])      # the Hessian-vector products too

The output is reduced with a fixed random weighting, so every output entry
matters and a transposed rule cannot hide behind a plain sum.
"""

from __future__ import annotations

import math

import numpy as np

from .autograd import enable_grad, no_grad, run_backward
from .tensor import Tensor


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
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)  # read more than once: model.parameters()
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

    analytic = run_backward(list(outs), [Tensor(w) for w in weights], inputs=checked)
    for k, (t, a) in enumerate(zip(checked, analytic)):
        a = np.zeros(t.shape) if a is None else a
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
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]

    def first_grads(*xs):
        with enable_grad():  # gradcheck evaluates this under no_grad(); the first gradient needs a graph
            out = fn(*xs)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            rng = np.random.default_rng(1)
            ws = [Tensor(rng.standard_normal(o.shape)) for o in outs]
            gs = run_backward(
                list(outs), ws, create_graph=True, retain_graph=True,
                inputs=[x for x in xs if isinstance(x, Tensor) and x.requires_grad],
            )
        return tuple(g for g in gs if g is not None)

    if not checked:
        return True
    return gradcheck(first_grads, inputs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception)
