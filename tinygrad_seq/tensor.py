"""Tensor: a numpy array that remembers how it was made.

    >>> from tinygrad_seq import Tensor
    >>> W = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, name="W")
    >>> h = (W @ Tensor([1.0, 1.0])).tanh()
    >>> h.sum().backward()
    >>> W.grad.shape
    (2, 2)

Names and meanings follow PyTorch (requires_grad, backward, detach, view,
permute, ...) so that what a student learns here carries over.  The
derivative of every op lives in ops.py; this file is plumbing: `Function`
(one node of the graph and how it is recorded), `Tensor` (the methods, each
a line that picks an op of ops.py), and `grad`.  Making tensors (zeros,
randn, ...) is in creation.py, the graph walk in autograd.py.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .autograd import check_finite, located, run_backward, state  # located: "matmul in RNN/t=4"

# --------------------------------------------------------------------------- the default dtype

_default_dtype = np.dtype(np.float32)


def set_default_dtype(dtype) -> None:
    """Set the float dtype of tensors made from Python numbers (float32 unless changed)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"default dtype must be float32 or float64, got {dtype}")
    _default_dtype = dtype


def get_default_dtype():
    return _default_dtype


def _as_array(data, dtype):
    if isinstance(data, Tensor):
        data = data._data
    if isinstance(data, np.ndarray):
        arr = data.astype(dtype) if dtype is not None and data.dtype != dtype else data
    else:
        if isinstance(data, (str, bytes)):
            raise TypeError(f"Tensor data must be numbers, got a string: {data!r}")
        try:
            # an object with its own __array__ (a torch tensor) is asked without numpy 2's copy keyword, which
            # older __array__ methods do not take; the outer np.array makes the copy
            arr = np.array(np.asarray(data) if hasattr(data, "__array__") else data, dtype=dtype)
        except (ValueError, TypeError) as e:
            raise TypeError(
                f"Tensor data must be a number or a rectangular (not ragged) nested list of numbers: {e}"
            ) from None
        if dtype is None and arr.dtype == np.float64 and not _has_numpy_float64(data):
            arr = arr.astype(_default_dtype)
    if arr.dtype.kind in "US":
        raise TypeError(f"Tensor data must be numbers, got strings (numpy dtype {arr.dtype})")
    if arr.dtype.kind not in "biuf":
        kinds = sorted({type(v).__name__ for v in arr.reshape(-1)[:100]}) if arr.dtype.kind == "O" else [arr.dtype]
        raise TypeError(f"Tensor data must be numeric (bool, int or float); got {', '.join(map(str, kinds))}")
    return arr


def _has_numpy_float64(data):
    """Python floats take the default dtype; what has a dtype of its own (numpy scalars, torch tensors) keeps it."""
    return isinstance(data, np.floating) or hasattr(data, "__array__")


# --------------------------------------------------------------------------- version counters; .data reports writes

# The version counter of values never written in place nor viewed: one immutable (0,) for all such tensors.
# A tensor gets a list of its own (``Tensor._own_counter``) on its first in-place write or view: most tensors
# never need one, and a list per tensor would be one more object per op for Python's garbage collector to walk.
UNWRITTEN = (0,)


class TrackedArray(np.ndarray):
    """The numpy array ``Tensor.data`` hands out: a plain view of the tensor's values that reports writes.

    Backward reads the inputs of an op as they are *then*, so a value changed in place
    between forward and backward would silently give a wrong gradient.  Every tensor
    therefore has a version counter, shared with the tensors that view the same values
    (``x[0]``, ``x.reshape(...)``, ``x.detach()``); an op records the versions of its
    inputs and backward raises if one moved.  In-place ops on tensors count; so does
    any write through ``.data``: ``t.data[0] = 1``, ``t.data += 1``, ``np.add(a, b,
    out=t.data)``, ``t.data.fill(0)`` all bump the counter, because this view reports
    them.  Everything else behaves as numpy: results of arithmetic are plain arrays.
    PyTorch's in-place methods work on it too (``p.data.add_(g, alpha=-lr)``), so
    parameter updates written for PyTorch run unchanged, and so do the other Tensor methods
    that numpy lacks (``out.data.topk(1)``, ``.data.unsqueeze(0)``): they run on a Tensor
    that shares these values and their version counter, outside the graph, as on PyTorch's
    ``.data``.  ``view`` with a shape (``.data.view(-1)``) reshapes; with a dtype it is numpy's.
    Where numpy has the name with another meaning, numpy's wins (``.data.size`` is the element
    count, ``.data.max(1)`` the maxima only): call those on the tensor.
    """

    def __getattr__(self, name):
        # only for names numpy lacks: Tensor's method, on a Tensor sharing these values (as PyTorch's .data)
        if name.startswith("_") or not hasattr(Tensor, name):
            raise AttributeError(f"'numpy.ndarray' (a tensor's .data) has no attribute {name!r}")
        t = Tensor._wrap(self.view(np.ndarray))
        if self._counter is not None:
            t._counter = self._counter
        return getattr(t, name)

    def view(self, *args, **kwargs):
        if args and all(isinstance(n, numbers.Integral) for n in _flat_shape(args)):
            return self.reshape(_flat_shape(args))  # PyTorch's view(shape)
        return super().view(*args, **kwargs)  # numpy's view(dtype or type)

    def __array_finalize__(self, source):
        # a view of tracked values (t.data[0], t.data.T) reports to the same counter; a new array reports to none
        counter = getattr(source, "_counter", None)
        self._counter = counter if counter is not None and np.may_share_memory(self, source) else None

    def __repr__(self):  # it reads as the plain array it is
        return repr(self.view(np.ndarray))

    def _written(self):
        if self._counter is not None:
            self._counter[0] += 1

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        plain = tuple(x.view(np.ndarray) if isinstance(x, TrackedArray) else x for x in inputs)
        if out is not None:
            for o in out:
                if isinstance(o, TrackedArray):
                    o._written()
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, TrackedArray) else o for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        if out is not None:  # in place (a += b): hand back the very arrays written into
            return out[0] if len(out) == 1 else out
        return result

    def __setitem__(self, index, value):
        self._written()
        super().__setitem__(index, value)

    def fill(self, value):
        self._written()
        super().fill(value)

    def sort(self, *args, **kwargs):
        self._written()
        super().sort(*args, **kwargs)

    def copy(self, order="C"):
        return self.view(np.ndarray).copy(order)  # a copy is a new array: plain, untracked

    def astype(self, dtype, *args, **kwargs):
        return self.view(np.ndarray).astype(dtype, *args, **kwargs)

    # ---- PyTorch's in-place methods, for parameter updates written on .data ----
    def add_(self, other, alpha=1):
        if isinstance(other, numbers.Number) and not isinstance(alpha, numbers.Number):
            other, alpha = alpha, other  # the old signature add_(alpha, other)
        self += alpha * np.asarray(other) if alpha != 1 else np.asarray(other)
        return self

    def sub_(self, other, alpha=1):
        self -= alpha * np.asarray(other) if alpha != 1 else np.asarray(other)
        return self

    def mul_(self, other):
        self *= np.asarray(other)
        return self

    def div_(self, other):
        self /= np.asarray(other)
        return self

    def zero_(self):
        self.fill(0)
        return self

    def fill_(self, value):
        self.fill(value)
        return self

    def copy_(self, src):
        self[...] = np.asarray(src)
        return self

    def clamp_(self, min=None, max=None):
        np.clip(self, min, max, out=self)
        return self


def _flat_shape(args):
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


# --------------------------------------------------------------------------- Function: one node of the graph


class Function:
    """An op in the graph: ``forward`` on arrays, ``backward`` giving one gradient per input.

    Subclasses (in ops.py) define

        forward(self, *inputs, **options) -> array
        backward(self, g, *inputs, out) -> tuple of gradients, one per input

    where ``g`` is the gradient of the loss with respect to ``out``.  The
    engine calls backward with numpy arrays, or with Tensors when
    ``create_graph=True``; rules use only operators and the helpers at the
    top of ops.py, which accept both.  A gradient may keep the broadcast shape:
    the engine sums it back to the input's shape.  Inputs that are not Tensors
    (numbers, index arrays) are constants; a rule may return None for them and
    for any input that ``self.needs_input_grad`` says needs no gradient.
    """

    __slots__ = ("inputs", "parents", "version", "scope", "released", "__dict__")
    op = "function"
    view = False  # True for ops whose output may share its values with the first input (reshape, x[0], ...)

    @classmethod
    def apply(cls, *inputs, **options):
        """Run ``forward`` on the inputs' arrays; if an input requires grad, record the node for backward."""
        fn = cls()
        recording, anomaly, scope_path = state.mode
        arrays, parents, version = [], [], 0
        for a in inputs:
            if isinstance(a, Tensor):
                arrays.append(a._data)
                version += a._counter[0]
                if a.requires_grad and recording:
                    parents.append(a)
                    a._used = True  # (an in-place change of it later is refused: see Tensor._inplace)
            else:
                if isinstance(a, np.generic):  # a numpy scalar counts as a Python number, as in PyTorch:
                    a = a.item()  # float32 * np.float64(0.5) stays float32 (numpy itself would make it float64)
                if isinstance(a, complex) or (type(a) is np.ndarray and a.dtype.kind not in "biuf"):
                    raise TypeError(f"{located(cls.op, scope_path)}: a constant of type {type(a).__name__} "
                                    f"(dtype {np.asarray(a).dtype}): tensors hold real numbers only")
                arrays.append(a)
        try:
            out = fn.forward(*arrays, **options)
        except (ValueError, IndexError, TypeError) as e:
            shapes = ", ".join(str(np.shape(d)) for d in arrays)
            raise type(e)(f"{located(cls.op, scope_path)}: inputs of shapes {shapes}: {e}") from None
        if anomaly:
            _check_anomaly(out, cls.op, inputs, arrays)
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        t = Tensor.__new__(Tensor)
        t._data = out
        t._grad = t.name = t._hooks = t._tracked = None
        t._scope = scope_path
        t._retains_grad = t._used = False
        # a view (x.reshape, x[0]) shares the values of its input, so it shares the input's version counter
        t._counter = inputs[0]._own_counter() if cls.view and np.may_share_memory(out, arrays[0]) else UNWRITTEN
        if parents:
            fn.inputs = inputs
            fn.parents = inputs if len(parents) == len(inputs) else tuple(parents)  # (one tuple less to keep)
            # Version counters only ever grow, so their sum is unchanged exactly when nothing that backward
            # reads (the inputs, the output) was modified in place: one int per op, checked in saved_inputs.
            fn.version = version + t._counter[0]
            fn.scope = scope_path
            fn.released = False
            t._ctx = fn
            t.requires_grad = True
        else:
            t._ctx = None
            t.requires_grad = False
        return t

    @property
    def needs_input_grad(self) -> tuple:
        """One bool per input: must backward compute its gradient? (as PyTorch's ``ctx.needs_input_grad``)"""
        return tuple(isinstance(a, Tensor) and a.requires_grad for a in self.inputs)

    def saved_inputs(self, out, as_tensors):
        """The inputs and output as backward needs them, after checking they were not changed since forward."""
        if self.released:
            raise RuntimeError(
                f"backward through {located(self.op, self.scope)} a second time: its saved values were freed "
                "after the first backward. Pass retain_graph=True to the first backward() to keep them."
            )
        arrays, version = [], out._counter[0]
        for a in self.inputs:
            if isinstance(a, Tensor):
                arrays.append(a._data)
                version += a._counter[0]
            else:
                arrays.append(a)
        if version != self.version:
            self._raise_modified(out)
        return (self.inputs, out) if as_tensors else (arrays, out._data)

    def _raise_modified(self, out):
        changed = [a for a in (*self.inputs, out) if isinstance(a, Tensor) and a._version]
        names = "; ".join(f"{'its output' if a is out else 'an input'} of shape {a.shape}, name {a.name!r}, "
                          f"version {a._version}" for a in changed)
        raise RuntimeError(
            f"a value that the backward of {located(self.op, self.scope)} needs was modified in place after "
            f"it was used (one of: {names}). Modify a copy instead (x = x + 1, or y = x.clone() before "
            "changing x), or run the backward before the change."
        )

    def name(self) -> str:
        """PyTorch's name for this node, e.g. ``MulBackward`` (``grad_fn.name()``; PyTorch adds an overload number)."""
        return f"{type(self).__name__}Backward"

    def __repr__(self):
        return f"<{self.name()}>"

    def release(self):
        """Forget what backward needed (masks, caches); the graph's shape stays for viz.

        ``op``, ``parents``, ``scope`` and the input *tensors* (constants such as x(t)
        included, so a picture drawn after backward still shows them) stay; they die
        with the output like the rest of the graph.
        """
        self.released = True
        if len(self.inputs) != len(self.parents):  # drop the constants (masks, targets); keep every tensor
            self.inputs = tuple([a for a in self.inputs if isinstance(a, Tensor)])
        # dropping the instance dict frees every saved array at once (and, unlike .clear(), does not
        # create a dict for the many ops that saved nothing)
        del self.__dict__


def _check_anomaly(out, op, inputs, arrays):
    """Under ``detect_anomaly``: raise if ``out`` is not finite, naming where the NaN/Inf came from.

    If an input already held it, the origin is that input (a parameter or an input by name, with the
    index of its first bad entry, which for a (T, B, D) sequence names the time step), not this op.
    """
    try:
        check_finite(out, located(op, state.scope))
    except FloatingPointError:
        for a, arr in zip(inputs, arrays):
            bad = np.asarray(arr)
            if bad.dtype.kind == "f" and not np.isfinite(bad).all():
                kind = "NaN" if np.isnan(bad).any() else "Inf"
                first = tuple(int(i) for i in np.argwhere(~np.isfinite(bad))[0])
                if not isinstance(a, Tensor):
                    origin = "a constant"
                elif a._ctx is not None:
                    origin = f"the result of {located(a.op, a.scope)}"
                else:
                    what = "a parameter" if a.requires_grad else "an input"
                    origin = f"{what} named {a.name!r}" if a.name else f"{what} without a name"
                raise FloatingPointError(f"{kind} already in {origin} (shape {bad.shape}, first at index {first}), "
                                         f"an input of {located(op, state.scope)}") from None
        raise


# --------------------------------------------------------------------------- Tensor


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    ``data`` is the numpy array; ``grad`` is a Tensor of the same shape,
    filled by ``backward()`` for leaves that require grad.
    """

    __slots__ = (
        "_data", "_grad", "requires_grad", "name", "_ctx", "_scope", "_counter", "_tracked", "_used", "_hooks",
        "_retains_grad", "__weakref__",
    )
    __array_ufunc__ = None  # `ndarray * Tensor` defers to Tensor.__rmul__ instead of looping over elements

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        """A new leaf holding a copy of ``data`` (so later changes to the caller's array never reach it).

        As ``torch.Tensor``, a Python list is float (``Tensor([0])`` holds 0.0 in the default dtype);
        ``tensor([0])`` infers int64, as ``torch.tensor`` does.  Arrays keep their dtype.
        """
        if type(requires_grad) is int and not isinstance(data, (list, tuple, np.ndarray, Tensor)):
            raise TypeError(f"Tensor({data!r}, {requires_grad!r}, ...): tensors of a given shape are made by "
                            "tg.zeros / tg.empty (e.g. tg.empty(2, 3)), not Tensor(2, 3)")
        arr = _as_array(data, None if dtype is None else np.dtype(dtype))
        if dtype is None and isinstance(data, (list, tuple)) and arr.dtype.kind in "biu":
            arr = arr.astype(_default_dtype)
        if isinstance(data, (np.ndarray, Tensor)) and np.may_share_memory(arr, np.asarray(data)):
            arr = arr.copy()
        self._init(arr, requires_grad, name)

    def _init(self, arr, requires_grad=False, name=None):
        if requires_grad and arr.dtype.kind != "f":
            raise TypeError(f"only float tensors can require gradients; got dtype {arr.dtype}")
        self._data = arr
        self.requires_grad = bool(requires_grad)
        self._grad = self._ctx = self._hooks = self._tracked = None
        self.name = name
        self._scope = state.scope
        self._counter = UNWRITTEN  # the version counter, shared with every tensor that views the same values
        self._used = self._retains_grad = False

    @classmethod
    def _wrap(cls, arr, requires_grad=False):
        """A leaf around ``arr`` itself, not a copy: for arrays the engine has just made (never a caller's)."""
        t = cls.__new__(cls)
        t._init(arr, requires_grad)
        return t

    # ---- the values ----
    @property
    def data(self) -> TrackedArray:
        """The values as a numpy array (a view that reports writes to the version counter: see TrackedArray)."""
        view = self._tracked
        if view is None:
            view = self._tracked = self._data.view(TrackedArray)
            view._counter = self._own_counter()
        return view

    @data.setter
    def data(self, value):
        if value is self._tracked:  # `t.data += 1` hands back the view it wrote into (already counted)
            return
        arr = _as_array(value, None)
        self._data = arr.copy() if np.may_share_memory(arr, np.asarray(value)) else arr
        self._tracked = None
        self._bump_version()  # backward must not read the new values for a graph built on the old ones

    @property
    def grad(self):
        """∂L/∂self after ``backward()``: kept for leaves, and for other tensors that called ``retain_grad()``."""
        if self._grad is None and self._ctx is not None and not self._retains_grad:
            warnings.warn(f"the .grad of a tensor that is not a leaf (made by {located(self.op, self._scope)}, name "
                          f"{self.name!r}) is not kept by backward(); call .retain_grad() on it before backward() "
                          "to read ∂L/∂ of an intermediate value", UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad = value

    @property
    def _version(self) -> int:
        """How many times the values were changed in place (shared by the tensors that view them)."""
        return self._counter[0]

    def _own_counter(self) -> list:
        """This tensor's version counter as a list it may share and bump (made on the first write or view)."""
        if self._counter is UNWRITTEN:
            self._counter = [0]
        return self._counter

    def _bump_version(self):
        """Count one in-place change of the values (seen by every tensor that views them)."""
        self._own_counter()[0] += 1

    # ---- introspection (read by viz) ----
    @property
    def op(self) -> str | None:
        """Name of the op that made this tensor, or None for a leaf."""
        return None if self._ctx is None else self._ctx.op

    @property
    def parents(self) -> tuple:
        """The tensors this one was computed from (those that require grad)."""
        return () if self._ctx is None else self._ctx.parents

    @property
    def inputs(self) -> tuple:
        """Every tensor the op that made this one read, constants (no grad) included; () for a leaf."""
        if self._ctx is None:
            return ()
        return tuple(a for a in self._ctx.inputs if isinstance(a, Tensor))

    @property
    def scope(self) -> str:
        """The scope path in force when the tensor was made, e.g. ``'LSTM/l0/t=3'``."""
        return self._scope

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def retains_grad(self) -> bool:
        """True if ``retain_grad()`` asked backward to keep this non-leaf's ``.grad`` (as in PyTorch)."""
        return self._retains_grad

    @property
    def grad_fn(self):
        return self._ctx

    # ---- array attributes ----
    shape = property(lambda self: self._data.shape)
    ndim = property(lambda self: self._data.ndim)
    dtype = property(lambda self: self._data.dtype)

    def size(self, dim=None):
        """The shape (a `Size`), or one dim's length, as ``torch.Tensor.size`` (the element count is ``numel()``)."""
        return Size(self._data.shape) if dim is None else self._data.shape[_dim(self, dim, "size")]

    @property
    def device(self):
        """Always the CPU: tinygrad_seq computes with numpy."""
        return CPU

    def cpu(self):
        return self

    def cuda(self, *args, **kwargs):
        return self.to("cuda")

    def new_tensor(self, data, dtype=None):
        return Tensor(data, dtype=dtype or self.dtype)

    def new_zeros(self, *size, dtype=None):
        return Tensor._wrap(np.zeros(_shape_arg(size), dtype or self.dtype))

    def new_ones(self, *size, dtype=None):
        return Tensor._wrap(np.ones(_shape_arg(size), dtype or self.dtype))

    def new_full(self, size, fill_value, dtype=None):
        return Tensor._wrap(np.full(_shape_arg((size,)), fill_value, dtype or self.dtype))

    def new_empty(self, *size, dtype=None):
        return self.new_zeros(*size, dtype=dtype)

    def dim(self):
        return self._data.ndim

    def numel(self):
        return self._data.size

    def numpy(self):
        """The values as a numpy array sharing memory with the tensor (writes to it are tracked, as .data)."""
        return self.data

    def item(self):
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element; this one has shape {self.shape}")
        return self._data.item()

    def tolist(self):
        return self._data.tolist()

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)``: the values, read-only (write through ``t.data`` or an in-place op, which are counted)."""
        if copy or (dtype is not None and np.dtype(dtype) != self._data.dtype):
            return np.array(self._data, dtype=dtype, copy=True)
        view = self._data.view()
        view.flags.writeable = False
        return view

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __hash__(self):
        return id(self)

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with shape {self.shape} is ambiguous")
        return bool(self._data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):  # names[topi] with a 0-d integer tensor
        if self._data.ndim != 0 or self._data.dtype.kind not in "iub":
            raise TypeError(f"only a 0-d integer tensor can be used as an index, not shape {self.shape} {self.dtype}")
        return int(self._data)

    def __invert__(self):
        if self._data.dtype != np.bool_:
            raise TypeError(f"~ is logical not, for bool tensors; this one is {self.dtype}")
        return Tensor._wrap(~self._data)

    def __repr__(self):
        body = np.array2string(self._data, precision=4, separator=", ", prefix="tensor(")
        extras = []
        if self._data.dtype not in (_default_dtype, np.int64, np.bool_):
            extras.append(f"dtype={self._data.dtype}")
        if self._ctx is not None:  # PyTorch's grad_fn=<MulBackward0>, then our op and (below) scope
            extras.append(f"grad_fn={self._ctx!r}, op={self._ctx.op!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        if self._scope:
            extras.append(f"scope={self._scope!r}")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ---- autograd ----
    def backward(self, gradient=None, retain_graph=False, create_graph=False):
        """Compute the gradient of this tensor with respect to every leaf that requires grad.

        A non-scalar output needs ``gradient`` (the vector in the vector-Jacobian product).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the computation "
                "had requires_grad=True (or it ran inside no_grad())"
            )
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a scalar output; this one has shape {self.shape}. "
                    "Reduce it first (loss.sum()) or pass gradient=Tensor of the same shape."
                )
            gradient = Tensor(np.ones_like(self._data))
        else:
            gradient = gradient if isinstance(gradient, Tensor) else Tensor(gradient, dtype=self.dtype)
            if gradient.shape != self.shape:
                raise ValueError(
                    f"backward(): gradient has shape {gradient.shape} but the tensor has shape {self.shape}"
                )
        run_backward([self], [gradient], retain_graph=retain_graph or create_graph, create_graph=create_graph)

    def retain_grad(self):
        """Keep ``.grad`` on this intermediate tensor after backward (e.g. to read dL/dh(t))."""
        self._retains_grad = True
        return self

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook on a tensor that does not require grad")
        self._hooks = (self._hooks or ()) + (hook,)
        return hook

    def _run_hooks(self, g, create_graph):
        """The gradient ``g`` (an array, or a Tensor with create_graph) after every hook has seen it."""
        for hook in self._hooks:
            res = hook(g if create_graph else Tensor._wrap(g))
            if res is not None:
                g = res if create_graph else res._data
                if state.anomaly:
                    check_finite(g, f"a hook on the tensor {self.name!r} (shape {self.shape})")
        return g

    def _accumulate_grad(self, g, create_graph):
        """``.grad += g``: the walk's last step for a leaf (or a tensor that called ``retain_grad()``)."""
        if create_graph:
            self._grad = g if self._grad is None else self._grad + g
        elif self._grad is None:
            # a copy: the same array may be handed to several inputs (e.g. by add)
            self._grad = Tensor._wrap(np.array(g, dtype=self._data.dtype))
        else:
            self._grad = Tensor._wrap(self._grad._data + g)

    def detach(self):
        """The same values, cut from the graph (truncated BPTT cuts here); they share the version counter."""
        t = Tensor._wrap(self._data)
        t._counter = self._own_counter()
        t.name = self.name
        return t

    def clone(self):
        """A copy of the values that stays in the graph (its gradient flows back to this tensor)."""
        return self * 1 if self.requires_grad else Tensor(self._data)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self._data.dtype.kind != "f":
            raise TypeError(f"only float tensors can require gradients; got dtype {self._data.dtype}")
        if self._ctx is not None and not requires_grad:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self.requires_grad = requires_grad
        return self

    # ---- in-place ops: counted always, recorded when they touch the graph ----
    def _inplace(self, what, tensor_op, array_op, other=None, in_place_already=False):
        """Give this tensor the value ``tensor_op(its value)``, in place, as PyTorch's ``x.add_(y)`` does.

        The new values are written where the old ones are (views of this tensor see them) and the
        version counter moves, so a backward that needs the old values refuses to run.  When the
        result needs a gradient (grad mode is on and this tensor or ``other`` requires grad), the op
        is recorded: this tensor becomes its output, and its old value (a copy) its input.  That is
        refused for a leaf that requires grad, and for a tensor some op of the graph has already
        used: that op's gradient would flow into the new value.
        ``in_place_already``: the new values are there (written through a view), so only the op is recorded.
        """
        needs_grad = self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)
        if not (needs_grad and state.grad_enabled):
            if not in_place_already:
                self._write(what, array_op)
            return self
        new = tensor_op(self._old_value(what))
        if new.shape != self.shape:
            raise RuntimeError(f"{what} on a tensor of shape {self.shape}: the result has shape {new.shape}; an "
                               "in-place op keeps the shape")
        if not in_place_already:
            self._write(what, lambda d: np.copyto(d, new._data, casting="same_kind"))
        return self._becomes_output_of(new)

    def _old_value(self, what):
        """A copy of this tensor as it is, to be the input of the op an in-place change records (see _inplace)."""
        where = f"{what} on a tensor of shape {self.shape}" + (f" named {self.name!r}" if self.name else "")
        if self._ctx is None and self.requires_grad:
            raise RuntimeError(f"in-place change of a leaf that requires grad ({where}) would corrupt its gradient; "
                               "write x = x + y, or change a parameter inside `with no_grad():`")
        if self._used:
            raise RuntimeError(f"{where}: an op of the graph already used its old value, and its gradient would "
                               "flow into the new one; make a new tensor instead (y = x + 1, or torch-style "
                               "stack/cat of the pieces)")
        old = Tensor.__new__(Tensor)
        old._init(self._data.copy(), self.requires_grad, self.name)
        old._ctx, old._scope, old._counter = self._ctx, self._scope, [self._counter[0]]
        return old

    def _becomes_output_of(self, new):
        fn = self._ctx = new._ctx
        fn.version += self._counter[0] - new._counter[0]  # the op's output is this tensor now
        self.requires_grad = True
        return self

    def _reshape_(self, what, shape):
        """Give this tensor another shape in place, with the same values (unsqueeze_, squeeze_)."""
        if not (self.requires_grad and state.grad_enabled):
            self._data = self._data.reshape(shape)  # a view: tensors that view the values still do
            self._tracked = None
            return self
        new = self._old_value(what).reshape(shape)
        self._data = new._data
        self._tracked = None
        self._bump_version()
        return self._becomes_output_of(new)

    def unsqueeze_(self, dim):
        """``unsqueeze`` in place, as ``target.unsqueeze_(-1)``."""
        dim = _dim(self, dim, "unsqueeze_", extra=1)
        return self._reshape_("unsqueeze_", self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze_(self, dim=None):
        """``squeeze`` in place."""
        dims = range(self.ndim) if dim is None else (dim,) if isinstance(dim, numbers.Integral) else dim
        dims = {d for d in (_dim(self, d, "squeeze_") for d in dims) if self.shape[d] == 1}
        return self._reshape_("squeeze_", tuple(n for i, n in enumerate(self.shape) if i not in dims))

    def _write(self, what, array_op):
        try:
            array_op(self._data)
        except (ValueError, TypeError) as e:  # read-only (an expand()ed view), or a float into an int tensor
            raise type(e)(f"{what} on a tensor of shape {self.shape}, dtype {self.dtype}: {e}") from None
        self._bump_version()

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def add_(self, other, alpha=1):
        """self += alpha * other, in place (see ``_inplace``)."""
        other = other if alpha == 1 else other * alpha
        return self._inplace("add_", lambda x: x + other,
                             lambda d: np.add(d, _data(other), out=d, casting="same_kind"), other)

    def sub_(self, other, alpha=1):
        other = other if alpha == 1 else other * alpha
        return self._inplace("sub_", lambda x: x - other,
                             lambda d: np.subtract(d, _data(other), out=d, casting="same_kind"), other)

    def mul_(self, other):
        return self._inplace("mul_", lambda x: x * other,
                             lambda d: np.multiply(d, _data(other), out=d, casting="same_kind"), other)

    def div_(self, other):
        return self._inplace("div_", lambda x: x / other,
                             lambda d: np.divide(d, _data(other), out=d, casting="same_kind"), other)

    def clamp_(self, min=None, max=None):
        return self._inplace("clamp_", lambda x: x.clip(min, max), lambda d: np.clip(d, min, max, out=d))

    clip_ = clamp_

    def zero_(self):
        return self._inplace("zero_", lambda x: x * 0, lambda d: d.fill(0))

    def fill_(self, value):
        return self._inplace("fill_", lambda x: x * 0 + value, lambda d: d.fill(_data(value)), value)

    def copy_(self, src):
        return self._inplace("copy_", lambda x: x * 0 + src, lambda d: np.copyto(d, _data(src)), src)

    def __setitem__(self, index, value):
        """``x[index] = value``, recorded when it touches the graph: the gradient reaches ``value``."""
        index = _index(index)
        if _split_index(index) is not None:
            raise IndexError("assignment with integers and index arrays mixed in one index is not supported "
                             "(PyTorch and numpy order the result differently): index in two steps")
        # x[i] += v runs as t = x[i]; t += v; x[i] = t: the += already wrote through the view t (and moved
        # the version counter they share), so the assignment only records the op; a second write would
        # move the counter again and make both ops refuse their backward
        written = (isinstance(value, Tensor) and value._counter is self._counter and self._counter is not UNWRITTEN
                   and np.shares_memory(value._data, self._data) and np.array_equal(self._data[index], value._data))
        self._inplace("index assignment", lambda x: ops.SetItem.apply(x, value, index=index),
                      lambda d: d.__setitem__(index, _data(value)), value, in_place_already=written)

    # ---- arithmetic ----
    def __add__(self, other):
        return ops.Add.apply(self, other)

    def __radd__(self, other):
        return ops.Add.apply(other, self)

    def __sub__(self, other):
        return ops.Sub.apply(self, other)

    def __rsub__(self, other):
        return ops.Sub.apply(other, self)

    def __mul__(self, other):
        return ops.Mul.apply(self, other)

    def __rmul__(self, other):
        return ops.Mul.apply(other, self)

    def __truediv__(self, other):
        return ops.Div.apply(self, other)

    def __rtruediv__(self, other):
        return ops.Div.apply(other, self)

    def __neg__(self):
        return ops.Neg.apply(self)

    def __pos__(self):
        return self

    def __pow__(self, exponent):
        if not isinstance(exponent, (numbers.Real, Tensor, np.ndarray)):
            raise TypeError(f"exponent must be a number or a Tensor, got {type(exponent).__name__}")
        return ops.Pow.apply(self, exponent)

    def __rpow__(self, base):
        if not isinstance(base, (numbers.Real, np.ndarray)):
            raise TypeError(f"base must be a number or a Tensor, got {type(base).__name__}")
        return ops.Pow.apply(base, self)

    def pow(self, exponent):
        return self**exponent

    def __matmul__(self, other):
        return self.matmul(other)

    def __rmatmul__(self, other):
        return Tensor(other).matmul(self)

    def matmul(self, other):
        """Matrix product with numpy's rules: 1-D operands are promoted, batch dims broadcast."""
        a, b = self, as_tensor(other)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"{located('matmul', state.scope)}: both operands need at least 1 dim, "
                             f"got shapes {a.shape} and {b.shape}")
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if ka != kb:
            raise ValueError(f"{located('matmul', state.scope)}: {a.shape} @ {b.shape}: "
                             f"inner sizes {ka} and {kb} differ")
        if a.ndim == 1 and b.ndim == 1:
            return (a * b).sum()
        if a.ndim == 1:
            return ops.MatMul.apply(a.reshape(1, ka), b).squeeze(-2)
        if b.ndim == 1:
            return ops.MatMul.apply(a, b.reshape(kb, 1)).squeeze(-1)
        return ops.MatMul.apply(a, b)

    # comparisons give bool tensors outside the graph
    def __eq__(self, other):
        return Tensor(self._data == _data(other))

    def __ne__(self, other):
        return Tensor(self._data != _data(other))

    def __lt__(self, other):
        return Tensor(self._data < _data(other))

    def __le__(self, other):
        return Tensor(self._data <= _data(other))

    def __gt__(self, other):
        return Tensor(self._data > _data(other))

    def __ge__(self, other):
        return Tensor(self._data >= _data(other))

    # ---- elementwise functions ----
    def exp(self):
        return ops.Exp.apply(self)

    def log(self):
        return ops.Log.apply(self)

    def sqrt(self):
        return ops.Sqrt.apply(self)

    def tanh(self):
        return ops.Tanh.apply(self)

    def sin(self):
        return ops.Sin.apply(self)

    def cos(self):
        return ops.Cos.apply(self)

    def sinh(self):
        return (self.exp() - (-self).exp()) / 2

    def cosh(self):
        return (self.exp() + (-self).exp()) / 2

    def sigmoid(self):
        return ops.Sigmoid.apply(self)

    def relu(self):
        return ops.Relu.apply(self)

    def abs(self):
        return ops.Abs.apply(self)

    __abs__ = abs

    def maximum(self, other):
        return ops.Maximum.apply(self, other)

    def minimum(self, other):
        return ops.Minimum.apply(self, other)

    def clip(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("clip needs min or max")
        return ops.Clip.apply(self, lo=_data(min), hi=_data(max))  # tensor bounds are constants here

    clamp = clip

    # ---- reductions (dim/keepdim as in PyTorch; axis/keepdims as in numpy also accepted) ----
    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return ops.Sum.apply(self, axis=_axes(self, dim, axis, "sum"), keepdims=_kd(keepdim, keepdims))

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return ops.Mean.apply(self, axis=_axes(self, dim, axis, "mean"), keepdims=_kd(keepdim, keepdims))

    def amax(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return ops.Max.apply(self, axis=_axes(self, dim, axis, "amax"), keepdims=_kd(keepdim, keepdims))

    def amin(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return ops.Min.apply(self, axis=_axes(self, dim, axis, "amin"), keepdims=_kd(keepdim, keepdims))

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """Largest value; with a dim, ``(values, indices)`` as in PyTorch. Ties share the gradient."""
        return self._extreme(self.amax, np.argmax, dim, axis, keepdim, keepdims)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return self._extreme(self.amin, np.argmin, dim, axis, keepdim, keepdims)

    def _extreme(self, reduce, arg, dim, axis, keepdim, keepdims):
        if dim is None and axis is None:
            return reduce()
        if not isinstance(dim if axis is None else axis, numbers.Integral):
            raise TypeError(f"max/min take one dim (an int), got {dim if axis is None else axis!r}; use amax/amin")
        (d,) = _axes(self, dim, axis, "max/min")
        # as torch.max(dim): the values are gathered at the indices, so on ties the gradient goes to the
        # first maximum only (amax shares it among all the maxima)
        index = list(np.indices(self.shape[:d] + (1,) + self.shape[d + 1:], sparse=True))
        index[d] = np.expand_dims(arg(self._data, axis=d), d)
        values, indices = self[tuple(index)], Tensor(index[d])
        if not _kd(keepdim, keepdims):
            values, indices = values.squeeze(d), indices.squeeze(d)
        return MinMax((values, indices))

    def argmax(self, dim=None, keepdim=False):
        """Index of the largest value (of the flattened tensor if ``dim`` is None); no gradient."""
        if dim is None:
            return Tensor._wrap(np.asarray(np.argmax(self._data)))
        d = _dim(self, dim, "argmax")
        return Tensor._wrap(np.argmax(self._data, axis=d, keepdims=keepdim))

    def argmin(self, dim=None, keepdim=False):
        if dim is None:
            return Tensor._wrap(np.asarray(np.argmin(self._data)))
        d = _dim(self, dim, "argmin")
        return Tensor._wrap(np.argmin(self._data, axis=d, keepdims=keepdim))

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """The ``k`` largest (or smallest) values along ``dim`` and their indices, as ``torch.topk``."""
        d = _dim(self, dim, "topk")
        if not 0 <= k <= self.shape[d]:
            raise IndexError(f"topk: k = {k} is out of range for dim {dim} of size {self.shape[d]}")
        order = np.argsort(-self._data if largest else self._data, axis=d, kind="stable")
        index = np.take(order, np.arange(k), axis=d)
        picks = list(np.indices(index.shape, sparse=True))
        picks[d] = index
        return MinMax((self[tuple(picks)], Tensor._wrap(index)))

    def var(self, dim=None, keepdim=False, *, correction=1, unbiased=None, axis=None, keepdims=None):
        """Variance; ``correction=1`` (Bessel's) by default as in PyTorch."""
        if unbiased is not None:
            correction = 1 if unbiased else 0
        axes = _axes(self, dim, axis, "var")
        n = self._data.size if axes is None else int(np.prod([self.shape[a] for a in axes]))
        centered = self - self.mean(axis=axes, keepdims=True)
        return (centered * centered).sum(axis=axes, keepdims=_kd(keepdim, keepdims)) / max(n - correction, 0)

    def std(self, dim=None, keepdim=False, *, correction=1, axis=None, keepdims=None):
        return self.var(dim, keepdim, correction=correction, axis=axis, keepdims=keepdims).sqrt()

    def softmax(self, dim=-1):
        return ops.Softmax.apply(self, axis=dim)

    def log_softmax(self, dim=-1):
        return ops.LogSoftmax.apply(self, axis=dim)

    def logsumexp(self, dim=-1, keepdim=False):
        return ops.LogSumExp.apply(self, axis=dim, keepdims=keepdim)

    # ---- shape ----
    def reshape(self, *shape):
        # always a new tensor, as in PyTorch, even for the same shape: naming the result
        # (h.name = "h") must not rename the input
        return ops.Reshape.apply(self, shape=_shape_arg(shape))

    view = reshape

    def contiguous(self):
        """The tensor itself: numpy arrays need no re-layout before ``view`` (kept so PyTorch code runs)."""
        return self

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _dim(self, start_dim, "flatten"), _dim(self, end_dim, "flatten")
        return self.reshape(self.shape[:s] + (-1,) + self.shape[e + 1:])

    def permute(self, *dims):
        dims = tuple(_dim(self, d, "permute") for d in _shape_arg(dims))
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(
                f"permute: {dims} is not a permutation of the {self.ndim} dims of a tensor of shape {self.shape}"
            )
        return ops.Permute.apply(self, axes=dims)

    def t(self):
        """The transpose of a matrix (a 0-d or 1-d tensor is returned as it is), as ``torch.Tensor.t``."""
        if self.ndim > 2:
            raise ValueError(f"t() expects a tensor with at most 2 dims, got shape {self.shape}; use transpose")
        return self.T if self.ndim == 2 else self

    def narrow(self, dim, start, length):
        """``length`` entries from ``start`` along ``dim`` (a view, as ``torch.narrow``)."""
        dim = _dim(self, dim, "narrow")
        return self[(slice(None),) * dim + (slice(start, start + length),)]

    def transpose(self, dim0, dim1):
        axes = list(range(self.ndim))
        d0, d1 = _dim(self, dim0, "transpose"), _dim(self, dim1, "transpose")
        axes[d0], axes[d1] = axes[d1], axes[d0]
        return ops.Permute.apply(self, axes=tuple(axes))

    swapaxes = transpose

    @property
    def T(self):
        return ops.Permute.apply(self, axes=tuple(reversed(range(self.ndim))))

    def expand(self, *shape):
        shape = _shape_arg(shape)
        shape = tuple(n if n != -1 else self.shape[i - len(shape) + self.ndim] for i, n in enumerate(shape))
        return ops.Expand.apply(self, shape=shape)

    broadcast_to = expand

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
        dims = {d for d in (_dim(self, d, "squeeze") for d in dims) if self.shape[d] == 1}
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if i not in dims))

    def unsqueeze(self, dim):
        dim = _dim(self, dim, "unsqueeze", extra=1)  # one more place than dims: before, between or after them
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def __getitem__(self, index):
        """Basic (ints, slices, None, ...) and advanced (int arrays, bool masks) indexing, as in PyTorch.

        The gradient goes back to the picked places; a place picked several times gets the sum.
        """
        index = _index(index)
        split = _split_index(index)
        if split is not None:
            return self[split[0]][split[1]]
        return ops.GetItem.apply(self, index=index)

    def split(self, split_size_or_sections, dim=0):
        """Pieces along ``dim``: of equal size (an int; the last may be smaller) or of the given sizes (a list)."""
        dim = _dim(self, dim, "split")
        n = self.shape[dim]
        if isinstance(split_size_or_sections, numbers.Integral):
            if split_size_or_sections <= 0:
                raise ValueError(f"split size must be positive, got {split_size_or_sections}")
            sizes = [min(split_size_or_sections, n - i) for i in range(0, n, split_size_or_sections)]
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n:
                raise ValueError(f"split sizes {sizes} add up to {sum(sizes)}, but dim {dim} has size {n}")
        lead = (slice(None),) * dim
        bounds = np.cumsum([0] + sizes)
        return tuple(self[lead + (slice(a, b),)] for a, b in zip(bounds[:-1], bounds[1:]))

    def chunk(self, chunks, dim=0):
        return self.split(-(-self.shape[dim] // chunks), dim)

    def where(self, condition, other):
        """``self`` where ``condition`` holds, else ``other``; the condition carries no gradient."""
        return ops.Where.apply(self, other, cond=np.asarray(condition, dtype=bool))

    def masked_fill(self, mask, value):
        return ops.Where.apply(value, self, cond=np.asarray(mask, dtype=bool))

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def long(self):
        return Tensor(self._data.astype(np.int64))

    def to(self, *args, **kwargs):
        """A tensor of another dtype (``x.to(tg.float64)``); a device (``"cpu"``) or another tensor's dtype also
        work, as in PyTorch: the CPU is the only device, so ``.to("cpu")`` returns the tensor itself."""
        kwargs.pop("non_blocking", None)
        kwargs.pop("copy", None)
        dtype = kwargs.pop("dtype", None)
        for a in (*args, *kwargs.values()):
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (str, Device)) and not _is_dtype_name(a):
                device(a)  # the CPU, or a clear error
            elif a is not None:
                dtype = a
        if dtype is None:
            return self
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        if dtype.kind != "f" or self.dtype.kind != "f":
            return Tensor(self._data.astype(dtype))
        return ops.Cast.apply(self, dtype=dtype)

    type = to
    astype = to  # numpy's name, so that a backward rule can cast an array and a Tensor alike


class Size(tuple):
    """A shape, as ``torch.Size``: a tuple that prints as ``Size([2, 3])``."""

    def __repr__(self):
        return f"Size({list(self)})"

    def numel(self):
        return int(np.prod(self))


class Device:
    """``tg.device("cpu")``: the only device there is; it exists so that PyTorch code runs unchanged."""

    type = "cpu"
    index = None

    def __repr__(self):
        return "device(type='cpu')"

    def __eq__(self, other):
        return isinstance(other, Device) or other == "cpu"

    def __hash__(self):
        return hash("cpu")


CPU = Device()


def device(spec="cpu", index=None) -> Device:
    """``device("cpu")``; any other device is an error that says why (there is no GPU code here)."""
    if spec is None or isinstance(spec, Device):
        return CPU
    if not isinstance(spec, str) or spec.split(":")[0] != "cpu":
        raise RuntimeError(f"device {spec!r}: tinygrad_seq runs on the CPU only (numpy); use 'cpu', or drop the "
                           ".to(device) call")
    return CPU


def _is_dtype_name(name) -> bool:
    if not isinstance(name, str):
        return False
    try:
        np.dtype(name)
    except TypeError:
        return False
    return True


class MinMax(tuple):
    """``(values, indices)`` returned by ``max(dim)`` and ``min(dim)``, as in PyTorch."""

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])


# --------------------------------------------------------------------------- argument helpers


def as_tensor(x, dtype=None) -> Tensor:
    """``x`` itself if it is a Tensor (of that dtype), else a new Tensor on its values, as ``torch.as_tensor``."""
    if isinstance(x, Tensor):
        return x if dtype is None else x.to(dtype)
    return Tensor(x, dtype=dtype)


def _data(x):
    return x._data if isinstance(x, Tensor) else x


def _kd(keepdim, keepdims):
    return bool(keepdim if keepdims is None else keepdims)


def _dim(t, d, op, extra=0):
    """``d`` as a non-negative dim of ``t`` (negative counts from the end), or an IndexError naming ``op``.

    ``extra=1`` for ops that insert a dim (unsqueeze), which have one more place to choose from.
    """
    n = t.ndim + extra
    if not isinstance(d, numbers.Integral) or isinstance(d, bool):
        raise TypeError(f"{op}: a dim must be an integer, got {d!r}")
    if not -max(n, 1) <= d < max(n, 1):
        raise IndexError(f"{op}: dim {d} is out of range for a tensor of shape {t.shape} "
                         f"(expected a dim in [{-max(n, 1)}, {max(n, 1) - 1}])")
    return int(d) % max(n, 1)


def _axes(t, dim, axis, op):
    """Normalise dim/axis (an int, a tuple or None) to a sorted tuple of non-negative axes."""
    if dim is not None and axis is not None:
        raise TypeError("pass dim or axis, not both")
    a = dim if dim is not None else axis
    if a is None:
        return None
    a = (a,) if isinstance(a, numbers.Integral) else tuple(a)
    return tuple(sorted(_dim(t, d, op) for d in a))


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(n) for n in shape)


def _index(index):
    """Tensors and lists used as indices become integer (or bool) arrays."""
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _is_int(i):
    return isinstance(i, (int, np.integer)) and not isinstance(i, bool)


def _split_index(index):
    """``x[index]`` as ``x[first][then]`` when integers and arrays are mixed, PyTorch's way.

    PyTorch applies integer indices first (they remove their dims) and the
    arrays afterwards; numpy counts the integers as arrays too, and when they
    are not next to each other moves the picked dims to the front.  E.g. for x
    of shape (2, 3, 4), ``x[0, :, [1, 2]]`` has shape (3, 2) in PyTorch and
    (2, 3) in numpy.  Returns None when the two agree.
    """
    if not (isinstance(index, tuple) and any(map(_is_int, index)) and any(isinstance(i, np.ndarray) for i in index)):
        return None
    first, then = [], []
    for i in index:
        if isinstance(i, np.ndarray):
            first += [slice(None)] * (i.ndim if i.dtype == bool else 1)  # a bool mask covers i.ndim dims
            then.append(i)
        elif not _is_int(i):
            first.append(i)
            then.append(Ellipsis if i is Ellipsis else slice(None))  # None made a new dim: keep it whole
        else:
            first.append(i)
    return tuple(first), tuple(then)


# --------------------------------------------------------------------------- grad: backward as a function


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned instead of stored in ``.grad``.

    As ``torch.autograd.grad``: ``outputs`` a tensor or a sequence, ``grad_outputs``
    the vectors of the vector-Jacobian products (ones for scalar outputs).
    With ``create_graph=True`` the result can be differentiated again.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(f"grad: an input (shape {t.shape}, name {t.name!r}) does not require grad")
    seeds = []
    for o, g in zip(outputs, grad_outputs):
        if not o.requires_grad:
            raise RuntimeError(f"grad: an output (shape {o.shape}) does not require grad")
        if g is None:
            if o.numel() != 1:
                raise RuntimeError(f"grad: output of shape {o.shape} is not a scalar; pass grad_outputs")
            g = Tensor._wrap(np.ones_like(o._data))
        seeds.append(as_tensor(g))
    retain = create_graph if retain_graph is None else retain_graph
    found = run_backward(outputs, seeds, retain_graph=retain, create_graph=create_graph, inputs=inputs)
    for t, g in zip(inputs, found):
        if g is None and not allow_unused:
            raise RuntimeError(
                "grad: one of the inputs was not used to compute the outputs "
                f"(input named {t.name!r}, shape {t.shape}); pass allow_unused=True to get None for it"
            )
    return tuple(g if g is None or create_graph else Tensor(g) for g in found)


# The rules in ops.py take Tensors (create_graph runs them on Tensors), so ops imports this module;
# Tensor's methods call ops' classes at run time. This one import, at the end, closes that natural cycle.
from . import ops  # noqa: E402
