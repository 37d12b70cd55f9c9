"""Optimizers and gradient clipping, with the update rules of ``torch.optim``.

    >>> opt = Adam(model.parameters(), lr=1e-3)
    >>> for x, y in batches:
    ...     opt.zero_grad()
    ...     loss = model.loss(x, y)
    ...     loss.backward()
    ...     clip_grad_norm_(model.parameters(), max_norm=5.0)
    ...     opt.step()

Each optimizer's ``step`` is written in the notation of its paper (g the
gradient, θ the parameter, m and v running moments) and follows PyTorch's
arithmetic step for step, so that the same start gives the same trajectory
(tested against ``torch.optim`` in float64).  The updates run on the numpy
arrays inside ``no_grad()``: an update is not part of any graph.

As in PyTorch, parameters can be split into groups with their own
hyper-parameters (``param_groups``), and an optimizer's ``state_dict()``
holds its per-parameter state (momentum buffers, moments, step counts)
keyed by the parameter's position, so it can be saved and restored.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from .autograd import no_grad
from .autograd import state as _mode
from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "clip_grad_norm_", "clip_grad_value_"]


class Optimizer:
    """Base class: holds ``param_groups`` (lists of parameters with their hyper-parameters) and ``state``.

    ``params`` is an iterable of tensors, or of dicts ``{"params": [...], "lr": ...}``
    whose entries override ``defaults`` for that group.  Subclasses implement
    ``_update(p, g, group, state)``, which changes ``p.data`` for one parameter.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict[int, dict] = {}  # keyed by id(parameter), as torch keys by the tensor
        self.param_groups: list[dict] = []
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, got {type(p).__name__}")
            if not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: parameter {p.name!r} (shape {p.shape}) does not require grad")
            if not p.is_leaf:  # its .grad is never filled, and the update would be lost at the next forward
                raise ValueError(
                    f"{type(self).__name__} can only optimize leaf tensors: {p.name or 'a tensor'!r} (shape {p.shape}) "
                    f"was computed by {type(p.grad_fn).__name__}; pass the tensor it came from, or .detach() it"
                )
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: parameter {p.name!r} appears in more than one group")
            seen.add(id(p))
        group["params"] = params
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown hyper-parameters {sorted(unknown)}")
        self._check(group)
        self.param_groups.append(group)

    def _check(self, group):
        """Reject nonsense hyper-parameters (subclasses add their own checks).

        Every number must be a finite real number >= 0 and every switch a bool: a NaN or an
        infinite learning rate would silently turn every weight into NaN at the first step.
        """
        name = type(self).__name__
        for k, default in self.defaults.items():
            v = group[k]
            if isinstance(default, bool):
                if not isinstance(v, (bool, np.bool_)):
                    raise TypeError(f"{name}: {k} must be True or False, got {v!r}")
            elif isinstance(default, tuple):
                if not (isinstance(v, (tuple, list)) and len(v) == len(default) and all(map(_is_real, v))):
                    raise TypeError(f"{name}: {k} must be a pair of numbers, got {v!r}")
            elif not _is_real(v):
                raise TypeError(f"{name}: {k} must be a number, got {v!r}")
            elif not (math.isfinite(v) and v >= 0):
                what = "learning rate" if k == "lr" else k
                raise ValueError(f"{name}: invalid {what} {v!r} (must be a finite number >= 0)")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of every parameter (``backward`` adds into ``.grad``)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.data[...] = 0

    def step(self) -> None:
        """Update every parameter that has a gradient.

        Under ``detect_anomaly()`` every gradient is checked first: a NaN or an Inf raises a
        RuntimeError naming the parameter, before any parameter is changed.
        """
        if _mode.anomaly:
            self._check_finite_grads()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = p.grad.data
                    if g.shape != p.shape:
                        raise ValueError(
                            f"{type(self).__name__}: gradient of shape {g.shape} for parameter {p.name!r} "
                            f"of shape {p.shape}"
                        )
                    if group.get("maximize", False):
                        g = -g
                    state = self.state.setdefault(id(p), {})
                    self._update(p, g, group, state)

    def _update(self, p, g, group, state):
        raise NotImplementedError

    def _check_finite_grads(self):
        for gi, group in enumerate(self.param_groups):
            for i, p in enumerate(group["params"]):
                if p.grad is not None and not np.isfinite(p.grad.data).all():
                    bad = "NaN" if np.isnan(p.grad.data).any() else "Inf"
                    who = repr(p.name) if p.name else f"{i} of group {gi}"
                    raise RuntimeError(
                        f"{type(self).__name__}.step: the gradient of parameter {who} (shape {p.shape}) holds {bad}; "
                        "no parameter was changed (detect_anomaly is on)"
                    )

    # ---- saving and restoring ----
    def state_dict(self) -> dict:
        """``{"state": {i: {name: array or number}}, "param_groups": [{hyper-parameters, "params": [i, ...]}]}``.

        Parameters are named by their position across all groups (0, 1, ...), as in PyTorch,
        so the state can be loaded into an optimizer built over a fresh copy of the model.
        """
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index[id(p)] = len(index)
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {
            index[pid]: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
            for pid, s in self.state.items()
            if pid in index
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and per-parameter state saved by ``state_dict()``.

        The groups must have the same sizes; each saved buffer must have its parameter's shape.
        Nothing changes unless every check passes.
        """
        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: {len(groups)} parameter groups saved, {len(self.param_groups)} here"
            )
        params = []
        for saved, own in zip(groups, self.param_groups):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: a group of {len(saved['params'])} parameters was saved, "
                    f"this group has {len(own['params'])}"
                )
            params += list(zip(saved["params"], own["params"]))
        by_index = dict(params)
        new_groups = []
        for saved, own in zip(groups, self.param_groups):
            group = dict(own)
            group.update((k, copy.deepcopy(v)) for k, v in saved.items() if k != "params")
            unknown = set(group) - set(self.defaults) - {"params"}
            if unknown:
                raise ValueError(f"{name}.load_state_dict: unknown hyper-parameters {sorted(unknown)}")
            for k, default in self.defaults.items():
                if isinstance(default, tuple) and isinstance(group[k], list):  # a JSON round trip makes lists
                    group[k] = tuple(group[k])
            self._check(group)  # the constructor's checks: lr=-5 or 'abc' is refused here, not at the next step
            new_groups.append(group)
        new_state = {}
        for i, s in state_dict["state"].items():
            i = int(i)
            if i not in by_index:
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, which no group holds")
            p = by_index[i]
            entry = {}
            for k, v in s.items():
                numeric = v.dtype.kind in "biuf" if isinstance(v, np.ndarray) else _is_real(v)
                if not numeric:
                    raise TypeError(f"{name}.load_state_dict: {k!r} of parameter {i} is not a number "
                                    f"({type(v).__name__} {getattr(v, 'dtype', v)!r})")
                if not np.isfinite(v).all():
                    raise ValueError(f"{name}.load_state_dict: {k!r} of parameter {i} holds NaN or Inf")
                if isinstance(v, np.ndarray) and v.ndim > 0:
                    if v.shape != p.shape:
                        raise ValueError(
                            f"{name}.load_state_dict: {k!r} of parameter {i} has shape {v.shape}, "
                            f"the parameter {p.shape}"
                        )
                    v = v.astype(p.data.dtype, copy=True)
                elif isinstance(v, np.ndarray):
                    v = v.item()
                entry[k] = v
            new_state[id(p)] = entry
        for group, own in zip(new_groups, self.param_groups):
            own.update(group)
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (heavy ball or Nesterov) and L2 weight decay.

        g ← g + λθ                                  (weight_decay λ)
        b ← μ b + (1 − τ) g    (b = g at the first step)   (momentum μ, dampening τ)
        g ← g + μ b  if nesterov,  else  g ← b
        θ ← θ − η g
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check(self, group):
        super()._check(group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")

    def _update(self, p, g, group, state):
        lam, mu = group["weight_decay"], group["momentum"]
        if lam != 0:
            g = g + lam * p.data
        if mu != 0:
            b = state.get("momentum_buffer")
            b = g.copy() if b is None else mu * b + (1 - group["dampening"]) * g
            state["momentum_buffer"] = b
            g = g + mu * b if group["nesterov"] else b
        p -= group["lr"] * g


class Adagrad(Optimizer):
    """Per-coordinate step sizes shrinking with the sum of squared gradients (Duchi et al. 2011).

        η_t = η / (1 + (t − 1) · lr_decay)
        s ← s + g²                   (s starts at initial_accumulator_value)
        θ ← θ − η_t · g / (√s + ε)
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 maximize=False):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p, g, group, state):
        if not state:
            state["step"] = 0
            state["sum"] = np.full(p.shape, group["initial_accumulator_value"], p.dtype)
        state["step"] += 1
        t = state["step"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.data
        lr_t = group["lr"] / (1 + (t - 1) * group["lr_decay"])
        state["sum"] += g * g
        p -= lr_t * (g / (np.sqrt(state["sum"]) + group["eps"]))


class RMSprop(Optimizer):
    """Divide the gradient by a running root-mean-square of recent gradients (Hinton, lecture 6e).

        v ← α v + (1 − α) g²
        m_g ← α m_g + (1 − α) g,  v̂ = v − m_g²        if centered, else v̂ = v
        b ← μ b + g / (√v̂ + ε),   θ ← θ − η b          if momentum μ > 0
        θ ← θ − η g / (√v̂ + ε)                        otherwise
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 maximize=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p, g, group, state):
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros(p.shape, p.dtype)
            if group["momentum"] > 0:
                state["momentum_buffer"] = np.zeros(p.shape, p.dtype)
            if group["centered"]:
                state["grad_avg"] = np.zeros(p.shape, p.dtype)
        state["step"] += 1
        alpha = group["alpha"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.data
        v = state["square_avg"] = alpha * state["square_avg"] + (1 - alpha) * g * g
        if group["centered"]:
            m = state["grad_avg"] = alpha * state["grad_avg"] + (1 - alpha) * g
            v = v - m * m
        denom = np.sqrt(v) + group["eps"]
        if group["momentum"] > 0:
            b = state["momentum_buffer"] = group["momentum"] * state["momentum_buffer"] + g / denom
            p -= group["lr"] * b
        else:
            p -= group["lr"] * (g / denom)


class Adam(Optimizer):
    """Adaptive moment estimation (Kingma & Ba 2015), with bias-corrected first and second moments.

        g ← g + λθ                                        (weight_decay λ: L2 penalty, as in torch.optim.Adam)
        m ← β₁ m + (1 − β₁) g
        v ← β₂ v + (1 − β₂) g²          (amsgrad: v_max ← max(v_max, v), used below in place of v)
        θ ← θ − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
    """

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check(self, group):
        super()._check(group)
        b1, b2 = group["betas"]
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"{type(self).__name__}: betas must lie in [0, 1), got {group['betas']}")

    def _update(self, p, g, group, state):
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros(p.shape, p.dtype)
            state["exp_avg_sq"] = np.zeros(p.shape, p.dtype)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros(p.shape, p.dtype)
        state["step"] += 1
        t = state["step"]
        (b1, b2), lr, lam = group["betas"], group["lr"], group["weight_decay"]
        if lam != 0:
            if self.decoupled:
                p *= 1 - lr * lam
            else:
                g = g + lam * p.data
        m = state["exp_avg"] = b1 * state["exp_avg"] + (1 - b1) * g
        v = state["exp_avg_sq"] = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
        if group["amsgrad"]:
            v = state["max_exp_avg_sq"] = np.maximum(state["max_exp_avg_sq"], v)
        step_size = lr / (1 - b1**t)
        denom = np.sqrt(v) / math.sqrt(1 - b2**t) + group["eps"]
        p -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): θ ← θ(1 − ηλ) before the Adam step."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


# --------------------------------------------------------------------------- gradient clipping


def _with_grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Rescale all gradients together so that their joint norm is at most ``max_norm``.

    The lecture's clipping rule: if ‖g‖ > v then g ← v · g / ‖g‖, with g all the
    gradients seen as one vector.  The direction of the step is kept; only its
    length is capped, which tames the rare exploding-gradient step of an RNN.
    Returns the total norm *before* clipping (a 0-d tensor), as PyTorch does;
    watching it is the easiest way to see gradients explode.
    (Like PyTorch, the factor is v / (‖g‖ + 1e-6), applied when it is below 1.)
    """
    params = _with_grads(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not max_norm >= 0:  # a negative bound would flip the gradient's sign, NaN would skip clipping
        raise ValueError(f"clip_grad_norm_: max_norm must be a number >= 0, got {max_norm}")
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 (or inf), got {norm_type}")
    if not params:
        return Tensor(np.array(0.0))
    grads = [p.grad.data for p in params]
    if norm_type == math.inf:
        norms = [np.abs(g).max() for g in grads]
        total = max(norms)
    else:
        norms = [np.linalg.norm(g.ravel(), norm_type) for g in grads]
        total = np.linalg.norm(np.array(norms), norm_type)
    total = np.asarray(total, dtype=np.result_type(*grads))
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {float(total)}; "
            "set error_if_nonfinite=False to clip anyway"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= coef.astype(g.dtype)
    return Tensor(total)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient entry into [−clip_value, clip_value] (changes the direction, unlike norm clipping)."""
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in _with_grads(parameters):
        np.clip(p.grad.data, -clip_value, clip_value, out=p.grad.data)
