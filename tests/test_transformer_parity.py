"""Transformer layers, stacks and the whole Transformer against PyTorch: outputs and gradients, float64, 1e-10."""

import math

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")

RTOL = 1e-10
E, H, FF, S, T, N = 8, 2, 16, 5, 4, 3


def assert_close(ours, theirs, what=""):
    ours = ours.data if isinstance(ours, tg.Tensor) else np.asarray(ours)
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs {theirs.shape}"
    err = np.abs(ours - theirs).max()
    assert err <= RTOL * max(1.0, np.abs(theirs).max()), f"{what}: max abs error {err:.2e}"


def _pair(a):
    return tg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _load(ours, theirs):
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    return ours


def _backward_both(out, tout, seed):
    w = np.random.default_rng(seed).standard_normal(out.shape)
    (((out + 1) ** 2) * tg.tensor(w)).mean().backward()
    (((tout + 1) ** 2) * torch.tensor(w)).mean().backward()


def _compare_param_grads(ours, theirs):
    tparams = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, tparams[name].grad, f"grad {name}")


def _inputs(batch_first, seed=0):
    rng = np.random.default_rng(seed)
    shape = (lambda L: (N, L, E)) if batch_first else (lambda L: (L, N, E))
    kpm = rng.random((N, S)) < 0.3
    kpm[:, 0] = False
    return _pair(rng.standard_normal(shape(S))), _pair(rng.standard_normal(shape(T))), kpm


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer(float64, norm_first, activation, batch_first):
    kw = dict(dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    tlayer = torch.nn.TransformerEncoderLayer(E, H, FF, **kw).double()
    layer = _load(nn.TransformerEncoderLayer(E, H, FF, **kw), tlayer)
    (src, tsrc), _, kpm = _inputs(batch_first)
    smask = np.random.default_rng(5).standard_normal((S, S))
    out = layer(src, src_mask=smask, src_key_padding_mask=kpm)
    tout = tlayer(tsrc, src_mask=torch.tensor(smask), src_key_padding_mask=torch.tensor(kpm, dtype=torch.float64)
                  .masked_fill(torch.tensor(kpm), float("-inf")))
    assert_close(out, tout, "output")
    _backward_both(out, tout, 1)
    assert_close(src.grad, tsrc.grad, "grad src")
    _compare_param_grads(layer, tlayer)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer(float64, norm_first, activation, batch_first):
    kw = dict(dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    tlayer = torch.nn.TransformerDecoderLayer(E, H, FF, **kw).double()
    layer = _load(nn.TransformerDecoderLayer(E, H, FF, **kw), tlayer)
    (mem, tmem), (tgt, ttgt), kpm = _inputs(batch_first, seed=2)
    tgt_kpm = np.zeros((N, T), bool)
    tgt_kpm[1, -1] = True
    cm = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    out = layer(tgt, mem, tgt_mask=nn.Transformer.generate_square_subsequent_mask(T),
                tgt_key_padding_mask=tgt_kpm, memory_key_padding_mask=kpm)
    tout = tlayer(ttgt, tmem, tgt_mask=cm, tgt_key_padding_mask=torch.zeros(N, T, dtype=torch.float64)
                  .masked_fill(torch.tensor(tgt_kpm), float("-inf")),
                  memory_key_padding_mask=torch.tensor(kpm))
    assert_close(out, tout, "output")
    _backward_both(out, tout, 3)
    assert_close(tgt.grad, ttgt.grad, "grad tgt")
    assert_close(mem.grad, tmem.grad, "grad memory")
    _compare_param_grads(layer, tlayer)


@pytest.mark.parametrize("norm_first", [False, True])
def test_whole_transformer(float64, norm_first):
    torch.manual_seed(0)
    tmodel = torch.nn.Transformer(E, H, 2, 2, FF, dropout=0.0, norm_first=norm_first).double()
    model = _load(nn.Transformer(E, H, 2, 2, FF, dropout=0.0, norm_first=norm_first), tmodel)
    (src, tsrc), (tgt, ttgt), kpm = _inputs(False, seed=4)
    cm = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    out = model(src, tgt, tgt_mask=nn.Transformer.generate_square_subsequent_mask(T),
                src_key_padding_mask=kpm, memory_key_padding_mask=kpm)
    tout = tmodel(tsrc, ttgt, tgt_mask=cm, src_key_padding_mask=torch.tensor(kpm),
                  memory_key_padding_mask=torch.tensor(kpm))
    assert_close(out, tout, "output")
    _backward_both(out, tout, 5)
    assert_close(src.grad, tsrc.grad, "grad src")
    assert_close(tgt.grad, ttgt.grad, "grad tgt")
    _compare_param_grads(model, tmodel)


def test_encoder_stack_with_final_norm(float64):
    tenc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(E, H, FF, 0.0, batch_first=True), 3,
                                       norm=torch.nn.LayerNorm(E), enable_nested_tensor=False).double()
    enc = _load(nn.TransformerEncoder(nn.TransformerEncoderLayer(E, H, FF, 0.0, batch_first=True), 3,
                                      norm=nn.LayerNorm(E)), tenc)
    (src, tsrc), _, kpm = _inputs(True, seed=6)
    out = enc(src, src_key_padding_mask=kpm)
    tout = tenc(tsrc, src_key_padding_mask=torch.tensor(kpm))
    # PyTorch zeroes the outputs at padded positions only on its nested-tensor fast path; we never do
    assert_close(out, tout, "output")
    _backward_both(out, tout, 7)
    assert_close(src.grad, tsrc.grad, "grad src")
    _compare_param_grads(enc, tenc)


def test_sinusoidal_positional_encoding_matches_the_formula(float64):
    d, L = 6, 7
    pe = nn.PositionalEncoding(d, dropout=0.0, max_len=50)
    x = tg.zeros(L, 1, d)
    got = pe(x).data[:, 0]
    for pos in range(L):
        for i in range(d // 2):
            angle = pos / 10000 ** (2 * i / d)
            assert math.isclose(got[pos, 2 * i], math.sin(angle), abs_tol=1e-12)
            assert math.isclose(got[pos, 2 * i + 1], math.cos(angle), abs_tol=1e-12)
    pe_bf = nn.PositionalEncoding(d, dropout=0.0, batch_first=True)
    np.testing.assert_array_equal(pe_bf(tg.zeros(2, L, d)).data[1], got)


def test_gelu_matches_torch(float64):
    x = np.linspace(-6, 6, 41)
    from tinygrad_seq.nn.transformer import gelu

    for approximate in ("none", "tanh"):
        (a, ta) = _pair(x)
        out = gelu(a, approximate)
        tout = torch.nn.functional.gelu(ta, approximate=approximate)
        assert_close(out, tout, approximate)
        _backward_both(out, tout, 8)
        assert_close(a.grad, ta.grad, "grad " + approximate)
