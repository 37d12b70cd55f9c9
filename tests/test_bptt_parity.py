"""The analytic BPTT formulas against PyTorch's gradients for the same weights (float64, 1e-10 relative)."""

import numpy as np
import pytest

from tinygrad_seq.bptt import gru, lstm, notation, rnn, unroll

torch = pytest.importorskip("torch")

SIZES = [dict(T=5, N=3, D=4, H=6, C=5), dict(T=9, N=1, D=2, H=3, C=3)]


def rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else np.linalg.norm(a - b) / scale


def torch_layer(mode, D, H, nonlinearity="tanh"):
    if mode == "rnn":
        return torch.nn.RNN(D, H, nonlinearity=nonlinearity).double()
    return {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[mode](D, H).double()


def manual_unroll(mode, params, x, state0, nonlinearity="tanh", peephole=None, coupled=False):
    """The layer written with torch ops, keeping every h(t), c(t) and gate pre-activation (retain_grad)."""
    w_ih, w_hh, b_ih, b_hh = params
    H = w_hh.shape[1]
    state = state0
    kept = []
    for t in range(x.shape[0]):
        gx, gh = x[t] @ w_ih.T + b_ih, state[0] @ w_hh.T + b_hh
        if mode == "rnn":
            a = gx + gh
            h = torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a)
            step = dict(a=a, h=h)
            state = (h,)
        elif mode == "gru":
            a_r, a_z = gx[:, :H] + gh[:, :H], gx[:, H:2 * H] + gh[:, H:2 * H]
            r, z = torch.sigmoid(a_r), torch.sigmoid(a_z)
            a_n = gx[:, 2 * H:] + r * gh[:, 2 * H:]
            h = (1 - z) * torch.tanh(a_n) + z * state[0]
            step = dict(r=a_r, z=a_z, n=a_n, h=h)
            state = (h,)
        else:
            a = gx + gh
            c_prev = state[1]
            names = ("i", "g", "o") if coupled else ("i", "f", "g", "o")
            pre = {g: a[:, k * H:(k + 1) * H] for k, g in enumerate(names)}
            if peephole is not None:
                pre["i"] = pre["i"] + peephole["p_i"] * c_prev
                if not coupled:
                    pre["f"] = pre["f"] + peephole["p_f"] * c_prev
            i, g = torch.sigmoid(pre["i"]), torch.tanh(pre["g"])
            f = 1 - i if coupled else torch.sigmoid(pre["f"])
            c = f * c_prev + i * g
            if peephole is not None:
                pre["o"] = pre["o"] + peephole["p_o"] * c
            h = torch.sigmoid(pre["o"]) * torch.tanh(c)
            step = dict(pre, h=h, c=c)
            state = (h, c)
        for v in step.values():
            v.retain_grad()
        kept.append(step)
    return torch.stack([s["h"] for s in kept]), kept


@pytest.mark.parametrize("size", SIZES, ids=["T5N3", "T9N1"])
@pytest.mark.parametrize("mode,nonlinearity", [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")])
def test_analytic_equals_pytorch(mode, nonlinearity, size):
    T, N, D, H, C = (size[k] for k in "TNDHC")
    torch.manual_seed(0)
    layer, readout = torch_layer(mode, D, H, nonlinearity), torch.nn.Linear(H, C).double()
    with torch.no_grad():  # larger than PyTorch's init so the gates saturate unevenly
        for p in list(layer.parameters()) + list(readout.parameters()):
            p.normal_(0, 0.8)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((T, N, D)), rng.integers(0, C, (T, N))
    n_states = 2 if mode == "lstm" else 1
    state0 = [rng.standard_normal((N, H)) for _ in range(n_states)]

    # PyTorch's own layer: parameter gradients
    xt = torch.tensor(x)
    hx = tuple(torch.tensor(s[None]) for s in state0)
    out, _ = layer(xt, hx if mode == "lstm" else hx[0])
    loss = torch.nn.functional.cross_entropy(readout(out).reshape(-1, C), torch.tensor(y).reshape(-1), reduction="sum")
    loss.backward()

    # the same weights through the formulas
    kind = notation.kind_of(mode)
    rnn_state = {k: v.detach().numpy() for k, v in layer.named_parameters()}
    readout_state = {k: v.detach().numpy() for k, v in readout.named_parameters()}
    cell = {"rnn": rnn.cell(nonlinearity), "lstm": lstm.cell(), "gru": gru.cell()}[mode]
    cache = unroll.forward(cell, x, y, notation.from_pytorch(rnn_state, readout_state, kind), tuple(state0))
    grads = rnn.rnn_backward(cache) if mode == "rnn" else unroll.backward(cache)
    assert rel(cache.loss, loss.item()) < 1e-13
    g_rnn, g_readout = notation.to_pytorch(grads.params, kind)
    for k, p in layer.named_parameters():
        assert rel(g_rnn[k], p.grad.numpy()) < 1e-10, k
    for k, p in readout.named_parameters():
        assert rel(g_readout[k], p.grad.numpy()) < 1e-10, k

    # per step: torch ops unrolled by hand on the same weights (its parameter gradients must match nn's first)
    params = [torch.tensor(rnn_state[k], requires_grad=True) for k in ("weight_ih_l0", "weight_hh_l0",
                                                                           "bias_ih_l0", "bias_hh_l0")]
    s0 = tuple(torch.tensor(s, requires_grad=True) for s in state0)
    hs, kept = manual_unroll(mode, params, xt, s0, nonlinearity)
    logits = readout(hs)
    logits.retain_grad()
    readout.zero_grad()
    torch.nn.functional.cross_entropy(logits.reshape(-1, C), torch.tensor(y).reshape(-1), reduction="sum").backward()
    for k, p in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), params):
        assert rel(p.grad.numpy(), dict(layer.named_parameters())[k].grad.numpy()) < 1e-12, k
    assert rel(grads.do, logits.grad.numpy()) < 1e-10
    assert rel(grads.dh, np.stack([s["h"].grad.numpy() for s in kept])) < 1e-10
    for t in range(T):  # and step by step, so a small error at one t cannot hide in the norm over all t
        assert rel(grads.dh[t], kept[t]["h"].grad.numpy()) < 1e-10, t
    if mode == "lstm":
        assert rel(grads.dc, np.stack([s["c"].grad.numpy() for s in kept])) < 1e-10
    for g in notation.GATES[kind]:
        assert rel(grads.gates[g], np.stack([s[g].grad.numpy() for s in kept])) < 1e-10, g
    for a, b in zip(grads.dstate0, s0):
        assert rel(a, b.grad.numpy()) < 1e-10


@pytest.mark.parametrize("peephole,coupled", [(True, False), (False, True), (True, True)])
def test_lstm_variants_equal_pytorch_autograd(peephole, coupled):
    """Peephole and coupled LSTMs have no torch.nn module: torch's autograd on the written-out cell is the oracle."""
    T, N, D, H, C = 6, 2, 3, 4, 3
    rng = np.random.default_rng(2)
    G = 3 if coupled else 4
    p = dict(U=rng.standard_normal((D, G * H)) * 0.7, W=rng.standard_normal((H, G * H)) * 0.7,
             b=rng.standard_normal(G * H), V=rng.standard_normal((H, C)), c=rng.standard_normal(C))
    names = ("p_i", "p_o") if coupled else ("p_i", "p_f", "p_o")
    if peephole:
        p.update({k: rng.standard_normal(H) for k in names})
    x, y = rng.standard_normal((T, N, D)), rng.integers(0, C, (T, N))
    state0 = (rng.standard_normal((N, H)), rng.standard_normal((N, H)))
    grads = unroll.backward(unroll.forward(lstm.cell(peephole, coupled), x, y, p, state0))

    tp = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    zero = torch.zeros(G * H, dtype=torch.float64)
    s0 = tuple(torch.tensor(s) for s in state0)
    hs, kept = manual_unroll("lstm", (tp["U"].T, tp["W"].T, tp["b"], zero), torch.tensor(x), s0,
                             peephole={k: tp[k] for k in names} if peephole else None, coupled=coupled)
    logits = hs @ tp["V"] + tp["c"]
    torch.nn.functional.cross_entropy(logits.reshape(-1, C), torch.tensor(y).reshape(-1), reduction="sum").backward()
    for k in p:
        assert rel(grads.params[k], tp[k].grad.numpy()) < 1e-10, k
    assert rel(grads.dc, np.stack([s["c"].grad.numpy() for s in kept])) < 1e-10
    for g in ("i", "g", "o") if coupled else ("i", "f", "g", "o"):
        assert rel(grads.gates[g], np.stack([s[g].grad.numpy() for s in kept])) < 1e-10, g
