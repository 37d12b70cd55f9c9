"""Small strictness checks: one rule for attention masks, MultiheadAttention's dropout, Linear on a list."""

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import functional as F
from tinygrad_seq import nn


def _qkv():
    q = tg.randn(2, 3, 4)
    return q, q, q


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_an_integer_mask_is_refused_by_sdpa_and_by_multihead_attention_alike(dtype):
    mask = np.ones((3, 3), dtype)
    with pytest.raises(TypeError, match="scaled_dot_product_attention.*must be bool or float.*integer mask"):
        F.scaled_dot_product_attention(*_qkv(), attn_mask=mask)
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    with pytest.raises(TypeError, match="MultiheadAttention.*attn_mask must be bool or float.*integer mask"):
        mha(*_qkv(), attn_mask=mask)
    with pytest.raises(TypeError, match="key_padding_mask must be bool or float"):
        mha(*_qkv(), key_padding_mask=np.zeros((2, 3), dtype))


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_plus_inf_or_nan_in_a_float_mask_is_refused(bad):
    mask = np.zeros((3, 3), np.float32)
    mask[0, 1] = bad
    with pytest.raises(ValueError, match=r"attn_mask holds (\+inf|NaN).*use -inf"):
        F.scaled_dot_product_attention(*_qkv(), attn_mask=mask)
    with pytest.raises(ValueError, match=r"attn_mask holds (\+inf|NaN)"):
        nn.MultiheadAttention(4, 2, batch_first=True)(*_qkv(), attn_mask=mask)


def test_minus_inf_and_finite_float_masks_still_work_as_in_torch():
    torch = pytest.importorskip("torch")
    q = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    mask = np.array([[0, -np.inf, 0.5], [0, 0, -1], [-np.inf, 0, 0]], np.float32)
    ours = F.scaled_dot_product_attention(tg.tensor(q), tg.tensor(q), tg.tensor(q), attn_mask=mask).numpy()
    tq = torch.tensor(q)
    theirs = torch.nn.functional.scaled_dot_product_attention(tq, tq, tq, attn_mask=torch.tensor(mask)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p", [-1, 1.5, float("nan"), "0.1", True])
def test_multihead_attention_dropout_must_be_a_probability(p):
    with pytest.raises(ValueError, match="dropout must be a probability in \\[0, 1\\]"):
        nn.MultiheadAttention(4, 2, dropout=p)
    nn.MultiheadAttention(4, 2, dropout=np.float32(0.1))  # numpy numbers are numbers


def test_linear_given_a_list_says_to_make_a_tensor():
    lin = nn.Linear(3, 2)
    with pytest.raises(TypeError, match=r"Linear: input must be a Tensor of shape \(\.\.\., 3\), got list.*tg.tensor"):
        lin([1.0, 2.0, 3.0])
    np.testing.assert_allclose(lin(tg.tensor([1.0, 2.0, 3.0])).numpy(), lin(tg.tensor([[1.0, 2.0, 3.0]])).numpy()[0])


# --------------------------------------------------------------------------- viz


def test_a_name_made_only_of_control_characters_renders_with_its_escapes(tmp_path):
    viz = pytest.importorskip("viz")
    if viz.drawing.find_renderer() is None:
        pytest.skip("no Graphviz renderer")
    x = tg.ones(2, requires_grad=True)
    x.name = "\x01\x02"
    y = (x * 2).sum()
    y.name = "\x1b"
    text = viz.render(y, tmp_path / "g.svg").read_text()  # before: "syntax error in line 1"
    assert "\\x1b" in text and "\\x01\\x02" in text


def test_a_renderer_that_exits_0_without_output_is_an_error_and_writes_no_file(tmp_path, monkeypatch):
    viz = pytest.importorskip("viz")
    fake = tmp_path / "silent-dot"
    fake.write_text("#!/bin/sh\ncat > /dev/null\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("TGS_GRAPHVIZ", "silent-dot")
    with pytest.raises(RuntimeError, match="exited 0 but wrote nothing"):
        viz.render((tg.ones(2, requires_grad=True) * 2).sum(), tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()
