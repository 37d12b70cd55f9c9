"""scaled_dot_product_attention and MultiheadAttention against PyTorch: outputs and gradients, float64, 1e-10."""

import numpy as np
import pytest

import tinygrad_seq as tg
import tinygrad_seq.functional as F
from tinygrad_seq import nn

torch = pytest.importorskip("torch")

RTOL = 1e-10


def assert_close(ours, theirs, what=""):
    ours = ours.data if isinstance(ours, tg.Tensor) else np.asarray(ours)
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs {theirs.shape}"
    err = np.abs(ours - theirs).max() if ours.size else 0.0
    assert err <= RTOL * max(1.0, np.abs(theirs).max()), f"{what}: max abs error {err:.2e}"


def _pair(a):
    return tg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _loss(out, w):
    """A non-uniform upstream gradient: ((out + 1)² · w).mean() with a fixed random w."""
    return (((out + 1) ** 2) * w).mean()


# --------------------------------------------------------------------------- scaled_dot_product_attention


SDPA_CASES = {
    "plain": {},
    "bool mask": dict(mask="bool"),
    "float mask": dict(mask="float"),
    "causal": dict(is_causal=True),
    "scale": dict(scale=0.3),
    "rows fully masked": dict(mask="dead"),
    "broadcast mask": dict(mask="batch"),
}


@pytest.mark.parametrize("case", sorted(SDPA_CASES))
def test_scaled_dot_product_attention(float64, case):
    kw = SDPA_CASES[case]
    rng = np.random.default_rng(0)
    B, H, L, S, E, Ev = 2, 3, 4, 6, 5, 7
    (q, tq), (k, tk), (v, tv) = (_pair(rng.standard_normal(s)) for s in [(B, H, L, E), (B, H, S, E), (B, H, S, Ev)])
    mask = tmask = None
    if kw.get("mask") in ("bool", "dead", "batch"):
        shape = (B, 1, L, S) if kw["mask"] == "batch" else (L, S)
        mask = rng.random(shape) < 0.6
        mask[..., 0] = True
        if kw["mask"] == "dead":
            mask[1] = False  # query 1 may look nowhere: PyTorch gives it a zero output
        tmask = torch.tensor(mask)
    elif kw.get("mask") == "float":
        mask = rng.standard_normal((L, S))
        mask[0, 2] = -np.inf
        tmask = torch.tensor(mask)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=kw.get("is_causal", False),
                                         scale=kw.get("scale"))
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tmask,
                                                            is_causal=kw.get("is_causal", False),
                                                            scale=kw.get("scale"))
    assert_close(out, tout, "output")
    w = rng.standard_normal(out.shape)
    _loss(out, tg.tensor(w)).backward()
    _loss(tout, torch.tensor(w)).backward()
    for ours, theirs, name in ((q, tq, "query"), (k, tk, "key"), (v, tv, "value")):
        assert_close(ours.grad, theirs.grad, f"grad {name}")


def test_scaled_dot_product_attention_unbatched_2d(float64):
    rng = np.random.default_rng(1)
    (q, tq), (k, tk), (v, tv) = (_pair(rng.standard_normal(s)) for s in [(3, 4), (5, 4), (5, 2)])
    out = F.scaled_dot_product_attention(q, k, v)
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv)
    assert_close(out, tout)


# --------------------------------------------------------------------------- MultiheadAttention

MHA_CASES = {
    "plain": {},
    "kdim vdim": dict(kdim=3, vdim=5),
    "bias kv, zero attn": dict(add_bias_kv=True, add_zero_attn=True),
    "no bias": dict(bias=False),
}


def _mha_run(kind, batch_first, need_weights, average, masks, seed=0):
    E, H, L, S, N = 8, 2, 4, 6, 3
    kw = MHA_CASES[kind]
    tmha = torch.nn.MultiheadAttention(E, H, batch_first=batch_first, **kw).double()
    mha = nn.MultiheadAttention(E, H, batch_first=batch_first, **kw)
    mha.load_state_dict(tmha.state_dict())
    rng = np.random.default_rng(seed)

    def shape(T, d):
        return (N, T, d) if batch_first else (T, N, d)

    (q, tq), (k, tk), (v, tv) = (
        _pair(rng.standard_normal(s)) for s in (shape(L, E), shape(S, kw.get("kdim", E)), shape(S, kw.get("vdim", E)))
    )
    args = {}
    if "kpm" in masks:
        kpm = rng.random((N, S)) < 0.4
        kpm[:, 0] = False
        args["key_padding_mask"] = kpm
    if "kpm_float" in masks:
        args["key_padding_mask"] = rng.standard_normal((N, S))
    if "attn" in masks:
        am = rng.random((L, S)) < 0.3
        am[:, 1] = False
        args["attn_mask"] = am
    if "attn_heads" in masks:
        args["attn_mask"] = rng.standard_normal((N * H, L, S))
    targs = {key: torch.tensor(val) for key, val in args.items()}
    out, w = mha(q, k, v, need_weights=need_weights, average_attn_weights=average, **args)
    tout, tw = tmha(tq, tk, tv, need_weights=need_weights, average_attn_weights=average, **targs)
    assert_close(out, tout, "attn_output")
    if need_weights:
        assert_close(w, tw, "attn_weights")
    else:
        assert w is None and tw is None
    g_out = rng.standard_normal(out.shape)
    loss = _loss(out, tg.tensor(g_out))
    tloss = _loss(tout, torch.tensor(g_out))
    if need_weights:
        g_w = rng.standard_normal(w.shape)
        loss = loss + (w * tg.tensor(g_w)).sum()
        tloss = tloss + (tw * torch.tensor(g_w)).sum()
    loss.backward()
    tloss.backward()
    for ours, theirs, name in ((q, tq, "query"), (k, tk, "key"), (v, tv, "value")):
        assert_close(ours.grad, theirs.grad, f"grad {name}")
    tparams = dict(tmha.named_parameters())
    assert sorted(tparams) == sorted(n for n, _ in mha.named_parameters())
    for name, p in mha.named_parameters():
        assert_close(p.grad, tparams[name].grad, f"grad {name}")


@pytest.mark.parametrize("kind", sorted(MHA_CASES))
@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_with_both_masks(float64, kind, batch_first):
    _mha_run(kind, batch_first, need_weights=True, average=True, masks=("kpm", "attn"))


@pytest.mark.parametrize("need_weights,average", [(False, True), (True, False)])
@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_need_weights_and_per_head(float64, need_weights, average, batch_first):
    _mha_run("plain", batch_first, need_weights, average, masks=("kpm",), seed=1)


@pytest.mark.parametrize("masks", [(), ("kpm_float",), ("attn_heads",), ("kpm_float", "attn_heads")])
def test_multihead_attention_float_and_per_head_masks(float64, masks):
    _mha_run("plain", True, True, False, masks=masks, seed=2)


def test_multihead_attention_unbatched_and_causal(float64):
    E, H, L = 6, 3, 5
    tmha = torch.nn.MultiheadAttention(E, H).double()
    mha = nn.MultiheadAttention(E, H)
    mha.load_state_dict(tmha.state_dict())
    rng = np.random.default_rng(3)
    x, tx = _pair(rng.standard_normal((L, E)))
    cm = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64)
    tout, tw = tmha(tx, tx, tx, attn_mask=cm, is_causal=True)
    out, w = mha(x, x, x, is_causal=True)  # here the mask may be left out
    assert_close(out, tout, "output")
    assert_close(w, tw, "weights")
    g = rng.standard_normal(out.shape)
    _loss(out, tg.tensor(g)).backward()
    _loss(tout, torch.tensor(g)).backward()
    assert_close(x.grad, tx.grad, "grad x")


def test_multihead_attention_float32_matches_too():
    tmha = torch.nn.MultiheadAttention(8, 4, batch_first=True)
    mha = nn.MultiheadAttention(8, 4, batch_first=True)
    mha.load_state_dict(tmha.state_dict())
    x = np.random.default_rng(4).standard_normal((2, 5, 8)).astype(np.float32)
    out, _ = mha(tg.tensor(x), tg.tensor(x), tg.tensor(x))
    tout, _ = tmha(*(torch.tensor(x),) * 3)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=1e-5)
