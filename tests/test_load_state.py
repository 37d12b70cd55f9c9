"""Loading weights never leaves a silently bad model: load_state_dict and load_checkpoint cast as PyTorch does,
refuse what is not a real finite number with a one-line error naming the key, and change nothing when they refuse.

TGS_FUZZ=N runs the fuzz tests with N examples each (the default is small, for CI).
"""

import io
import os
import tracemalloc
import zipfile

import numpy as np
import pytest
from conftest import FAST
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_seq as tg
from tinygrad_seq import nn, optim
from tinygrad_seq.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

EXAMPLES = int(os.environ.get("TGS_FUZZ", 10 if FAST else 40))
KEYS = ["0.weight", "0.bias", "1.weight", "1.bias"]


def _model():
    return nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2))


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _one_line_naming(err, key):
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert repr(key) in msg, msg


# --------------------------------------------------------------------------- load_state_dict


def test_integers_and_doubles_are_cast_to_the_parameter_dtype_as_torch_does():
    torch = pytest.importorskip("torch")
    m, t = _model(), torch.nn.Linear(3, 2)
    sd = m.state_dict()
    sd["0.weight"] = np.arange(6, dtype=np.int64).reshape(2, 3)
    sd["0.bias"] = np.array([True, False])
    sd["1.weight"] = np.full((2, 2), 0.1, np.float64)
    m.load_state_dict(sd)
    t.load_state_dict({"weight": torch.arange(6).reshape(2, 3), "bias": torch.tensor([True, False])})
    assert all(p.dtype == np.float32 for p in m.parameters())  # before: int64 and bool parameters
    np.testing.assert_array_equal(m[0].weight.data, t.weight.detach().numpy())
    np.testing.assert_array_equal(m[0].bias.data, t.bias.detach().numpy())
    np.testing.assert_array_equal(m[1].weight.data, np.float32(0.1))


@pytest.mark.parametrize("value", [np.ones((2, 3), np.complex64), np.full((2, 3), "a"), np.full((2, 3), None),
                                   [[1, 2], [3]]], ids=["complex", "string", "object", "ragged"])
def test_non_numbers_are_refused_naming_the_key(value):
    m = _model()
    before = m.state_dict()
    sd = dict(before, **{"0.weight": value})
    with pytest.raises(TypeError, match="only real numbers|not an array of numbers") as err:
        m.load_state_dict(sd)
    _one_line_naming(err, "0.weight")
    _same(m.state_dict(), before)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_unless_asked_for(bad):
    m = _model()
    before = m.state_dict()
    sd = m.state_dict()
    sd["1.bias"][1] = bad
    with pytest.raises(ValueError, match="allow_nonfinite") as err:
        m.load_state_dict(sd)
    _one_line_naming(err, "1.bias")
    _same(m.state_dict(), before)
    m.load_state_dict(sd, allow_nonfinite=True)
    assert not np.isfinite(m[1].bias.data).all()


def test_a_double_that_overflows_float32_is_refused():
    m = _model()
    sd = m.state_dict()
    sd["0.bias"] = np.array([1e300, 0.0])
    with pytest.raises(ValueError, match="'0.bias' overflows float32"):
        m.load_state_dict(sd)


def test_a_loaded_array_is_copied():
    m = _model()
    sd = m.state_dict()
    m.load_state_dict(sd)
    sd["0.bias"][:] = 7
    assert not (m[0].bias.data == 7).any()


_DTYPES = ["float32", "float64", "float16", "int64", "int32", "uint8", "bool", "complex128", "str", "object"]


@st.composite
def _corrupted_state(draw):
    """A state dict of `_model()` with one entry changed: its dtype, its shape, a non-finite value, or its key."""
    sd = _model().state_dict()
    key = draw(st.sampled_from(KEYS))
    kind = draw(st.sampled_from(["dtype", "shape", "nonfinite", "missing", "extra"]))
    a = sd[key]
    if kind == "dtype":
        dtype = draw(st.sampled_from(_DTYPES))
        sd[key] = (a * 10).astype(dtype) if dtype not in ("str", "object") else a.astype(dtype)
    elif kind == "shape":
        shape = draw(st.lists(st.integers(0, 4), max_size=3).map(tuple).filter(lambda s: s != a.shape))
        sd[key] = np.zeros(shape, np.float32)
    elif kind == "nonfinite":
        a = a.astype(draw(st.sampled_from(["float32", "float64"])))
        a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        sd[key] = a
    elif kind == "missing":
        del sd[key]
    else:
        key = draw(st.sampled_from(["2.weight", "0.weight.x", "\x1b[31m"]))
        sd[key] = np.zeros(2)
    return sd, key, kind


@settings(max_examples=EXAMPLES)
@given(_corrupted_state())
def test_fuzz_load_state_dict_refuses_in_one_line_naming_the_key_or_loads_exactly(case):
    sd, key, kind = case
    m = _model()
    before = m.state_dict()
    try:
        m.load_state_dict(sd)
    except (TypeError, ValueError, KeyError) as e:
        msg = e.args[0]
        assert "\n" not in msg and repr(key) in msg, msg
        _same(m.state_dict(), before)
        return
    # accepted: only a real-number dtype of the right shape, and the model holds exactly its cast
    assert kind == "dtype" and np.dtype(sd[key].dtype).kind in "biuf", (kind, sd[key].dtype)
    assert all(p.dtype == np.float32 for p in m.parameters())
    np.testing.assert_array_equal(m.state_dict()[key], sd[key].astype(np.float32))


# --------------------------------------------------------------------------- load_checkpoint


def _saved(path):
    model = _model()
    opt = optim.Adam(model.parameters())
    model(tg.ones(4, 3)).sum().backward()
    opt.step()  # so that the optimizer has state to save
    save_checkpoint(path, model=model, optimizer=opt, step=1, config={"m": 1})
    return model


def _members(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _write_zip(path, members):
    """A zip of .npy members written by hand: headers can say anything."""
    with zipfile.ZipFile(path, "w") as zf:
        for k, data in members.items():
            if isinstance(data, np.ndarray):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, data, allow_pickle=False)
                data = buf.getvalue()
            zf.writestr(k + ".npy", data)


def _npy_claiming(shape, dtype="<f4", body=b"\0" * 16):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + body


def test_a_member_declaring_8_tib_is_corrupt_without_allocating(tmp_path):
    path = tmp_path / "c.npz"
    _saved(path)
    members = _members(path)
    members["model/0.weight"] = _npy_claiming((1 << 41,))  # 8 TiB of float32, 16 bytes held
    _write_zip(path, members)
    with pytest.raises(CheckpointError, match=r"corrupt: member 'model/0.weight' declares shape .* but holds 16"):
        load_checkpoint(path)


@pytest.mark.parametrize("expect", [_model, lambda: _model().state_dict(), lambda: lambda config: _model(),
                                    lambda: {k: v.shape for k, v in _model().state_dict().items()}],
                         ids=["module", "state-dict", "function-of-config", "shapes"])
def test_a_weight_larger_than_the_expected_model_is_refused_before_it_is_read(tmp_path, expect):
    path = tmp_path / "c.npz"
    _saved(path)
    members = _members(path)
    members["model/0.weight"] = np.random.default_rng(0).standard_normal((2, 30_000)).astype(np.float32)
    _write_zip(path, members)  # an honest file, of a model 10,000 times larger
    assert load_checkpoint(path).model["0.weight"].shape == (2, 30_000)  # without expect: read, refused later
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=r"'0.weight' is saved with shape \(2, 30000\), the model's is "
                                                  r"\(2, 3\)"):
            load_checkpoint(path, expect=expect())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100_000  # refused from its .npy header: the 240 kB array was never allocated


def test_a_weight_the_expected_model_lacks_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    _saved(path)
    with pytest.raises(CheckpointError, match=r"it has a weight '1.weight' that the model does not"):
        load_checkpoint(path, expect=nn.Sequential(nn.Linear(3, 2)))
    assert load_checkpoint(path, expect=_model()).model["0.weight"].shape == (2, 3)  # the right model loads


def test_a_char_lm_checkpoint_is_checked_against_the_model_its_config_describes(tmp_path):
    from tinygrad_seq.lm import CharLM, load_charlm
    model = CharLM(vocab_size=4, hidden_size=8)
    path = tmp_path / "lm.npz"
    save_checkpoint(path, model=model, vocab=tg.data.Vocab(list("abcd")), config={"charlm": model.config})
    members = _members(path)
    members["model/head.weight"] = np.zeros((4, 80_000), np.float32)  # the config says (4, 8)
    _write_zip(path, members)
    with pytest.raises(CheckpointError, match=r"'head.weight' is saved with shape \(4, 80000\), the model's is \(4, "):
        load_charlm(path)


def test_a_zip_bomb_is_refused_before_inflating(tmp_path):
    path = tmp_path / "bomb.npz"
    members = {"__checkpoint__": np.array("{}"), "model/0.weight": np.zeros(4_000_000, np.float32)}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for k, a in members.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, a)
            zf.writestr(k + ".npy", buf.getvalue())
    assert os.path.getsize(path) < 40_000  # 16 MB inflated from about 16 kB: 1000 times
    with pytest.raises(CheckpointError, match="corrupt: member 'model/0.weight.npy' inflates from"):
        load_checkpoint(path)


@pytest.mark.parametrize("header", [
    b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}     \n",                              # not a dtype
    b"\x93NUMPY\x01\x00\x10\x00" + b"\xff" * 16,                                   # not text
    b"\x93NUMPY\x09\x00\x10\x00" + b" " * 16,                                      # unknown version
    _npy_claiming((-1,)),                                                          # negative size
    _npy_claiming((2,), dtype="<V0"),                                              # empty void
    _npy_claiming((1 << 70,)),                                                     # overflows
    _npy_claiming((2,), dtype="O"),                                                # objects
    b"\x93NUMPY\x01\x00\x10\x00{'descr':'<f4','fortran_order':False,'shape':(" + b"(" * 50 + b"\n",
], ids=["not-a-dtype", "not-text", "version-9", "negative", "void0", "overflow", "objects", "unclosed"])
def test_crafted_npy_headers_are_checkpoint_errors(tmp_path, header):
    path = tmp_path / "c.npz"
    _saved(path)
    members = _members(path)
    members["model/0.bias"] = header
    _write_zip(path, members)
    with pytest.raises(CheckpointError, match="corrupt") as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("tree", ['[1]', '{"format": "tinygrad_seq checkpoint", "version": 1, "tree": []}',
                                  '{"format": "tinygrad_seq checkpoint", "version": 1, "tree": {"model": 5}}',
                                  '{"format": "tinygrad_seq checkpoint", "version": [], "tree": {}}',
                                  '{"format": "tinygrad_seq checkpoint", "version": 1, "tree": {"model": {}, '
                                  '"step": 1e999, "vocab": null, "optimizer": null, "optimizer_class": null, '
                                  '"config": {}, "rng": null, "extra": {}}}',
                                  '[' * 100_000], ids=["list", "tree-list", "model-int", "version-list",
                                                       "step-inf", "deep"])
def test_crafted_json_headers_are_checkpoint_errors(tmp_path, tree):
    path = tmp_path / "c.npz"
    _write_zip(path, {"__checkpoint__": np.array(tree)})
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value)


def test_restore_refuses_nan_weights_and_a_damaged_optimizer_leaving_everything_unchanged(tmp_path):
    path = tmp_path / "c.npz"
    _saved(path)
    members = _members(path)
    members["model/1.weight"][0, 0] = np.nan
    np.savez(path, **members)
    model = _model()
    opt = optim.Adam(model.parameters())
    before = model.state_dict()
    with pytest.raises(CheckpointError, match="'1.weight' holds NaN"):
        load_checkpoint(path).restore(model, opt)
    _same(model.state_dict(), before)

    members["model/1.weight"][0, 0] = 0  # a good model, but an optimizer state of the wrong shape
    members["optimizer/state/0/exp_avg"] = np.zeros(5, np.float32)
    np.savez(path, **members)
    with pytest.raises(CheckpointError, match="optimizer state does not fit"):
        load_checkpoint(path).restore(model, opt)
    _same(model.state_dict(), before)  # the model's load was undone


@st.composite
def _corruption(draw):
    kind = draw(st.sampled_from(["flip", "truncate", "dtype", "shape", "nonfinite", "header-shape"]))
    key = draw(st.sampled_from(KEYS))
    return kind, key, draw(st.integers(0, 10**9)), draw(st.sampled_from(_DTYPES[:-2] + ["U1"]))


@settings(max_examples=EXAMPLES)
@given(_corruption())
def test_fuzz_load_checkpoint_gives_a_one_line_checkpoint_error_and_an_unchanged_model(tmp_path_factory, case):
    kind, key, n, dtype = case
    path = tmp_path_factory.mktemp("fuzz") / "c.npz"
    saved = _saved(path).state_dict()
    members = _members(path)
    member = "model/" + key
    if kind == "flip":
        raw = bytearray(path.read_bytes())
        raw[n % len(raw)] ^= 1 << (n % 8)
        path.write_bytes(bytes(raw))
    elif kind == "truncate":
        path.write_bytes(path.read_bytes()[: n % os.path.getsize(path)])
    elif kind in ("dtype", "shape", "nonfinite"):
        a = members[member]
        if kind == "dtype":
            a = (a * 10).astype(dtype)
        elif kind == "shape":
            a = np.zeros((n % 5 + 3, 3), a.dtype)  # never the shape of a parameter here
        else:
            a = a.copy()
            a.flat[n % a.size] = [np.nan, np.inf, -np.inf][n % 3]
        members[member] = a
        _write_zip(path, members)
    else:
        members[member] = _npy_claiming((n % (1 << 40) + 5,), body=members[member].tobytes())
        _write_zip(path, members)
    model = _model()
    before = model.state_dict()
    try:
        load_checkpoint(path).restore(model, optim.Adam(model.parameters()))
    except CheckpointError as e:
        msg = str(e)
        assert "\n" not in msg, msg
        assert str(path) in msg, msg
        if kind in ("shape", "nonfinite", "header-shape") or (kind == "dtype" and dtype == "U1"):
            assert repr(key) in msg or repr(member) in msg, msg
        _same(model.state_dict(), before)
        return
    # loaded: only a byte flip that changed nothing checked (zip metadata), or a real-number cast
    assert kind in ("flip", "dtype"), kind
    expect = dict(saved)
    if kind == "dtype":
        expect[key] = members[member].astype(np.float32)
    _same(model.state_dict(), expect)
