"""PyTorch programs that run on tinygrad_seq after changing only their import lines.

Each file in tests/ported/ is written once, against ``import torch``, ``torch.nn as nn``,
``torch.nn.functional as F`` and ``torch.optim as optim``, in the idioms of PyTorch's own
examples.  The test runs it twice: as it is, with PyTorch, and with those four lines
rewritten to import tinygrad_seq (nothing else in the file changes; the test checks that).
Both runs start from the same weights (PyTorch's initial state dict, copied into ours with
``nn.from_torch_state_dict``) and, in float64, must give the same losses step by step and the
same parameters after the last optimizer step.

A program file defines ``make_model()`` (a module, or a tuple of modules) and
``train(model)``, which returns the list of losses (floats) and anything else it wants
compared exactly (guessed labels, sampled text).
"""

import difflib
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import nn

torch = pytest.importorskip("torch")

PORTED = Path(__file__).parent / "ported"
PROGRAMS = sorted(p.stem for p in PORTED.glob("*.py"))

# the only lines that change: PyTorch's import lines and ours
SWAP = {
    "import torch": "import tinygrad_seq as torch",
    "import torch.nn as nn": "from tinygrad_seq import nn",
    "import torch.nn.functional as F": "from tinygrad_seq import functional as F",
    "import torch.optim as optim": "from tinygrad_seq import optim",
}


def source(name, ours):
    text = (PORTED / f"{name}.py").read_text()
    if not ours:
        return text
    return "".join(SWAP.get(line.rstrip("\n"), line.rstrip("\n")) + "\n" for line in text.splitlines(True))


def load(name, ours):
    """The program as a fresh module, importing PyTorch or (after the swap) tinygrad_seq."""
    module = types.ModuleType(f"ported_{name}_{'ours' if ours else 'torch'}")
    module.__file__ = str(PORTED / f"{name}.py")
    sys.modules[module.__name__] = module  # so that classes defined in it pickle, as a real module's do
    exec(compile(source(name, ours), module.__file__, "exec"), module.__dict__)
    return module


def as_tuple(model):
    return model if isinstance(model, tuple) else (model,)


@pytest.fixture
def both_float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    tg.set_default_dtype(np.float64)
    yield
    torch.set_default_dtype(old)
    tg.set_default_dtype(np.float32)


@pytest.mark.parametrize("name", PROGRAMS)
def test_only_the_import_lines_differ(name):
    theirs, ours = source(name, False).splitlines(), source(name, True).splitlines()
    changed = [line for line in difflib.unified_diff(theirs, ours, lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed, f"{name}: no import line was swapped"
    assert all(line[1:] in SWAP or line[1:] in SWAP.values() for line in changed), changed


@pytest.mark.parametrize("name", PROGRAMS)
def test_the_program_gives_pytorchs_numbers(name, both_float64):
    theirs_prog, ours_prog = load(name, False), load(name, True)
    torch.manual_seed(0)
    model_t, model_o = theirs_prog.make_model(), ours_prog.make_model()
    theirs, ours = as_tuple(model_t), as_tuple(model_o)
    for t, o in zip(theirs, ours, strict=True):
        o.load_state_dict(nn.from_torch_state_dict(t.state_dict()))

    (losses_t, *rest_t), (losses_o, *rest_o) = theirs_prog.train(model_t), ours_prog.train(model_o)

    assert len(losses_o) == len(losses_t) > 0
    assert all(isinstance(v, float) for v in losses_o), [type(v) for v in losses_o]
    np.testing.assert_allclose(losses_o, losses_t, rtol=0, atol=1e-10, err_msg=f"{name}: losses")
    assert len(set(np.round(losses_t, 6))) > 1, f"{name}: the loss never changed, so training compared nothing"
    assert rest_o == rest_t
    for t, o in zip(theirs, ours):
        want = t.state_dict()
        got = o.state_dict()
        assert list(got) == list(want), f"{name}: state-dict keys differ"
        for k in want:
            np.testing.assert_allclose(got[k], want[k].numpy(), rtol=0, atol=1e-10, err_msg=f"{name}: {k}")
