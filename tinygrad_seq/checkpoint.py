"""Checkpoints: a model, its optimizer and the rest of a training run in one ``.npz`` file.

    >>> save_checkpoint("run.npz", model=model, optimizer=opt, vocab=vocab, step=500,
    ...                 config={"model": "lstm", "hidden_size": 128}, rng=tg.default_rng())
    >>> ckpt = load_checkpoint("run.npz")
    >>> ckpt.restore(model, opt, expect_config={"model": "lstm", "hidden_size": 128})
    >>> ckpt.step, ckpt.vocab
    (500, Vocab(...))

Three promises:

* **A checkpoint never runs code.**  Everything is a numpy array or one JSON
  string inside a plain ``.npz`` (a zip of ``.npy`` files), read back with
  ``allow_pickle=False``.  Open one with ``np.load`` to look inside: arrays are
  named by their place, e.g. ``model/rnn.weight_hh_l0`` or
  ``optimizer/state/3/exp_avg``.
* **A crash never leaves half a checkpoint.**  The file is written under a
  temporary name in the same directory, flushed to disk (fsync), then renamed
  over the old one with ``os.replace``, which is atomic: a reader sees the old
  checkpoint or the new one, never a mixture.
* **A wrong file gets a clear error**, a ``CheckpointError`` naming the file and
  the problem: missing, corrupt (not a zip, a failed CRC), not a tinygrad_seq
  checkpoint, or saved for another model (different sizes or settings).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import struct
import tempfile
import tokenize
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

from .data import Vocab
from .tensor import Tensor, device

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; stale temporaries stay
    fcntl = None

__all__ = [
    "CheckpointError", "Checkpoint", "save_checkpoint", "load_checkpoint", "atomic_write", "run_lock", "save", "load",
]

FORMAT = "tinygrad_seq checkpoint"
VERSION = 1
_HEADER = "__checkpoint__"


class CheckpointError(ValueError):
    """A checkpoint that cannot be written, read, or used for this model."""


# --------------------------------------------------------------------------- atomic writing


def atomic_write(path, write) -> None:
    """Write a file so that it is either the old file or the complete new one, whatever happens.

    ``write(f)`` writes into a temporary binary file in the same directory
    (a rename is only atomic within one file system); the data are forced to
    disk before ``os.replace`` puts the file in place.  If ``write`` raises,
    or the process is interrupted (Ctrl-C), the temporary file is removed and
    the old file is untouched; a temporary file left by a killed process is
    removed by the next save into the same directory.

    A symbolic link keeps pointing where it did: the file it names is written.
    An existing file keeps its permission bits, and one without write permission
    (0444) is refused rather than silently replaced.
    """
    path = os.fspath(path)
    if not path:
        raise CheckpointError("cannot save: the file name is empty")
    target = os.path.realpath(path)  # through symbolic links: replace the file, not the link
    directory, base = os.path.split(target)
    if not os.path.isdir(directory):
        raise CheckpointError(f"cannot save {path!r}: directory {directory!r} does not exist")
    if os.path.isdir(target):
        raise CheckpointError(f"cannot save {path!r}: it is a directory")
    mode = None
    with contextlib.suppress(FileNotFoundError):
        st = os.stat(target)
        mode = stat.S_IMODE(st.st_mode)
        if not mode & 0o222 or not os.access(target, os.W_OK):
            raise CheckpointError(f"cannot save {path!r}: the file is read-only (mode {mode:o}); "
                                  "make it writable (chmod u+w) or save under another name")
    _remove_stale_temps(directory, base)
    try:
        # a short name whatever the file's: the temporary must fit where a 255-byte name fits
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(base), suffix=".tmp", dir=directory)
    except OSError as e:
        raise CheckpointError(f"cannot save {path!r}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            _lock(f, blocking=True)  # held while writing: the next save knows this temporary is not stale
            write(f)
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask() if mode is None else mode)  # mkstemp makes the file private
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _temp_prefix(base):
    return "." + base.encode("utf-8", "surrogateescape")[:24].decode("utf-8", "ignore") + "."


def _lock(f, blocking):
    """An exclusive advisory lock on an open file (POSIX); True if taken.  Released when the file closes."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


def _remove_stale_temps(directory, base):
    """Delete the temporaries of earlier saves of this file that were killed half way (no one holds their lock)."""
    if fcntl is None:
        return
    prefix = _temp_prefix(base)
    with contextlib.suppress(OSError):
        names = [n for n in os.listdir(directory) if n.startswith(prefix) and n.endswith(".tmp")
                 and len(n) == len(prefix) + 8 + 4]  # mkstemp adds 8 random characters
        for n in names:
            full = os.path.join(directory, n)
            with contextlib.suppress(OSError), open(full, "rb") as f:
                if _lock(f, blocking=False):
                    os.unlink(full)


@contextlib.contextmanager
def run_lock(path):
    """Hold an exclusive lock on checkpoint ``path`` for the duration of a run (``tinygrad-seq train``).

    The lock is a file ``.<name>.lock`` beside the checkpoint; a second run of the same checkpoint
    gets a ``CheckpointError`` at once instead of both runs overwriting each other's saves.
    The lock goes with the process, even when it is killed.
    """
    target = os.path.realpath(os.fspath(path))
    directory, base = os.path.split(target)
    lock_path = os.path.join(directory, _temp_prefix(base) + "lock")
    while True:
        try:
            f = open(lock_path, "a+b")
        except OSError as e:
            raise CheckpointError(f"cannot lock checkpoint {os.fspath(path)!r}: {e.strerror or e}") from None
        if not _lock(f, blocking=False):
            f.close()
            raise CheckpointError(f"checkpoint {os.fspath(path)!r} is in use by another run "
                                  f"(it holds the lock {lock_path!r}); wait for it to finish or stop it")
        try:  # the file may have been removed by the run that held it just before: lock the one on disk
            if os.fstat(f.fileno()).st_ino == os.stat(lock_path).st_ino:
                break
        except FileNotFoundError:
            pass
        f.close()
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        f.close()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX); not possible, nor needed, everywhere."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- nested values <-> arrays + JSON


def _encode(value, name, arrays):
    """Replace each array in a nested structure by ``{"__array__": name}`` and collect it in ``arrays``."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise CheckpointError(f"cannot save {name!r}: arrays of dtype {value.dtype} are not allowed in checkpoints")
        arrays[name] = value
        return {"__array__": name}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, (str, int, np.integer)):
                raise CheckpointError(f"cannot save {name!r}: keys must be strings or integers, got {k!r}")
            out[str(k)] = _encode(v, f"{name}/{k}", arrays)
        return out
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{name}/{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CheckpointError(f"cannot save {name!r}: values of type {type(value).__name__} are not allowed in checkpoints")


def _decode(value, arrays):
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        return {k: _decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


# --------------------------------------------------------------------------- the checkpoint


@dataclass
class Checkpoint:
    """What a checkpoint file holds, as loaded by ``load_checkpoint``.

    ``model``: parameter name -> array (a module's ``state_dict()``);
    ``optimizer``: an optimizer's ``state_dict()`` (or None) and ``optimizer_class`` its class name;
    ``vocab``: a ``Vocab`` or None; ``step``: training steps done; ``config``: a JSON-able dict
    describing the model and run; ``rng``: the state of a numpy Generator (or None);
    ``extra``: anything else saved (nested dicts of arrays, numbers, strings).
    """

    path: str
    model: dict
    optimizer: dict | None = None
    optimizer_class: str | None = None
    vocab: Vocab | None = None
    step: int = 0
    config: dict = field(default_factory=dict)
    rng: dict | None = None
    extra: dict = field(default_factory=dict)

    def check_config(self, expect: dict) -> None:
        """Raise ``CheckpointError`` listing every key of ``expect`` whose saved value differs."""
        diffs = []
        for k, want in expect.items():
            have = self.config.get(k, "<absent>")
            if _jsonable(have) != _jsonable(want):
                diffs.append(f"{k} {have!r} in the checkpoint, {want!r} here")
        if diffs:
            raise CheckpointError(f"checkpoint {self.path!r} was saved for another model or run: " + "; ".join(diffs))

    def restore(self, model=None, optimizer=None, rng=None, expect_config: dict | None = None,
                allow_nonfinite: bool = False) -> None:
        """Load the saved state into ``model``, ``optimizer`` and the numpy Generator ``rng``.

        ``expect_config`` (optional) is checked first.  Mismatched parameter names or
        shapes, weights that are not real numbers or (unless ``allow_nonfinite``) not
        finite, or an optimizer of another class, raise ``CheckpointError`` naming the
        entry, and leave the model, the optimizer and the generator as they were.
        """
        if expect_config:
            self.check_config(expect_config)
        if optimizer is not None:
            if self.optimizer is None:
                raise CheckpointError(f"checkpoint {self.path!r} holds no optimizer state")
            if self.optimizer_class != type(optimizer).__name__:
                raise CheckpointError(
                    f"checkpoint {self.path!r} was saved with optimizer {self.optimizer_class}, "
                    f"this run uses {type(optimizer).__name__}"
                )
        if rng is not None and self.rng is None:
            raise CheckpointError(f"checkpoint {self.path!r} holds no random-generator state")
        before = None if model is None else model.state_dict()
        opt_before = None if optimizer is None else optimizer.state_dict()
        try:
            if model is not None:
                try:
                    model.load_state_dict(self.model, allow_nonfinite=allow_nonfinite)
                except (KeyError, ValueError, TypeError) as e:
                    msg = e.args[0] if e.args else str(e)
                    raise CheckpointError(f"checkpoint {self.path!r} does not fit this model: {msg}") from None
            if optimizer is not None:
                try:
                    optimizer.load_state_dict(self.optimizer)
                except (KeyError, ValueError, TypeError, AttributeError, IndexError) as e:
                    raise CheckpointError(
                        f"checkpoint {self.path!r}: optimizer state does not fit: {_one_line(e)}"
                    ) from None
            if rng is not None:
                try:
                    rng.bit_generator.state = self.rng
                except (KeyError, ValueError, TypeError, OverflowError) as e:
                    raise CheckpointError(
                        f"checkpoint {self.path!r}: random-generator state is damaged ({_one_line(e)})"
                    ) from None
        except CheckpointError:
            if before is not None:  # all or nothing: a later part that does not fit undoes the model's load
                model.load_state_dict(before, allow_nonfinite=True)
            if opt_before is not None:
                optimizer.load_state_dict(opt_before)
            raise


def _jsonable(v):
    return json.loads(json.dumps(_encode(v, "config", {})))


def save_checkpoint(path, *, model=None, optimizer=None, vocab=None, step=0, config=None, rng=None, extra=None):
    """Write a checkpoint atomically (see the module docstring); returns nothing.

    model      a Module (its ``state_dict()`` is saved) or a dict of arrays
    optimizer  an Optimizer (its ``state_dict()`` and class name)
    vocab      a ``Vocab`` (saved as code points)
    step       the number of training steps done
    config     a JSON-able dict: what is needed to rebuild the model, and the run's settings
    rng        a numpy Generator whose state to save (e.g. ``tg.default_rng()``)
    extra      nested dicts of arrays, numbers and strings (e.g. a carried hidden state, a loss history)
    """
    state = model.state_dict() if hasattr(model, "state_dict") else (model or {})
    tree = {
        "step": int(step),
        "config": config or {},
        "model": dict(state),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "optimizer_class": None if optimizer is None else type(optimizer).__name__,
        "vocab": None if vocab is None else vocab.to_array(),
        "rng": None if rng is None else rng.bit_generator.state,
        "extra": extra or {},
    }
    arrays = {}
    encoded = {k: _encode(v, k, arrays) for k, v in tree.items()}
    header = json.dumps({"format": FORMAT, "version": VERSION, "tree": encoded})
    arrays[_HEADER] = np.array(header)
    atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **arrays))


# Every error a crafted file can provoke while it is parsed (zip directory, .npy headers, JSON, the tree):
# all of them mean "corrupt", none may escape as a traceback.
_PARSE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, IndexError, TypeError,
                 AttributeError, OverflowError, NotImplementedError, RuntimeError, SyntaxError, struct.error,
                 tokenize.TokenError)  # (numpy parses a .npy header with Python's tokenizer)
# np.savez stores members uncompressed; a member that inflates more than this is a zip bomb, not a model
MAX_INFLATION = 100
_SLACK = 1 << 16  # tiny members (a scalar, a short string) may compress well


def load_checkpoint(path, expect=None) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``; ``CheckpointError`` if it cannot be.

    Before any array is read, each member's declared size (its ``.npy`` header: shape and dtype)
    is checked against the bytes the zip actually holds, and no member may inflate more than
    ``MAX_INFLATION`` times: a damaged or hostile file is refused in one line, without first
    allocating the memory it asks for.

    ``expect`` (optional) is the model the weights are for: a Module, a ``{name: shape}`` dict,
    or a function of the checkpoint's ``config`` returning either (read first, from the small
    JSON header).  Every saved weight's declared shape is then checked against it, also before
    any array is read.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:  # our own handle: closed even when parsing gives up half way
            magic = f.read(6)
            if magic.startswith(b"\x93NUMPY"):
                raise CheckpointError(f"{name!r} is a single .npy array, not a tinygrad_seq checkpoint")
            if not magic.startswith(b"PK\x03\x04"):  # np.load would call it a pickle
                raise CheckpointError(f"checkpoint {name!r} is corrupt or not a .npz file (it does not start as a zip)")
            f.seek(0)
            arrays = _read_members(name, f, expect)
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {name!r} does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {name!r} is a directory") from None
    except PermissionError:
        raise CheckpointError(f"checkpoint {name!r} cannot be read: permission denied") from None
    except MemoryError:
        raise CheckpointError(f"checkpoint {name!r} is corrupt (a member does not fit in memory)") from None
    except _PARSE_ERRORS as e:
        raise CheckpointError(f"checkpoint {name!r} is corrupt or not a .npz file ({_one_line(e)})") from None
    try:
        header = arrays.pop(_HEADER)
        if header.dtype.kind != "U" or header.ndim != 0:
            raise CheckpointError(f"checkpoint {name!r} is damaged: its {_HEADER!r} entry is not a string")
        header = json.loads(str(header))
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise CheckpointError(f"{name!r} is not a tinygrad_seq checkpoint")
        if header.get("version") != VERSION:
            raise CheckpointError(
                f"checkpoint {name!r} has format version {header.get('version')!r}; "
                f"this library reads version {VERSION}"
            )
        for k, a in arrays.items():
            if a.dtype.kind not in "biuf":
                raise CheckpointError(f"checkpoint {name!r} is damaged: member {k!r} has dtype {a.dtype}, not numbers")
        tree = _decode(header["tree"], arrays)
        model = tree["model"]
        if not isinstance(model, dict) or not all(isinstance(v, np.ndarray) for v in model.values()):
            raise CheckpointError(f"checkpoint {name!r} is damaged: its model entry is not a dict of arrays")
        vocab = None if tree["vocab"] is None else Vocab.from_array(tree["vocab"])
        return Checkpoint(
            path=name, model=model, optimizer=tree["optimizer"], optimizer_class=tree["optimizer_class"],
            vocab=vocab, step=int(tree["step"]), config=tree["config"], rng=tree["rng"], extra=tree["extra"],
        )
    except CheckpointError:
        raise
    except (*_PARSE_ERRORS, UnicodeError) as e:
        raise CheckpointError(f"checkpoint {name!r} is damaged: its contents do not parse ({_one_line(e)})") from None


def _read_members(name, f, expect=None) -> dict:
    """Every ``.npy`` member of the zip in ``f`` by name (without ``.npy``), after checking its declared size
    (and, with ``expect``, each weight's declared shape: see ``load_checkpoint``)."""
    disk = os.fstat(f.fileno()).st_size
    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        if total > MAX_INFLATION * disk + (1 << 24):
            raise CheckpointError(
                f"checkpoint {name!r} is corrupt: its members declare {total:,} bytes, "
                f"{total / max(disk, 1):.0f} times the file's {disk:,}"
            )
        keys = {}
        for info in infos:
            key = info.filename[:-4] if info.filename.endswith(".npy") else None
            if key is None or key in keys:
                why = "is not a .npy array" if key is None else "appears twice"
                raise CheckpointError(f"checkpoint {name!r} is corrupt: member {info.filename!r} {why}")
            if info.file_size > MAX_INFLATION * info.compress_size + _SLACK:
                raise CheckpointError(
                    f"checkpoint {name!r} is corrupt: member {info.filename!r} inflates from "
                    f"{info.compress_size:,} to {info.file_size:,} bytes"
                )
            keys[key] = info
        if _HEADER not in keys:
            raise CheckpointError(f"{name!r} is not a tinygrad_seq checkpoint (no {_HEADER!r} entry)")
        shapes = {}
        for key, info in keys.items():
            with zf.open(info) as m:
                version = np.lib.format.read_magic(m)
                if version not in ((1, 0), (2, 0)):
                    raise CheckpointError(f"checkpoint {name!r} is corrupt: member {key!r} has .npy version {version}")
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read_header(m)
                if dtype.hasobject:
                    raise CheckpointError(f"checkpoint {name!r} is corrupt: member {key!r} holds Python objects")
                declared = math.prod(shape) * dtype.itemsize
                held = info.file_size - m.tell()
                if declared != held:
                    raise CheckpointError(
                        f"checkpoint {name!r} is corrupt: member {key!r} declares shape {shape} of {dtype} "
                        f"({declared:,} bytes) but holds {held:,} bytes"
                    )
                shapes[key] = shape
        # read for real, now that every size is known to be what the file holds: the JSON header first
        arrays = {_HEADER: _read_array(name, zf, _HEADER, keys[_HEADER])}
        if expect is not None:
            _check_expected_shapes(name, shapes, expect, arrays[_HEADER])
        for key, info in keys.items():
            if key != _HEADER:
                arrays[key] = _read_array(name, zf, key, info)
    return arrays


def _read_array(name, zf, key, info):
    with zf.open(info) as m:
        array = np.lib.format.read_array(m, allow_pickle=False)
        if m.read(1):
            raise CheckpointError(f"checkpoint {name!r} is corrupt: member {key!r} has trailing bytes")
    return array


def _check_expected_shapes(name, shapes, expect, header):
    """Refuse a saved weight whose declared shape is not the expected model's (``expect``: see load_checkpoint)."""
    if callable(expect) and not hasattr(expect, "state_dict"):
        try:
            config = json.loads(str(header))["tree"]["config"]
            expect = expect(config)
        except (KeyError, TypeError, ValueError):  # a config that does not describe a model: load_checkpoint's
            return  # own checks (and the caller's) say what is wrong with it
    if hasattr(expect, "state_dict"):
        expect = expect.state_dict()
    want = {k: tuple(v.shape) if hasattr(v, "shape") else tuple(v) for k, v in expect.items()}  # arrays or shapes
    for key, shape in shapes.items():
        if not key.startswith("model/"):
            continue
        param = key[len("model/"):]
        if param not in want:
            raise CheckpointError(f"checkpoint {name!r} does not fit this model: it has a weight {param!r} "
                                  "that the model does not")
        if tuple(shape) != want[param]:
            raise CheckpointError(f"checkpoint {name!r} does not fit this model: {param!r} is saved with shape "
                                  f"{tuple(shape)}, the model's is {want[param]}")


def _one_line(e) -> str:
    return f"{type(e).__name__}: {' '.join(str(e).split())}"[:300]


# --------------------------------------------------------------------------- tg.save and tg.load, as in PyTorch


def save(obj, f) -> None:
    """Save a state dict to a ``.npz`` file, as ``torch.save(model.state_dict(), f)``; read it back with ``load``.

    ``obj``: a model's or an optimizer's ``state_dict()``, or any nesting of dicts and lists of arrays,
    tensors (saved as their values), numbers and strings.  It is written as a checkpoint is (arrays and one
    JSON header, atomically, never a pickle), so ``f`` is a path.  A whole Module is refused: saving one
    would need pickle, whose files run code when loaded.
    """
    if hasattr(obj, "state_dict") and hasattr(obj, "parameters"):
        raise TypeError(f"save: a whole {type(obj).__name__} cannot be saved (that would need pickle, which runs "
                        "code when loaded); save its state dict: tg.save(model.state_dict(), path), then "
                        "model.load_state_dict(tg.load(path)) into a newly built model")
    save_checkpoint(f, extra={"saved": _values(obj)})


def load(f, map_location=None, weights_only=True):
    """What ``save`` wrote (tensors come back as numpy arrays, which ``load_state_dict`` takes).

    ``map_location`` may name the CPU, as in PyTorch code; ``weights_only`` is always the case here.
    """
    device(map_location)
    ckpt = load_checkpoint(f)
    if "saved" not in ckpt.extra:
        raise CheckpointError(f"{os.fspath(f)!r} is a training checkpoint, not written by save(); "
                              "read it with load_checkpoint")
    return ckpt.extra["saved"]


def _values(obj):
    """``obj`` with every Tensor replaced by (a copy of) its values."""
    if isinstance(obj, Tensor):
        return np.array(obj.data)
    if isinstance(obj, dict):
        return {k: _values(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_values(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return np.array(obj)  # (a plain copy: .data's view also answers to Tensor method names)
    if hasattr(obj, "detach") and hasattr(obj, "numpy"):  # a torch tensor
        return obj.detach().cpu().numpy()
    return obj
