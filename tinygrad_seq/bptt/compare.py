"""Analytic BPTT next to autodiff and finite differences: per parameter, per time step, per gate.

    >>> from tinygrad_seq import bptt
    >>> report = bptt.check_random("lstm", hidden=5, steps=4, seed=0)
    >>> report.ok
    True
    >>> print(report)  # doctest: +SKIP
    BPTT check: LSTM, D=4 inputs, H=5 hidden, C=5 classes, T=4 steps, N=2 sequences, float64
    ...
    verdict: agree: analytic BPTT and autodiff agree to 5.7e-16 (largest relative error over 53 compared ...

``report.rows``, ``report.fd`` and ``report.records()`` hold the same numbers as data.

``compare(model, inputs, targets)`` runs three computations of the same
gradients, on the same float64 copy of the weights:

1. **analytic**: the formulas of rnn.py / lstm.py / gru.py in plain numpy;
2. **autodiff**: the engine's backward, twice over: the model's own (for the
   parameter gradients and ∇o(t) L), and an op-by-op unroll of the same
   weights (``models.Recurrent``) that retains the gradient of every h(t),
   c(t) and gate pre-activation, which the model does not expose;
3. **finite differences** of the model's loss for a few sampled weights.

Every comparison is a relative error ‖a − b‖ / max(‖a‖, ‖b‖) (0 when both
are 0), so it reads the same for large and small gradients.  Rows are kept in
the order the backward pass computes them (t = T down to 1, then the initial
state, then the parameters), so the first row that disagrees is where a wrong
formula first shows: ``report.first_disagreement`` names its t and its gate.

The loss is the lecture's L = Σ_t Σ_n −log ŷ(t)[n, y(t)[n]] (summed, not averaged).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math

import numpy as np

from .. import functional as F
from ..autograd import no_grad
from ..nn import Linear
from ..tensor import Tensor, get_default_dtype, set_default_dtype
from . import gru, lstm, notation, rnn, stacked, unroll
from .models import Recurrent, RecurrentLM, nn_layer_class

KNOWN = [("rnn", False, False), ("lstm", False, False), ("gru", False, False), ("lstm", True, False),
         ("lstm", False, True)]

# --------------------------------------------------------------------------- what is compared


@dataclasses.dataclass
class Row:
    """One compared quantity.

    quantity: 'loss', 'dL/do', 'dL/dh', 'dL/dc', 'dL/da' (a gate's pre-activation) or a parameter name
    t: the lecture's time index (1..T; 0 for the initial state), None for parameters and the loss
    gate: the gate ('i', 'f', 'g', 'o', 'r', 'z', 'n', 'a'), or None for a whole tensor
    layer: for a stack of layers, the layer l = 1, 2, ... of a per-step quantity (the lecture's h⁽ˡ⁾(t));
           None for a one-layer model, for ∇o(t) L, the loss and the parameters
    """

    quantity: str
    t: int | None
    gate: str | None
    analytic_norm: float
    autodiff_norm: float
    rel_error: float
    ok: bool
    layer: int | None = None

    @property
    def label(self) -> str:
        if self.quantity == "loss":
            return "L"
        if self.quantity.startswith("dL/d"):
            return f"{_head(self.quantity, self.gate, self.layer)}({self.t}) L"
        return self.quantity + (f"[{self.gate}]" if self.gate else "")


@dataclasses.dataclass
class FDRow:
    """A finite-difference check of one weight (fourth-order central differences) against both gradients."""

    parameter: str
    index: tuple
    analytic: float
    autodiff: float
    numeric: float
    rel_error: float  # analytic against numeric
    ok: bool


@dataclasses.dataclass
class Report:
    """The outcome of ``compare``: print it for the tables; the fields hold the same numbers as data."""

    model: str  # e.g. 'LSTM (peephole)'
    sizes: dict  # T, N, D, H, C
    rows: list  # Row, in the order the backward pass computes them
    fd: list  # FDRow
    tol: float
    fd_tol: float
    eps: float
    autodiff_source: str  # who computed the parameter gradients on the autodiff side

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows) and all(r.ok for r in self.fd)

    @property
    def max_rel_error(self) -> float:
        """The largest relative error between analytic and autodiff over every compared quantity."""
        return max((r.rel_error for r in self.rows), default=0.0)

    @property
    def fd_max_rel_error(self) -> float:
        return max((r.rel_error for r in self.fd), default=0.0)

    @property
    def first_disagreement(self) -> Row | None:
        """The first row, in backward order, whose relative error exceeds the tolerance (None if none)."""
        return next((r for r in self.rows if not r.ok), None)

    def records(self) -> list:
        """Every row and finite-difference check as a plain dict (for pandas, json, plots)."""
        out = [dict(kind="autodiff", **dataclasses.asdict(r)) for r in self.rows]
        out += [dict(kind="finite-difference", **dataclasses.asdict(r)) for r in self.fd]
        return out

    @property
    def verdict(self) -> str:
        n = len(self.rows)
        bad = self.first_disagreement
        if bad is None:
            text = (
                f"OK, analytic BPTT and autodiff agree to {self.max_rel_error:.1e} "
                f"(largest relative error over {n} compared quantities; tolerance {self.tol:.0e})"
            )
        else:
            before = self.rows[: self.rows.index(bad)]
            where = []
            if bad.layer is not None:
                where.append(f"layer {bad.layer}")
            if bad.t is not None:
                where.append(f"t = {bad.t}")
            if bad.gate not in (None, "a"):
                where.append(f"gate {bad.gate}")
            at = f" at {', '.join(where)}" if where else ""
            text = (
                f"DISAGREE: in the order the backward pass computes them, the first disagreement is "
                f"{bad.label}{at} (relative error {bad.rel_error:.1e}, tolerance {self.tol:.0e}); "
                f"the {len(before)} quantities computed before it agree to "
                f"{max((r.rel_error for r in before), default=0.0):.1e}"
            )
        if self.fd:
            worst = max(self.fd, key=lambda r: r.rel_error)
            fd_ok = all(r.ok for r in self.fd)
            text += (
                f"; finite differences {'agree' if fd_ok else 'DISAGREE'} on {len(self.fd)} sampled weights "
                f"to {worst.rel_error:.1e} (tolerance {self.fd_tol:.0e}"
            )
            if not fd_ok:
                closer = abs(worst.autodiff - worst.numeric) < abs(worst.analytic - worst.numeric)
                side = "autodiff" if closer else "analytic"
                text += f"; worst {worst.parameter}{list(worst.index)}, where they side with {side}"
            text += ")"
        return text + "."

    def __str__(self) -> str:
        return _format(self)

    def _repr_pretty_(self, p, cycle):  # IPython / Jupyter show the table
        p.text(str(self))


# --------------------------------------------------------------------------- the comparison


def compare(model, inputs, targets, h0=None, *, backward=None, fd_samples=8, eps=1e-4, tol=1e-8, fd_tol=1e-5,
            seed=0) -> Report:
    """Compare analytic BPTT with the engine's autodiff (and finite differences) for one model and batch.

    model:   a ``RecurrentLM``, or a pair ``(rnn, readout)``, or any module with ``.rnn`` and ``.readout``,
             where rnn is a one-direction ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (one layer, or ``num_layers``
             stacked: the lecture's h⁽¹⁾, h⁽²⁾), an ``nn.PeepholeLSTM`` / ``nn.CoupledLSTM`` or a
             ``bptt.Recurrent``, and readout an ``nn.Linear`` (the lecture's o(t) = h(t) V + c).
    inputs:  (T, N, D) floats, or (T, N) integer token ids (one-hot encoded to D = input_size);
             (N, T, ...) if the rnn is batch_first; a single sequence (T, D) or (T,) is taken as N = 1.
    targets: (T, N) integer classes (same layout as inputs).
    h0:      initial state (N, H) or (num_layers, N, H), or (h0, c0) for the LSTM; zeros if None.
    backward: your own analytic backward, ``cache -> unroll.Gradients`` (default: the library's), e.g.
             ``functools.partial(bptt.unroll.backward, step_backward=my_step_backward)``; for a stack,
             ``stacked.StackedCache -> stacked.StackedGradients`` (``bptt.stacked.backward``).
    fd_samples: how many weights to check by (fourth-order, central) finite differences with step ``eps``.
    tol, fd_tol: relative tolerances for autodiff and finite-difference agreement.

    The model is not changed: everything runs on float64 copies of its weights.
    """
    rnn_mod, readout = _split(model)
    spec = describe(rnn_mod)
    x, y = _prepare(inputs, targets, spec)
    T, N, D = x.shape
    H, C, L = spec["hidden_size"], readout.out_features, spec["num_layers"]
    state0 = _initial_state(h0, spec, N, H)
    rnn_state = {k: np.array(p.data, dtype=np.float64) for k, p in rnn_mod.named_parameters()}
    readout_state = {k: np.array(p.data, dtype=np.float64) for k, p in readout.named_parameters()}

    # 1. analytic
    cell = make_cell(spec)
    params = notation.from_pytorch(rnn_state, readout_state, spec["kind"])
    if L == 1:
        cache = unroll.forward(cell, x, y, params, None if state0 is None else state0[0])
        backward = backward or (rnn.rnn_backward if spec["kind"] == "rnn" else unroll.backward)
    else:
        cache = stacked.forward(cell, x, y, params, state0)
        backward = backward or (rnn.stacked_rnn_backward if spec["kind"] == "rnn" else stacked.backward)
    grads = backward(cache)
    layers, do = stacked.as_layers(grads)
    ana_rnn, ana_readout = notation.to_pytorch(grads.params, spec["kind"], bias=spec["bias"])
    analytic = {k: ana_rnn[k] for k in rnn_state} | {f"readout.{k}": ana_readout[k] for k in readout_state}

    # 2. autodiff: the model's own backward, and an op-by-op unroll that retains every intermediate gradient
    with _float64():
        trace = _autodiff_trace(spec, rnn_state, readout_state, x, y, state0)
    autodiff, model_loss, loss_fn = _autodiff_model(rnn_mod, readout, spec, x, y, state0)
    source = f"the model's own backward ({type(rnn_mod).__name__})"

    rows = [_row("loss", None, None, cache.loss, model_loss, tol)]
    if _rel(trace["loss"], model_loss) > tol:  # the op-by-op unroll must be the model, or its rows mean nothing
        raise RuntimeError(f"bptt.compare: the op-by-op unroll computes L = {trace['loss']!r} but the model "
                           f"{type(rnn_mod).__name__} computes {model_loss!r}: they are not the same network")
    gates = notation.GATES[spec["kind"]]
    for k in reversed(range(L)):  # the backward pass runs through the top layer first
        ours, theirs = layers[k], trace["layers"][k]
        layer = None if L == 1 else k + 1
        for t in reversed(range(T)):
            if k == L - 1:
                rows.append(_row("dL/do", t + 1, None, do[t], trace["do"][t], tol))
            rows.append(_row("dL/dh", t + 1, None, ours.dh[t], theirs["dh"][t], tol, layer))
            if ours.dc is not None:
                rows.append(_row("dL/dc", t + 1, None, ours.dc[t], theirs["dc"][t], tol, layer))
            for g in gates:
                rows.append(_row("dL/da", t + 1, g, ours.gates[g][t], theirs["gates"][g][t], tol, layer))
        for name, a, b in zip(("dL/dh", "dL/dc"), ours.dstate0, theirs["dstate0"]):
            rows.append(_row(name, 0, None, a, b, tol, layer))
    slices = notation.gate_slices(spec["kind"], H)
    for name in analytic:
        if name.startswith(("weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l")) and len(gates) > 1:
            for g, sl in slices.items():
                rows.append(_row(name, None, g, analytic[name][sl], autodiff[name][sl], tol))
        rows.append(_row(name, None, None, analytic[name], autodiff[name], tol))

    fd = _finite_differences(loss_fn, rnn_mod, readout, analytic, autodiff, fd_samples, eps, fd_tol, seed)
    sizes = dict(T=T, N=N, D=D, H=H, C=C) | ({"layers": L} if L > 1 else {})
    name = cell.name if L == 1 else f"{cell.name}, {L} stacked layers"
    return Report(name, sizes, rows, fd, tol, fd_tol, eps, source)


def check_random(model="lstm", hidden=8, steps=6, seed=0, *, batch=2, input_size=4, output_size=5,
                 nonlinearity="tanh", peephole=False, coupled=False, num_layers=1, **compare_options) -> Report:
    """``compare`` on a random model and a random batch: what ``tinygrad-seq check`` prints.

        report = bptt.check_random(model='lstm', hidden=8, steps=6, seed=0)
        print(report); sys.exit(0 if report.ok else 1)

    model: 'rnn' | 'lstm' | 'gru' (``peephole``/``coupled`` for the LSTM variants; ``num_layers`` stacked
    layers for the plain three). The weights
    are drawn U(±1/√hidden) as PyTorch does, the inputs x(t) ~ N(0, 1) of size ``input_size``
    and the targets uniformly over ``output_size`` classes, all from a generator seeded with
    ``seed``: the report depends on the arguments only.  Returns the ``Report``: ``str(report)``
    is the table, ``report.ok`` says whether every check passed (the exit status of the command).
    """
    for name, v in (("hidden", hidden), ("steps", steps), ("batch", batch), ("input_size", input_size),
                    ("output_size", output_size), ("num_layers", num_layers)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"bptt.check_random: {name} must be a positive integer, got {v!r}")
    rng = np.random.default_rng(seed)
    net = RecurrentLM(model, input_size, hidden, output_size, nonlinearity=nonlinearity, peephole=peephole,
                      coupled=coupled, num_layers=num_layers)
    bound = 1 / math.sqrt(hidden)
    net.load_state_dict({k: rng.uniform(-bound, bound, v.shape) for k, v in net.state_dict().items()})
    x = rng.standard_normal((steps, batch, input_size))
    y = rng.integers(0, output_size, (steps, batch))
    if getattr(net.rnn, "batch_first", False):
        x, y = x.swapaxes(0, 1), y.swapaxes(0, 1)
    return compare(net, x, y, seed=seed, **compare_options)


# --------------------------------------------------------------------------- helpers


def _split(model):
    if isinstance(model, (tuple, list)) and len(model) == 2:
        return model[0], model[1]
    if hasattr(model, "rnn") and hasattr(model, "readout"):
        return model.rnn, model.readout
    raise TypeError(
        "bptt.compare: model must be a RecurrentLM, a pair (rnn, readout) or a module with .rnn and .readout; "
        f"got {type(model).__name__}"
    )


def describe(rnn_mod) -> dict:
    """What the analytic side needs to know about a recurrent layer: kind, sizes, options."""
    cls = type(rnn_mod).__name__
    known = tuple(c for c in (nn_layer_class(m, p, q) for m, p, q in KNOWN) if c is not None) + (Recurrent,)
    if not isinstance(rnn_mod, known):
        raise TypeError(
            "bptt.compare: the analytic formulas cover nn.RNN, nn.LSTM, nn.GRU, nn.PeepholeLSTM, nn.CoupledLSTM "
            f"and bptt.Recurrent; got {cls}"
        )
    mode = str(rnn_mod.mode).lower()
    L = getattr(rnn_mod, "num_layers", 1)
    if getattr(rnn_mod, "bidirectional", False):
        raise ValueError(
            f"bptt.compare: the analytic formulas cover one direction; this {cls} has bidirectional=True"
        )
    if getattr(rnn_mod, "dropout", 0.0) and L > 1 and rnn_mod.training:
        raise ValueError(
            f"bptt.compare: this {cls} drops out {rnn_mod.dropout} of its units between layers in training mode, "
            "which the analytic formulas do not; call .eval() first"
        )
    names = dict(rnn_mod.named_parameters())
    if getattr(rnn_mod, "proj_size", 0):
        raise ValueError(f"bptt.compare: {cls} with proj_size is not covered by the analytic formulas")
    peephole = any(k in names for k in notation.PEEPHOLES.values())
    coupled = bool(getattr(rnn_mod, "coupled", False))
    spec = dict(
        mode=mode, kind=notation.kind_of(mode, coupled), nonlinearity=getattr(rnn_mod, "nonlinearity", "tanh"),
        peephole=peephole, coupled=coupled, bias="bias_ih_l0" in names,
        batch_first=bool(getattr(rnn_mod, "batch_first", False)),
        hidden_size=names["weight_hh_l0"].shape[1], input_size=names["weight_ih_l0"].shape[1], num_layers=L,
    )
    if L > 1 and (peephole or coupled):
        raise ValueError(f"bptt.compare: the analytic formulas cover stacked RNN, LSTM and GRU layers, not a {cls}")
    known_names = {f"{w}_l{k}" for k in range(L) for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    extra = set(names) - known_names - set(notation.PEEPHOLES.values())
    if extra:
        raise ValueError(f"bptt.compare: {cls} has parameters the analytic formulas do not know: {sorted(extra)}")
    return spec


def make_cell(spec) -> unroll.Cell:
    if spec["mode"] == "rnn":
        return rnn.cell(spec["nonlinearity"])
    if spec["mode"] == "gru":
        return gru.cell()
    return lstm.cell(peephole=spec["peephole"], coupled=spec["coupled"])


def _prepare(inputs, targets, spec):
    x = np.asarray(inputs.data if isinstance(inputs, Tensor) else inputs)
    y = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    D = spec["input_size"]
    if x.dtype.kind in "iu":  # token ids: the lecture's one-hot x(t)
        if x.size and (x.min() < 0 or x.max() >= D):
            raise IndexError(f"bptt.compare: token ids must lie in [0, {D}) (input_size), got {x.min()}..{x.max()}")
        x = np.eye(D)[x]
    x = x.astype(np.float64)
    if x.ndim == 2 and y.ndim == 1:  # one sequence
        x, y = x[:, None], y[:, None]
    elif spec["batch_first"]:
        x, y = x.swapaxes(0, 1), y.swapaxes(0, 1)
    if x.ndim != 3 or x.shape[2] != D:
        raise ValueError(
            f"bptt.compare: inputs must have shape (T, N, {D}) (or token ids (T, N)), got {np.shape(inputs)}"
        )
    if y.shape != x.shape[:2]:
        raise ValueError(
            f"bptt.compare: targets of shape {np.shape(targets)} do not match inputs of shape {np.shape(inputs)}"
        )
    return x, y.astype(np.int64)


def _initial_state(h0, spec, N, H):
    """[one tuple (h(0),) or (h(0), c(0)) per layer], each (N, H); None for zeros.

    h0 as PyTorch takes it: (num_layers, N, H), or for one layer also (N, H); (h0, c0) for the LSTM.
    """
    if h0 is None:
        return None
    L = spec["num_layers"]
    parts = tuple(h0) if isinstance(h0, (tuple, list)) else (h0,)
    want = 2 if spec["mode"] == "lstm" else 1
    if len(parts) != want:
        kind = spec["mode"].upper()
        raise ValueError(f"bptt.compare: a {kind} needs {want} initial state array(s), got {len(parts)}")
    out = []
    for s in parts:
        s = np.asarray(s.data if isinstance(s, Tensor) else s, dtype=np.float64)
        s = s[None] if s.ndim == 2 and L == 1 else s
        if s.shape != (L, N, H):
            shapes = f"({N}, {H}) or (1, {N}, {H})" if L == 1 else f"({L}, {N}, {H})"
            raise ValueError(f"bptt.compare: initial state must have shape {shapes}, got {s.shape}")
        out.append(s)
    return [tuple(s[k] for s in out) for k in range(L)]


@contextlib.contextmanager
def _float64(*modules):
    """Run in float64, then give every module back its own dtype, weights and gradients."""
    saved = [(p, p.data, p.grad) for m in modules for p in m.parameters()]
    before = get_default_dtype()
    set_default_dtype(np.float64)
    try:
        for p, data, _ in saved:
            p.data, p.grad = np.array(data, dtype=np.float64), None
        yield
    finally:
        for p, data, grad in saved:
            p.data, p.grad = data, grad
        set_default_dtype(before)


def _loss(o, y):
    return F.cross_entropy(o.reshape(-1, o.shape[-1]), y.reshape(-1), reduction="sum")


def _hx(state0, n_states):
    """The initial state as the model takes it: (num_layers, N, H), a pair of them for the LSTM."""
    if state0 is None:
        return None
    hx = tuple(Tensor(np.stack([layer[j] for layer in state0])) for j in range(n_states))
    return hx if n_states == 2 else hx[0]


def _autodiff_trace(spec, rnn_state, readout_state, x, y, state0):
    """The op-by-op unroll of the same weights, with the gradient of every intermediate retained.

    A stack is unrolled as one traced ``Recurrent`` per layer, each reading the outputs of the one below.
    """
    T, N, D = x.shape
    H, C, L = spec["hidden_size"], readout_state["weight"].shape[0], spec["num_layers"]
    n_states = 2 if spec["mode"] == "lstm" else 1
    if state0 is None:  # the layers' default initial state, made explicit so that ∇h(0) L can be read
        state0 = [tuple(np.zeros((N, H)) for _ in range(n_states)) for _ in range(L)]
    refs, hxs, below = [], [], Tensor(x)
    for k in range(L):
        ref = Recurrent(spec["mode"], D if k == 0 else H, H, nonlinearity=spec["nonlinearity"], bias=spec["bias"],
                        peephole=spec["peephole"], coupled=spec["coupled"], trace=True)
        mine = {name.replace(f"_l{k}", "_l0"): v for name, v in rnn_state.items()
                if name.endswith(f"_l{k}") or (k == 0 and name.startswith("weight_peephole"))}
        ref.load_state_dict(mine)
        hx = tuple(Tensor(s, requires_grad=True) for s in state0[k])
        below, _ = ref(below, hx)
        refs.append(ref)
        hxs.append(hx)
    head = Linear(H, C, bias="bias" in readout_state)
    head.load_state_dict(readout_state)
    o = head(below).retain_grad()
    loss = _loss(o, y)
    loss.backward()
    grad = lambda t: np.zeros((N, H)) if t.grad is None else t.grad.data  # noqa: E731  (None: unused by L)
    layers = []
    for ref, hx in zip(refs, hxs):
        steps = ref.steps
        layers.append({
            "dh": np.stack([grad(s["h"]) for s in steps]),
            "dc": np.stack([grad(s["c"]) for s in steps]) if n_states == 2 else None,
            "gates": {g: np.stack([grad(s[g]) for s in steps]) for g in notation.GATES[spec["kind"]]},
            "dstate0": tuple(grad(s) for s in hx),
        })
    return {"loss": loss.item(), "do": o.grad.data, "layers": layers}


def _autodiff_model(rnn_mod, readout, spec, x, y, state0):
    """The model's own forward and backward in float64: (parameter gradients, L, a function computing L)."""
    n_states = 2 if spec["mode"] == "lstm" else 1
    xt = Tensor(x.swapaxes(0, 1) if spec["batch_first"] else x)
    yy = y.swapaxes(0, 1) if spec["batch_first"] else y
    with _float64(rnn_mod, readout):
        out, _ = rnn_mod(xt, _hx(state0, n_states))
        loss = _loss(readout(out), yy)
        loss.backward()
        grads = {k: p.grad.data.copy() for k, p in rnn_mod.named_parameters()}
        grads |= {f"readout.{k}": p.grad.data.copy() for k, p in readout.named_parameters()}

    def loss_fn():  # finite differences change one weight of the model, then call this
        with _float64(rnn_mod, readout), no_grad():
            return _loss(readout(rnn_mod(xt, _hx(state0, n_states))[0]), yy).item()

    return grads, loss.item(), loss_fn


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def _row(quantity, t, gate, a, b, tol, layer=None) -> Row:
    e = _rel(a, b)
    return Row(quantity, t, gate, float(np.linalg.norm(a)), float(np.linalg.norm(b)), e, bool(e <= tol), layer)


def _finite_differences(loss_fn, rnn_mod, readout, analytic, autodiff, n, eps, fd_tol, seed):
    """Finite differences of the model's loss for ``n`` weights drawn at random (spread over the tensors).

    The fourth-order central stencil [8(L(θ+ε) − L(θ−ε)) − (L(θ+2ε) − L(θ−2ε))] / 12ε has a truncation
    error O(ε⁴), so ε = 1e-4 keeps both it and the round-off (~1e-16 · L / ε) near 1e-10: well below fd_tol.
    """
    if n <= 0:
        return []
    rng = np.random.default_rng(seed)
    params = dict(rnn_mod.named_parameters()) | {f"readout.{k}": p for k, p in readout.named_parameters()}
    names = list(params)
    rows = []
    for j in range(n):
        name = names[j] if j < len(names) else names[rng.integers(len(names))]
        p = params[name]
        idx = tuple(int(rng.integers(s)) for s in p.shape)
        original = p.data
        L = {}
        for step in (-2, -1, 1, 2):
            changed = np.array(original, dtype=np.float64)
            changed[idx] += step * eps
            p.data = changed
            try:
                L[step] = loss_fn()
            finally:
                p.data = original
        numeric = (8 * (L[1] - L[-1]) - (L[2] - L[-2])) / (12 * eps)
        a, b = float(analytic[name][idx]), float(autodiff[name][idx])
        scale = max(abs(a), abs(numeric), 1e-3)  # entries near 0: judge the error on the scale of 1e-3
        e = abs(a - numeric) / scale
        rows.append(FDRow(name, idx, a, b, numeric, e, bool(e <= fd_tol)))
    return rows


# --------------------------------------------------------------------------- printing


def _cell(e, tol):
    return f"{e:8.1e}{'*' if e > tol else ' '}"


def _format(r: Report) -> str:
    s, tol = r.sizes, r.tol
    lines = [
        f"BPTT check: {r.model}, D={s['D']} inputs, H={s['H']} hidden, C={s['C']} classes, "
        f"T={s['T']} steps, N={s['N']} sequences, float64",
        "relative error ‖analytic − autodiff‖ / max(‖analytic‖, ‖autodiff‖); * marks a value above "
        f"the tolerance {tol:.0e}",
    ]
    loss = r.rows[0]
    lines.append(f"loss L = {loss.analytic_norm:.10g} (analytic), {loss.autodiff_norm:.10g} (autodiff): "
                 f"{loss.rel_error:.1e}")

    steps = [x for x in r.rows if x.t is not None]
    cols = []
    for x in steps:
        key = (x.quantity, x.gate, x.layer)
        if key not in cols:
            cols.append(key)
    heads = [_head(q, g, layer) for q, g, layer in cols]
    lines += ["", "per time step, in backward order (autodiff: the op-by-op unroll, retain_grad on every h(t), "
              "c(t), gate)", "   t  " + "".join(f"{h:>10}" for h in heads)]
    by_t = {}
    for x in steps:
        by_t.setdefault(x.t, {})[(x.quantity, x.gate, x.layer)] = x
    for t in sorted(by_t, reverse=True):
        cells = [(_cell(by_t[t][k].rel_error, tol) if k in by_t[t] else f"{'':9}") for k in cols]
        note = "   (initial state)" if t == 0 else ""
        lines.append(f"{t:4d}  " + " ".join(cells) + note)

    params = [x for x in r.rows if x.t is None and x.quantity != "loss"]
    gates = []
    for x in params:
        if x.gate and x.gate not in gates:
            gates.append(x.gate)
    lecture = _lecture_names(r.model, s.get("layers", 1))
    lines += ["", f"parameter gradients (autodiff: {r.autodiff_source})",
              f"  {'parameter':<20}{'lecture':>8}{'‖∇‖':>10}  {'whole':>9}" + "".join(f"{g:>10}" for g in gates)]
    by_name = {}
    for x in params:
        by_name.setdefault(x.quantity, {})[x.gate] = x
    for name, d in by_name.items():
        whole = d[None]
        cells = [(_cell(d[g].rel_error, tol) if g in d else f"{'':9}") for g in gates]
        lines.append(f"  {name:<20}{lecture.get(name, ''):>8}{whole.analytic_norm:10.2e}  "
                     f"{_cell(whole.rel_error, tol)}" + " ".join([""] + cells))

    if r.fd:
        lines += ["", f"finite differences of L, 4th-order central, ε = {r.eps:g} ({len(r.fd)} sampled weights; "
                  f"rel. error of analytic vs numeric, tolerance {r.fd_tol:.0e})",
                  f"  {'parameter':<20}{'index':>10}{'analytic':>15}{'autodiff':>15}{'numeric':>15}{'rel. err':>10}"]
        for f in r.fd:
            lines.append(f"  {f.parameter:<20}{str(f.index):>10}{f.analytic:15.6e}{f.autodiff:15.6e}"
                         f"{f.numeric:15.6e} {_cell(f.rel_error, r.fd_tol)}")
    lines += ["", "verdict: " + r.verdict]
    return "\n".join(line.rstrip() for line in lines)


SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _layer_mark(layer) -> str:
    """'⁽²⁾' for layer 2 (the lecture's h⁽²⁾), '' for a one-layer model."""
    return "" if layer is None else f"⁽{str(layer).translate(SUPERSCRIPTS)}⁾"


def _head(quantity, gate, layer) -> str:
    """'∇h', '∇a_f', '∇h⁽²⁾', '∇a_i⁽¹⁾': the name of a per-step quantity."""
    what = quantity[4:]
    sub = f"_{gate}" if what == "a" and gate not in (None, "a") else ""
    return f"∇{what}{sub}{_layer_mark(layer)}"


def _lecture_names(model: str, num_layers: int = 1) -> dict:
    names = {"readout.weight": "Vᵀ", "readout.bias": "c"}
    for k in range(num_layers):
        mark = _layer_mark(None if num_layers == 1 else k + 1)
        names |= {f"weight_ih_l{k}": f"U{mark}ᵀ", f"weight_hh_l{k}": f"W{mark}ᵀ", f"bias_ih_l{k}": f"b{mark}",
                  f"bias_hh_l{k}": f"b{mark}, b_hn{mark}" if model.startswith("GRU") else f"b{mark}"}
    names.update({v: k for k, v in notation.PEEPHOLES.items()})
    return names
