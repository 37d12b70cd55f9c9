"""Parity with PyTorch: RNN, LSTM, GRU and their cells give torch's outputs and every gradient (float64, 1e-10).

Weights are copied from the torch module's state_dict, so the parameter names and shapes are checked too.
The loss weights every output with a fixed random factor (plus a square), so a transposed or misrouted
gradient cannot hide behind a uniform upstream gradient.
"""

import itertools

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import nn

torch = pytest.importorskip("torch")

TOL = 1e-10
T, B, D, H = 5, 3, 4, 6

KINDS = {
    "RNN_tanh": (nn.RNN, torch.nn.RNN, {"nonlinearity": "tanh"}),
    "RNN_relu": (nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "LSTM": (nn.LSTM, torch.nn.LSTM, {}),
    "GRU": (nn.GRU, torch.nn.GRU, {}),
}
CELLS = {
    "RNNCell_tanh": (nn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "tanh"}),
    "RNNCell_relu": (nn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    "LSTMCell": (nn.LSTMCell, torch.nn.LSTMCell, {}),
    "GRUCell": (nn.GRUCell, torch.nn.GRUCell, {}),
}


def rel_err(ours, theirs):
    ours = ours.data if isinstance(ours, tg.Tensor) else np.asarray(ours)
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-300))


def weighted_loss(lib, tensors, rng):
    """Σ_k ((y_k + 1)² ⊙ w_k).sum(): every entry of every output gets its own upstream gradient."""
    total = 0
    for y in tensors:
        w = rng.standard_normal(tuple(y.shape))
        w = torch.tensor(w) if lib == "torch" else tg.tensor(w)
        total = total + (((y + 1) ** 2) * w).sum()
    return total


def flatten_states(h):
    return list(h) if isinstance(h, tuple) else [h]


def compare(ours_mod, torch_mod, x_np, states_np, call, *, pack_lengths=None):
    """Run both modules, backpropagate the same loss, return {what: relative error}."""
    xt = torch.tensor(x_np, requires_grad=True)
    st = [torch.tensor(s, requires_grad=True) for s in states_np]
    xo = tg.tensor(x_np, requires_grad=True)
    so = [tg.tensor(s, requires_grad=True) for s in states_np]
    out_t = call("torch", torch_mod, xt, st)
    out_o = call("ours", ours_mod, xo, so)
    errors = {f"output{k}": rel_err(o, t) for k, (o, t) in enumerate(zip(out_o, out_t))}
    weighted_loss("torch", out_t, np.random.default_rng(7)).backward()
    weighted_loss("ours", out_o, np.random.default_rng(7)).backward()
    errors["grad input"] = rel_err(xo.grad, xt.grad)
    for k, (a, b) in enumerate(zip(so, st)):
        errors[f"grad state{k}"] = rel_err(a.grad, b.grad)
    ours_params = dict(ours_mod.named_parameters())
    assert list(ours_params) == [n for n, _ in torch_mod.named_parameters()]  # same names, same order
    for name, p in torch_mod.named_parameters():
        errors[f"grad {name}"] = rel_err(ours_params[name].grad, p.grad)
    return errors


def make_pair(kinds, kind, cell, **kw):
    ours_cls, torch_cls, extra = kinds[kind]
    torch_mod = torch_cls(D, H, **extra, **kw).double()
    ours = ours_cls(D, H, **extra, **kw, cell=cell)
    ours.load_state_dict(torch_mod.state_dict())
    return ours, torch_mod


def run_unrolled(lib, mod, x, states):
    if lib == "torch" and isinstance(mod, torch.nn.LSTM) or lib == "ours" and isinstance(mod, nn.LSTM):
        out, (h, c) = mod(x, tuple(states) if states else None)
        return [out, h, c]
    out, h = mod(x, states[0] if states else None)
    return [out, h]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("cell", ["composite", "fused"])
def test_unrolled_layers_match_torch(kind, cell, float64):
    """1 and 2 layers, uni- and bidirectional, batch first or not, with and without initial states."""
    rng = np.random.default_rng(0)
    worst = 0.0
    for num_layers, bidirectional, batch_first, with_state in itertools.product((1, 2), (False, True), (False, True),
                                                                                (False, True)):
        torch.manual_seed(num_layers * 8 + bidirectional * 4 + batch_first * 2 + with_state)
        ours, theirs = make_pair(KINDS, kind, cell, num_layers=num_layers, bidirectional=bidirectional,
                                 batch_first=batch_first)
        x = rng.standard_normal((B, T, D) if batch_first else (T, B, D))
        n_states = 2 if kind == "LSTM" else 1
        states = [rng.standard_normal((num_layers * (1 + bidirectional), B, H)) for _ in range(n_states)]
        errors = compare(ours, theirs, x, states if with_state else [], run_unrolled)
        bad = {k: v for k, v in errors.items() if not v < TOL}
        assert not bad, f"{kind} layers={num_layers} bidirectional={bidirectional} batch_first={batch_first} " \
                        f"initial state={with_state}: {bad}"
        worst = max(worst, *errors.values())
    print(f"{kind} {cell}: max relative error {worst:.2e}")


@pytest.mark.parametrize("kind", ["RNN_tanh", "LSTM", "GRU"])
@pytest.mark.parametrize("cell", ["composite", "fused"])
def test_unbatched_input_matches_torch(kind, cell, float64):
    rng = np.random.default_rng(1)
    ours, theirs = make_pair(KINDS, kind, cell, num_layers=2, bidirectional=True)
    states = [rng.standard_normal((4, H)) for _ in range(2 if kind == "LSTM" else 1)]
    errors = compare(ours, theirs, rng.standard_normal((T, D)), states, run_unrolled)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("kind", ["RNN_tanh", "LSTM", "GRU"])
@pytest.mark.parametrize("cell", ["composite", "fused"])
def test_lengths_match_packed_sequences(kind, cell, float64):
    """``lengths=`` gives what torch gives for a PackedSequence: zero outputs past the end, h_n at the last step."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    rng = np.random.default_rng(2)
    lengths = [5, 2, 4]
    ours, theirs = make_pair(KINDS, kind, cell, num_layers=2, bidirectional=True)

    def call(lib, mod, x, states):
        hx = None if not states else (tuple(states) if kind == "LSTM" else states[0])
        if lib == "ours":
            out, h = mod(x, hx, lengths=lengths)
        else:
            packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
            out, h = mod(packed, hx)
            out = pad_packed_sequence(out, total_length=T)[0]
        return [out, *flatten_states(h)]

    n_states = 2 if kind == "LSTM" else 1
    errors = compare(ours, theirs, rng.standard_normal((T, B, D)), [rng.standard_normal((4, B, H))
                                                                     for _ in range(n_states)], call)
    assert max(errors.values()) < TOL, errors


def run_cell(lib, mod, x, states):
    if isinstance(mod, (torch.nn.LSTMCell, nn.LSTMCell)):
        h, c = mod(x, tuple(states) if states else None)
        return [h, c]
    return [mod(x, states[0] if states else None)]


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("cell", ["composite", "fused"])
def test_cells_match_torch(kind, cell, float64):
    rng = np.random.default_rng(3)
    worst = 0.0
    for batched, with_state, bias in itertools.product((True, False), (True, False), (True, False)):
        torch.manual_seed(batched * 4 + with_state * 2 + bias)
        ours, theirs = make_pair(CELLS, kind, cell, bias=bias)
        x = rng.standard_normal((B, D) if batched else (D,))
        states = [rng.standard_normal((B, H) if batched else (H,)) for _ in range(2 if kind == "LSTMCell" else 1)]
        errors = compare(ours, theirs, x, states if with_state else [], run_cell)
        assert max(errors.values()) < TOL, (batched, with_state, bias, errors)
        worst = max(worst, *errors.values())
    print(f"{kind} {cell}: max relative error {worst:.2e}")


def test_bias_false_and_parameter_shapes_match_torch(float64):
    for kind in KINDS:
        ours, theirs = make_pair(KINDS, kind, "composite", num_layers=2, bidirectional=True, bias=False)
        assert {k: v.shape for k, v in ours.state_dict().items()} == {
            k: tuple(v.shape) for k, v in theirs.state_dict().items()
        }
        rng = np.random.default_rng(4)
        errors = compare(ours, theirs, rng.standard_normal((T, B, D)), [], run_unrolled)
        assert max(errors.values()) < TOL, (kind, errors)
