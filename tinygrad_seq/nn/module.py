"""Module and Parameter: the containers every layer is built from, as in ``torch.nn``.

A Module finds its parameters and sub-modules by looking at its attributes,
so a layer is written as a plain class:

    class Affine(Module):
        def __init__(self, n_in, n_out):
            super().__init__()
            self.weight = Parameter(init.uniform((n_out, n_in), n_in))   # from tinygrad_seq.nn import init
        def forward(self, x):
            return x @ self.weight.T

Calling a module opens a scope named after it (or after its attribute name
inside its parent), so the tensors it makes are grouped in pictures and
named in error messages.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..autograd import scope
from ..tensor import Tensor, get_default_dtype


class Parameter(Tensor):
    """A tensor that is a learnable weight of a module: requires grad, found by ``parameters()``."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True, name=None):
        arr = np.asarray(data)
        if arr.dtype.kind != "f":
            arr = arr.astype(get_default_dtype())
        super().__init__(arr, requires_grad=requires_grad, name=name)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def check_sizes(owner: str, **sizes) -> None:
    """Raise a ValueError naming ``owner`` unless every size is a positive integer (the layers' constructors)."""
    for k, v in sizes.items():
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{owner}: {k} must be a positive integer, got {v!r}")


class Module:
    """Base class of all layers: parameters, sub-modules, train/eval, state dicts."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_scope_name", type(self).__name__)

    # ---- registration by assignment ----
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        for d in (self._parameters, self._modules, self._buffers):
            d.pop(name, None)
        if isinstance(value, Parameter):
            value.name = value.name or name
            self._parameters[name] = value
        elif isinstance(value, Module):
            value._scope_name = name
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for d in (self._parameters, self._modules, self._buffers):
            d.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name, value):
        """A non-learnable array saved in the state dict (e.g. a fixed reservoir)."""
        value = value if isinstance(value, Tensor) else Tensor(value)
        object.__setattr__(self, name, value)
        self._buffers[name] = value

    def register_parameter(self, name, value):
        if value is None:
            object.__setattr__(self, name, None)
            return
        setattr(self, name, value)

    def add_module(self, name, module):
        setattr(self, name, module)

    # ---- calling ----
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        with scope(self._scope_name):
            return self.forward(*args, **kwargs)

    # ---- traversal ----
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def children(self):
        return iter(self._modules.values())

    def named_children(self):
        return iter(self._modules.items())

    def named_parameters(self, prefix=""):
        seen = set()
        for mprefix, m in self.named_modules(prefix):
            for name, p in m._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mprefix}.{name}" if mprefix else name), p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        for mprefix, m in self.named_modules(prefix):
            for name, b in m._buffers.items():
                yield (f"{mprefix}.{name}" if mprefix else name), b

    def name_parameters(self, prefix=""):
        """Name every parameter by its path (``rnn.weight_hh_l0``), which viz shows on the picture."""
        for name, p in self.named_parameters(prefix):
            p.name = name
        return self

    # ---- modes ----
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, dtype):
        """Cast every parameter and buffer to a float dtype in place (e.g. ``np.float64`` for checks)."""
        dtype = np.dtype(dtype)
        for _, p in list(self.named_parameters()) + list(self.named_buffers()):
            if p.data.dtype.kind == "f":
                p.data = p.data.astype(dtype)
                p.grad = None
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    # ---- state ----
    def state_dict(self):
        """Every parameter and buffer by its dotted name, as numpy arrays (copies)."""
        sd = OrderedDict((k, p.data.copy()) for k, p in self.named_parameters())
        sd.update((k, b.data.copy()) for k, b in self.named_buffers())
        return sd

    def load_state_dict(self, state_dict, strict=True, allow_nonfinite=False):
        """Copy arrays (numpy or torch tensors) into the parameters by name.

        Shapes must match exactly.  With ``strict`` the keys must match too;
        the error lists what is missing and what is unexpected.  Values are
        cast to each parameter's dtype, as ``torch`` does (float64 into a
        float32 weight, integers and booleans into floats); complex, string
        and object arrays are refused (a TypeError naming the key), and so,
        unless ``allow_nonfinite``, are NaN and ±inf (a ValueError naming the
        key: a model holding them only computes garbage).  Nothing is changed
        unless every check passes.
        """
        where = f"load_state_dict into {type(self).__name__}"
        if not hasattr(state_dict, "items"):
            raise TypeError(f"{where}: expected a dict of arrays, got {type(state_dict).__name__}")
        own = dict(self.named_parameters())
        own.update(self.named_buffers())
        arrays = {k: _to_numpy(v, where, k) for k, v in state_dict.items()}
        missing = [k for k in own if k not in arrays]
        unexpected = [k for k in arrays if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"{where}: missing keys {missing}, unexpected keys {unexpected}")
        cast = {}
        for k, arr in arrays.items():
            if k not in own:
                continue
            if arr.shape != own[k].shape:
                raise ValueError(
                    f"{where}: {k!r} has shape {arr.shape} in the state dict but {own[k].shape} in the model"
                )
            with np.errstate(over="ignore", invalid="ignore"):
                value = arr.astype(own[k].data.dtype, copy=True)  # a fresh array: later edits of arr do not leak
            if not allow_nonfinite and value.dtype.kind == "f" and not np.isfinite(value).all():
                bad = "NaN" if np.isnan(value).any() else "inf"
                if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                    why = f"{k!r} holds {bad}"
                else:
                    why = f"{k!r} overflows {value.dtype}"
                raise ValueError(f"{where}: {why}; pass allow_nonfinite=True to load it anyway")
            cast[k] = value
        for k, value in cast.items():
            own[k].data = value  # (assigning .data moves the version counter)
        return missing, unexpected

    # ---- printing ----
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"


def _to_numpy(v, where="", key=""):
    """The array behind a state-dict value; a TypeError naming ``key`` unless it holds real numbers."""
    if isinstance(v, Tensor):
        arr = v.data
    elif hasattr(v, "detach") and hasattr(v, "numpy"):  # a torch tensor, without importing torch
        try:
            arr = v.detach().cpu().resolve_conj().numpy()
        except (TypeError, RuntimeError) as e:  # e.g. bfloat16, which numpy lacks
            raise TypeError(f"{where}: {key!r} cannot be read as a numpy array ({e})") from None
    else:
        try:
            arr = np.asarray(v)
        except (ValueError, TypeError) as e:  # a ragged list
            raise TypeError(f"{where}: {key!r} is not an array of numbers ({e})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {key!r} has dtype {arr.dtype}; only real numbers can be loaded into a model")
    return arr


class ModuleList(Module):
    """A list of modules whose parameters are registered (names "0", "1", ...)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, m):
        setattr(self, str(len(self._modules)), m)
        return self

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class Sequential(ModuleList):
    """Modules applied one after another; named "0", "1", ... as in PyTorch."""

    def __init__(self, *modules):
        super().__init__(modules)

    def forward(self, x):
        for m in self:
            x = m(x)
        return x
