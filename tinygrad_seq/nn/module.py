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
from ..tensor import Device, Tensor, device, get_default_dtype


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
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_scope_name", type(self).__name__)

    # ---- registration by assignment ----
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if isinstance(value, Parameter):
            home = self._parameters
            value.name = value.name or name
        elif isinstance(value, Module):
            home = self._modules
            value._scope_name = name
        elif name in self._buffers and (value is None or isinstance(value, Tensor)):
            home = self._buffers  # self.pe = new_pe keeps pe a buffer, as in PyTorch
        else:
            home = None
        for d in (self._parameters, self._modules, self._buffers):
            if d is not home:
                d.pop(name, None)
        if home is not None:
            home[name] = value  # a name already there keeps its place (and so its place in the state dict)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for d in (self._parameters, self._modules, self._buffers):
            d.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name, value, persistent=True):
        """A tensor of the module that is not learned (e.g. a fixed reservoir); in the state dict if ``persistent``."""
        value = value if value is None or isinstance(value, Tensor) else Tensor(value)
        for d in (self._parameters, self._modules):
            d.pop(name, None)
        object.__setattr__(self, name, value)
        self._buffers[name] = value
        if not persistent:
            self._non_persistent.add(name)

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
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(dotted name, module) for this module and every one below it, depth first, each module once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        return (m for _, m in self.named_modules())

    def children(self):
        return (m for _, m in self.named_children())

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, parameter) pairs; a parameter shared by two modules (tied weights) comes once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        """An iterator over the parameters, as in PyTorch (``next(model.parameters())``; ``list(...)`` for a list)."""
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        return (b for _, b in self.named_buffers(recurse=recurse))

    def _named_members(self, kind, prefix, recurse, remove_duplicate):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mprefix, m in modules:
            for name, v in getattr(m, kind).items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield (f"{mprefix}.{name}" if mprefix else name), v

    def apply(self, fn):
        """Call ``fn(module)`` on every sub-module, then on this one (e.g. to initialise weights); returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

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

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, *args, **kwargs):
        """Cast every float parameter and buffer in place: ``to(np.float64)``, ``to(tg.double)``, ``to(tensor)``.

        A device (``to("cpu")``, ``to(device)``) is accepted as in PyTorch; the CPU is the only one, so
        that changes nothing, and any other device is an error that says so.
        """
        dtype = _target_dtype(args, kwargs)
        if dtype is None:
            return self
        if dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: modules hold float parameters; got dtype {dtype}")
        for p in list(self.parameters()) + list(self.buffers()):
            if p.data.dtype.kind == "f" and p.data.dtype != dtype:
                p.data = p.data.astype(dtype)
                p.grad = None
        return self

    def cpu(self):
        return self

    def cuda(self, device=None):
        return self.to("cuda")

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    # ---- state ----
    def state_dict(self, prefix=""):
        """Every parameter and persistent buffer by its dotted name, as numpy arrays (copies).

        In PyTorch's order (each module's parameters, then its buffers, then its children's), and, as in
        PyTorch, a tied weight (``decoder.weight = encoder.weight``) under each of its names.  For a
        PyTorch model: ``torch_model.load_state_dict(nn.to_torch_state_dict(model.state_dict()))``.
        """
        sd = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                sd[prefix + name] = p.data.copy()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                sd[prefix + name] = b.data.copy()
        for name, m in self._modules.items():
            if m is not None:
                sd.update(m.state_dict(prefix=f"{prefix}{name}."))
        return sd

    def _state_tensors(self, prefix=""):
        """The tensors behind ``state_dict()``, under the same names (a tied weight under each)."""
        out = {prefix + k: v for k, v in (*self._parameters.items(), *self._buffers.items())
               if v is not None and k not in self._non_persistent}
        for name, m in self._modules.items():
            if m is not None:
                out.update(m._state_tensors(f"{prefix}{name}."))
        return out

    def load_state_dict(self, state_dict, strict=True, allow_nonfinite=False):
        """Copy arrays (numpy, our tensors or torch tensors) into the parameters and buffers by name.

        Shapes must match exactly.  With ``strict`` the keys must match too;
        the error lists what is missing and what is unexpected.  Values are
        cast to each parameter's dtype, as ``torch`` does (float64 into a
        float32 weight, integers and booleans into floats); complex, string
        and object arrays are refused (a TypeError naming the key), and so,
        unless ``allow_nonfinite``, are NaN and ±inf (a ValueError naming the
        key: a model holding them only computes garbage).  Nothing is changed
        unless every check passes.  A tied weight is loaded under each of its names.
        """
        where = f"load_state_dict into {type(self).__name__}"
        if not hasattr(state_dict, "items"):
            raise TypeError(f"{where}: expected a dict of arrays, got {type(state_dict).__name__}")
        arrays = {k: _to_numpy(v, where, k) for k, v in state_dict.items()}
        for mprefix, m in self.named_modules():
            if hasattr(m, "_materialize"):  # a lazy layer takes its sizes from the state dict
                m._materialize_from(arrays, f"{mprefix}." if mprefix else "")
        own = self._state_tensors()
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
        """The module tree, as PyTorch prints it: ``Name(extra)`` or one ``(child): ...`` line per sub-module."""
        extra = self.extra_repr().split("\n") if self.extra_repr() else []
        children = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        if len(extra) == 1 and not children:
            return f"{type(self).__name__}({extra[0]})"
        lines = extra + children
        return f"{type(self).__name__}(" + ("\n  " + "\n  ".join(lines) + "\n" if lines else "") + ")"



def _target_dtype(args, kwargs):
    """The dtype that ``to(...)`` asks for (None if only a device), after checking that any device is the CPU."""
    dtype = None
    for k, a in (*((None, a) for a in args), *kwargs.items()):
        if k in ("non_blocking", "copy", "memory_format") or a is None:
            continue
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, Device):
            continue
        else:
            try:
                dtype = np.dtype(a)
            except TypeError:
                device(a)  # "cpu" passes; any other device is an error that says why
    return dtype


def _to_numpy(v, where="", key=""):
    """The array behind a state-dict value; a TypeError naming ``key`` unless it holds real numbers."""
    if isinstance(v, Tensor):
        arr = v.data
    elif isinstance(v, np.ndarray):  # (checked first: .data's view also answers to Tensor method names)
        arr = v
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


def to_torch_state_dict(state_dict):
    """Our state dict (name -> array) as PyTorch's (name -> torch tensor), for ``torch_model.load_state_dict``.

        torch_model.load_state_dict(nn.to_torch_state_dict(model.state_dict()))

    The tensors are copies with the arrays' dtypes (a float32 model gives float32 tensors).  Imports torch.
    """
    import torch  # only here: the library itself never needs PyTorch

    return OrderedDict((k, torch.from_numpy(np.array(_to_numpy(v)))) for k, v in state_dict.items())


def from_torch_state_dict(state_dict):
    """PyTorch's state dict (name -> torch tensor) as ours (name -> numpy array, a copy), keys in the same order.

        model.load_state_dict(nn.from_torch_state_dict(torch_model.state_dict()))

    (``load_state_dict`` also takes PyTorch's state dict as it is; this is the explicit form.)
    """
    return OrderedDict((k, np.array(_to_numpy(v))) for k, v in state_dict.items())


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
