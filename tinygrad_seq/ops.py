"""The table of derivatives: every differentiable primitive of the library.

Each op is a small class.  ``forward`` computes the value from numpy arrays;
``backward(g, *inputs, out)`` returns the gradient of the loss with respect to
each input, given ``g``, the gradient with respect to ``out``.  In the notation
of the math, for z = f(x, y):

    backward(g, x, y, z) = (g ∂z/∂x, g ∂z/∂y)

Three conventions keep the rules this short:

* Broadcasting is undone in one place (``autograd.unbroadcast``): a rule may
  return a gradient in the broadcast shape of ``out``.
* The engine adds the returned gradients into what each input already has, so
  an input used twice (a weight shared by all time steps) gets the sum.
* The rules use only arithmetic operators and the helpers just below, which
  accept numpy arrays *and* Tensors.  The engine runs them on arrays for speed,
  and on Tensors when ``create_graph=True``, which makes every rule itself
  differentiable: second derivatives come for free.

Reading the engine: this file first; then ``Function.apply`` (tensor.py), which
runs a ``forward`` and records the node; then ``run_backward`` (autograd.py),
which calls these ``backward`` rules from the loss back to the leaves.  The
README's "Reading the code" goes on from there (functional.py, nn/, bptt/, viz/).
The only other rules of the package are the fused recurrent cells of nn/fused.py,
written beside the analytic derivation they implement.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .tensor import Function, Tensor

# log(0) = -inf, 1/0 = inf, 0/0 = NaN without a RuntimeWarning, as in PyTorch: the values say it (and
# detect_anomaly reports them).  The filter matches warnings raised from this package's code only.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"tinygrad_seq(\.|$)")

# --------------------------------------------------------------------------- helpers for the rules (arrays or Tensors)


def expand(a, shape):
    """Broadcast ``a`` to ``shape``."""
    return a.expand(shape) if isinstance(a, Tensor) else np.broadcast_to(a, shape)


def permute(a, axes):
    return a.permute(axes) if isinstance(a, Tensor) else a.transpose(axes)


def exp(a):
    return a.exp() if isinstance(a, Tensor) else np.exp(a)


def tanh(a):
    return a.tanh() if isinstance(a, Tensor) else np.tanh(a)


def sin(a):
    return a.sin() if isinstance(a, Tensor) else np.sin(a)


def cos(a):
    return a.cos() if isinstance(a, Tensor) else np.cos(a)


def sigmoid(a):
    """1/(1 + e^-a), exact for every a: for a ≪ 0, e^-a overflows to inf and 1/(1 + inf) is the right 0
    (its overflow warning is silenced by the filter above: cheaper than np.errstate, or a branch on a's sign)."""
    if isinstance(a, Tensor):
        return a.sigmoid()
    return 1 / (1 + np.exp(-a))


def concat(parts, axis):
    """Join arrays (or Tensors) along an existing axis."""
    return Cat.apply(*parts, axis=axis) if isinstance(parts[0], Tensor) else np.concatenate(parts, axis)


def log(a):
    return a.log() if isinstance(a, Tensor) else np.log(a)


def where(cond, a, b):
    """``a`` where ``cond`` else ``b``; ``cond`` is a bool array or a bool Tensor (which carries no gradient)."""
    cond = np.asarray(cond)
    return Where.apply(a, b, cond=cond) if isinstance(a, Tensor) or isinstance(b, Tensor) else np.where(cond, a, b)


def softmax(a, axis):
    return a.softmax(axis) if isinstance(a, Tensor) else _softmax(a, axis)


def index_add(g, index, shape):
    """An array of zeros of ``shape`` with ``g`` added at ``index`` (repeated indices add up)."""
    if isinstance(g, Tensor):
        return IndexAdd.apply(g, index=index, shape=shape)
    out = np.zeros(shape, dtype=g.dtype)
    if is_basic_index(index):
        out[index] = g  # ints and slices pick each place at most once: no repeats to add up
    else:
        np.add.at(out, index, g)
    return out


def is_basic_index(index):  # (then every place is picked at most once)
    """True for ints, slices, None and ``...`` (numpy's basic indexing), False if an array is involved."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts)


def keep_axes(g, in_ndim, axis, keepdims):
    """Re-insert reduced axes as size 1 so that ``g`` broadcasts against the input."""
    if keepdims:
        return g
    if axis is None:
        return g.reshape((1,) * in_ndim)
    shape = list(g.shape)
    for a in axis:
        shape.insert(a, 1)
    return g.reshape(tuple(shape))


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logsumexp(x, axis, keepdims=True):
    m = x.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)  # a row of -inf gives -inf, not NaN
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


# --------------------------------------------------------------------------- arithmetic


class Add(Function):
    op = "add"  # z = x + y

    def forward(self, x, y):
        return x + y

    def backward(self, g, x, y, z):
        return g, g


class Sub(Function):
    op = "sub"  # z = x - y

    def forward(self, x, y):
        return x - y

    def backward(self, g, x, y, z):
        return g, -g


class Mul(Function):
    op = "mul"  # z = x * y

    def forward(self, x, y):
        return x * y

    def backward(self, g, x, y, z):
        return g * y, g * x


class Div(Function):
    op = "div"  # z = x / y

    def forward(self, x, y):
        return x / y

    def backward(self, g, x, y, z):
        return g / y, -g * x / (y * y)


class Neg(Function):
    op = "neg"  # z = -x

    def forward(self, x):
        return -x

    def backward(self, g, x, z):
        return (-g,)


class Pow(Function):
    op = "pow"  # z = x ** y;  ∂z/∂x = y x^(y-1),  ∂z/∂y = z ln x  (y is usually a number: x ** 2)

    def forward(self, x, y):
        return x**y

    def backward(self, g, x, y, z):
        need_x, need_y = self.needs_input_grad  # ln x is NaN for x < 0: only computed when y needs it
        # z ln x → 0 as x → 0 (y > 0): ln is taken at 1 where x = 0, as PyTorch does
        return (g * y * x ** (y - 1) if need_x else None, g * z * log(where(x == 0, 1, x)) if need_y else None)


class MatMul(Function):
    op = "matmul"  # Z = X @ Y (at least 2-D; batch dims broadcast);  ∂L/∂X = G Yᵀ,  ∂L/∂Y = Xᵀ G

    def forward(self, x, y):
        return x @ y

    def backward(self, g, x, y, z):
        need_x, need_y = self.needs_input_grad  # x W with x the data: only W's product is worth computing
        gx = g @ y.swapaxes(-1, -2) if need_x else None
        if not need_y:
            return gx, None
        if y.ndim == 2 and x.ndim > 2:
            # one W for a whole (T, B, K) batch: Xᵀ G over all T·B rows as one product, instead of
            # T (K, N) products in a (T, K, N) temporary that unbroadcast would then sum
            return gx, x.reshape(-1, x.shape[-1]).swapaxes(-1, -2) @ g.reshape(-1, g.shape[-1])
        return gx, x.swapaxes(-1, -2) @ g


# --------------------------------------------------------------------------- elementwise functions


class Exp(Function):
    op = "exp"  # z = e^x, dz/dx = z

    def forward(self, x):
        return np.exp(x)

    def backward(self, g, x, z):
        return (g * z,)


class Log(Function):
    op = "log"  # z = ln x, dz/dx = 1/x

    def forward(self, x):
        return np.log(x)

    def backward(self, g, x, z):
        return (g / x,)


class Sqrt(Function):
    op = "sqrt"  # z = √x, dz/dx = 1/(2z)

    def forward(self, x):
        return np.sqrt(x)

    def backward(self, g, x, z):
        return (g / (2 * z),)


class Tanh(Function):
    op = "tanh"  # z = tanh x, dz/dx = 1 - z²

    def forward(self, x):
        return np.tanh(x)

    def backward(self, g, x, z):
        return (g * (1 - z * z),)


class Sin(Function):
    op = "sin"  # z = sin x, dz/dx = cos x

    def forward(self, x):
        return np.sin(x)

    def backward(self, g, x, z):
        return (g * cos(x),)


class Cos(Function):
    op = "cos"  # z = cos x, dz/dx = −sin x

    def forward(self, x):
        return np.cos(x)

    def backward(self, g, x, z):
        return (-g * sin(x),)


class Sigmoid(Function):
    op = "sigmoid"  # z = 1/(1 + e^-x), dz/dx = z(1 - z)

    def forward(self, x):
        return sigmoid(x)

    def backward(self, g, x, z):
        return (g * z * (1 - z),)


class Erf(Function):
    op = "erf"  # z = erf x = 2/√π ∫₀ˣ e^(−u²) du,  dz/dx = 2/√π e^(−x²)

    _erf = np.vectorize(math.erf, otypes=[float])  # numpy has no erf; math's is exact to round-off

    def forward(self, x):
        return self._erf(x).astype(x.dtype)

    def backward(self, g, x, z):
        return (g * (2 / math.sqrt(math.pi)) * exp(-(x * x)),)


class Relu(Function):
    op = "relu"  # z = max(x, 0), dz/dx = [x > 0]

    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, g, x, z):
        return (g * self.mask,)


class Abs(Function):
    op = "abs"  # z = |x|, dz/dx = sign x

    def forward(self, x):
        self.sign = np.sign(x)
        return np.abs(x)

    def backward(self, g, x, z):
        return (g * self.sign,)


class Maximum(Function):
    op = "maximum"  # z = max(x, y);  ∂z/∂x = [x > y] (½ on ties, as in PyTorch),  ∂z/∂y = 1 − ∂z/∂x

    def forward(self, x, y):
        self.dz_dx = ((x > y) + 0.5 * (x == y)).astype(np.result_type(x, y))
        return np.maximum(x, y)

    def backward(self, g, x, y, z):
        return g * self.dz_dx, g * (1 - self.dz_dx)


class Minimum(Function):
    op = "minimum"  # z = min(x, y);  ∂z/∂x = [x < y] (½ on ties),  ∂z/∂y = 1 − ∂z/∂x

    def forward(self, x, y):
        self.dz_dx = ((x < y) + 0.5 * (x == y)).astype(np.result_type(x, y))
        return np.minimum(x, y)

    def backward(self, g, x, y, z):
        return g * self.dz_dx, g * (1 - self.dz_dx)


class Clip(Function):
    op = "clip"  # z = min(max(x, lo), hi), dz/dx = [lo ≤ x ≤ hi]

    def forward(self, x, lo=None, hi=None):
        z = np.clip(x, lo, hi)
        self.inside = z == x
        return z

    def backward(self, g, x, z):
        return (g * self.inside,)


class Where(Function):
    op = "where"  # z = x where cond else y

    def forward(self, x, y, cond):
        self.cond = cond
        return np.where(cond, x, y)

    def backward(self, g, x, y, z):
        need_x, need_y = self.needs_input_grad  # masked_fill: x is the constant fill value, no product for it
        return g * self.cond if need_x else None, g * ~self.cond if need_y else None


class Cast(Function):
    op = "cast"  # z = x in another float dtype

    def forward(self, x, dtype):
        self.dtype = x.dtype
        return x.astype(dtype)

    def backward(self, g, x, z):
        return (g.astype(self.dtype),)  # (Tensor.astype is .to: the rule reads the same in both modes)


# --------------------------------------------------------------------------- reductions


class Sum(Function):
    op = "sum"  # z = Σ x over axis; every x gets g

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return x.sum(axis=axis, keepdims=keepdims)

    def backward(self, g, x, z):
        return (expand(keep_axes(g, len(self.shape), self.axis, self.keepdims), self.shape),)


class Mean(Function):
    op = "mean"  # z = Σ x / n over axis

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        z = x.mean(axis=axis, keepdims=keepdims)
        self.n = x.size // max(z.size, 1)
        return z

    def backward(self, g, x, z):
        return (expand(keep_axes(g, len(self.shape), self.axis, self.keepdims), self.shape) / self.n,)


class Max(Function):
    op = "max"  # z = max x over axis; the maxima share g equally (as torch.amax)
    extreme = staticmethod(np.max)

    def forward(self, x, axis=None, keepdims=False):
        self.axis, self.keepdims, self.ndim = axis, keepdims, x.ndim
        z = self.extreme(x, axis=axis, keepdims=True)
        is_extreme = x == z
        self.share = is_extreme / is_extreme.sum(axis=axis, keepdims=True, dtype=x.dtype)
        return z if keepdims else z.squeeze(axis)

    def backward(self, g, x, z):
        return (keep_axes(g, self.ndim, self.axis, self.keepdims) * self.share,)


class Min(Max):
    op = "min"  # z = min x over axis; the minima share g equally (as torch.amin)
    extreme = staticmethod(np.min)


class LogSumExp(Function):
    op = "logsumexp"  # z = log Σ e^x, dz/dx = softmax(x)

    def forward(self, x, axis=-1, keepdims=False):
        self.axis, self.keepdims = axis, keepdims
        return _logsumexp(x, axis, keepdims)

    def backward(self, g, x, z):
        axis = (self.axis % x.ndim,)
        return (keep_axes(g, x.ndim, axis, self.keepdims) * softmax(x, self.axis),)


class Softmax(Function):
    op = "softmax"  # z = e^x / Σ e^x;  dL/dx = z ⊙ (g - Σ g ⊙ z)

    def forward(self, x, axis=-1):
        self.axis = axis
        return _softmax(x, axis)

    def backward(self, g, x, z):
        return (z * (g - (g * z).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    op = "log_softmax"  # z = x - log Σ e^x;  dL/dx = g - softmax(x) Σ g

    def forward(self, x, axis=-1):
        self.axis = axis
        return x - _logsumexp(x, axis)

    def backward(self, g, x, z):
        return (g - exp(z) * g.sum(axis=self.axis, keepdims=True),)


class CrossEntropy(Function):
    op = "cross_entropy"  # L_n = -log softmax(x_n)[y_n];  dL_n/dx_n = softmax(x_n) - onehot(y_n)

    def forward(self, logits, target, weight):
        """logits (N, C), target (N,) ints, weight (N,): per-row factor (0 for ignored rows)."""
        logp = logits[np.arange(len(target)), target] - _logsumexp(logits, axis=1, keepdims=False)
        return -logp * weight

    def backward(self, g, logits, target, weight, z):
        # target and weight are constants (arrays even under create_graph): no gradient for them
        onehot = np.zeros(logits.shape, dtype=logits.dtype)
        onehot[np.arange(len(target)), target] = 1
        return ((softmax(logits, 1) - onehot) * (g * weight).reshape((-1, 1)), None, None)


# --------------------------------------------------------------------------- shapes and indexing


class Reshape(Function):
    view = True  # the output may share the input's values (numpy returns a view)
    op = "reshape"

    def forward(self, x, shape):
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, g, x, z):
        return (g.reshape(self.shape),)


class Permute(Function):
    view = True  # the output may share the input's values (numpy returns a view)
    op = "permute"  # axes moved; the gradient moves back

    def forward(self, x, axes):
        self.inverse = tuple(np.argsort(axes))
        return x.transpose(axes)

    def backward(self, g, x, z):
        return (permute(g, self.inverse),)


class Expand(Function):
    view = True  # the output may share the input's values (numpy returns a view)
    op = "expand"  # broadcast copies; unbroadcast sums the copies' gradients

    def forward(self, x, shape):
        return np.broadcast_to(x, shape)

    def backward(self, g, x, z):
        return (g,)


class GetItem(Function):
    view = True  # the output may share the input's values (numpy returns a view)
    op = "getitem"  # z = x[index]; the gradient goes back to the picked places (repeats add up)

    def forward(self, x, index):
        self.index, self.shape = index, x.shape
        return x[index]

    def backward(self, g, x, z):
        return (index_add(g, self.index, self.shape),)


class SetItem(Function):
    op = "setitem"  # z = x with z[index] = v;  ∂L/∂x = g outside index (0 where v was written),  ∂L/∂v = g[index]

    def forward(self, x, v, index):
        self.index = index
        self.outside = np.ones(x.shape, dtype=bool)
        self.outside[index] = False
        z = x.copy()
        z[index] = v
        return z

    def backward(self, g, x, v, z):
        return g * self.outside, g[self.index]


class IndexAdd(Function):
    op = "index_add"  # z = zeros(shape) with g added at index; the adjoint of GetItem

    def forward(self, g, index, shape):
        self.index = index
        return index_add(g, index, shape)

    def backward(self, g, x, z):
        return (g[self.index],)


class Cat(Function):
    op = "cat"  # z = [x1, x2, ...] along axis; each input gets its slice of g

    def forward(self, *xs, axis=0):
        self.axis = axis % xs[0].ndim
        self.bounds = np.cumsum([0] + [x.shape[self.axis] for x in xs])
        return np.concatenate(xs, axis=axis)

    def backward(self, g, *xs_and_z):
        lead = (slice(None),) * self.axis
        b = self.bounds
        return tuple(g[lead + (slice(b[i], b[i + 1]),)] for i in range(len(b) - 1))


class Stack(Function):
    op = "stack"  # z[..., i, ...] = x_i; each input gets its slice of g

    def forward(self, *xs, axis=0):
        self.axis = axis % (xs[0].ndim + 1)
        return np.stack(xs, axis=axis)

    def backward(self, g, *xs_and_z):
        lead = (slice(None),) * self.axis
        return tuple(g[lead + (i,)] for i in range(len(xs_and_z) - 1))


# --------------------------------------------------------------------------- reading a sequence one step at a time


class TimeSteps:
    """Read a (T, ...) tensor one time step at a time, with a backward pass linear in T.

        steps = TimeSteps(x_proj)      # one "unbind" node, named "x_proj by step"
        x_t = steps[t]                 # one "select" node named "x_proj(t)", made in the scope in force (t=3)

    The step's node is named ``x_proj(t)``, not ``x_proj[3]``: the scope it is made in says which
    step it is, and a Python index (from 0) inside a step drawn as t = 4 (from 1) would only confuse.

    Why not ``x_proj[t]``?  The backward of ``x[t]`` returns a gradient of the
    full (T, ...) shape that is zero except at step t, and the T such arrays
    are added up: O(T²) work, which for T = 100 costs more than the whole LSTM.
    Here each ``select`` hands its gradient to a shared collector, and the
    single ``unbind`` node (which the graph walk always visits after every
    step that used it) writes them into one (T, ...) array.  Both rules also run on Tensors, so create_graph works.
    """

    def __init__(self, x, name=None):
        self._collector = _Collector()
        self.name = name or x.name or "x"
        self.handle = Unbind.apply(x, collector=self._collector)
        self.handle.name = f"{self.name} by step"
        self.length = x.shape[0]

    def __len__(self):
        return self.length

    def __getitem__(self, t):
        if not 0 <= t < self.length:
            raise IndexError(f"time step {t} out of range for a sequence of length {self.length}")
        x_t = Select.apply(self.handle, t=t, collector=self._collector)
        x_t.name = f"{self.name}(t)"
        return x_t


class _Collector:
    """The gradients of the steps read by `Select` (``{id(select node): (t, g)}``), waiting for `Unbind`."""

    def __init__(self):
        self.values = None
        self.grads = {}


class Unbind(Function):
    op = "unbind"  # a handle on the whole sequence; its gradient is [g(0); g(1); ...; g(T−1)]

    def forward(self, x, collector):
        collector.values = x
        self.collector = collector
        return np.zeros((), dtype=x.dtype)

    def backward(self, g, x, out):
        per_step = {}
        for t, gt in self.collector.grads.values():  # a step read twice gets the sum
            per_step[t] = gt if t not in per_step else per_step[t] + gt
        self.collector.grads = {}
        if isinstance(g, Tensor):
            zero = Tensor(np.zeros(x.shape[1:], dtype=x.dtype))
            return (Stack.apply(*[per_step.get(t, zero) for t in range(x.shape[0])], axis=0),)
        dx = np.zeros(x.shape, dtype=x.dtype)
        for t, gt in per_step.items():
            dx[t] = gt
        return (dx,)


class Select(Function):
    op = "select"  # z = x[t]; the gradient goes to the collector, the handle gets a scalar zero

    def forward(self, handle, t, collector):
        self.t, self.collector = t, collector
        return collector.values[t]

    def backward(self, g, handle, out):
        # keyed by this node, not by t: a step read twice leaves two entries (Unbind adds them up), and a
        # backward pass that stopped early (an exception) and is run again overwrites its own leftovers
        self.collector.grads[id(self)] = (self.t, g)
        zero = np.zeros((), dtype=g.dtype)
        return (Tensor(zero) if isinstance(g, Tensor) else zero,)
