"""The one place where the lecture's names meet PyTorch's.

The lecture writes a vanilla RNN for one sequence with column vectors:

    a(t) = b + Wᵀ h(t−1) + Uᵀ x(t)          h(t) = tanh(a(t))
    o(t) = c + Vᵀ h(t)                       ŷ(t) = softmax(o(t))
    L = Σ_t L(t),   L(t) = −log ŷ_{y(t)}(t)

Everything in ``bptt`` computes a batch of N sequences at once, one sequence
per *row*.  Transposing the lecture's equation turns ``Uᵀ x`` into ``x U``, so
the same matrices appear, untransposed, in the batched code:

    a(t) = x(t) U + h(t−1) W + b           x(t): (N, D)   h(t): (N, H)
    o(t) = h(t) V + c                      o(t): (N, C)

with U: (D, H), W: (H, H), V: (H, C), b: (H,), c: (C,).  PyTorch's ``nn.RNN``
computes ``h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)`` and ``nn.Linear`` computes
``y = h weightᵀ + bias``, which gives the whole mapping:

    ====================  ===========================  ==========================
    lecture (bptt)        PyTorch                      shape
    ====================  ===========================  ==========================
    U                     weight_ih_l0ᵀ                (D, G·H)
    W                     weight_hh_l0ᵀ                (H, G·H)
    b                     bias_ih_l0 + bias_hh_l0      (G·H,)
    V                     readout.weightᵀ              (H, C)
    c                     readout.bias                 (C,)
    ====================  ===========================  ==========================

G is the number of gates stacked in the weight matrices, in PyTorch's order:
1 for the RNN, 4 for the LSTM (i, f, g, o), 3 for the GRU (r, z, n), 3 for the
LSTM with coupled gates (i, g, o; the forget gate is 1 − i).  Gate k owns the
columns ``k·H:(k+1)·H`` of U, W and b (the rows of PyTorch's matrices).

Two details the table cannot show:

* The GRU's candidate ``n = tanh(x U_n + b_in + r ⊙ (h W_n + b_hn))`` puts the
  reset gate between the two biases of the n block, so they cannot be added:
  there ``b``'s n block is ``bias_ih_l0`` alone and ``b_hn`` (H,) is the n block
  of ``bias_hh_l0``.
* Because b = b_ih + b_hh, ∂L/∂b_ih = ∂L/∂b_hh = ∂L/∂b: PyTorch's two bias
  vectors always receive the same gradient (except the GRU's n block).

Stacked layers (the lecture's h⁽¹⁾(t), h⁽²⁾(t), ``nn.RNN(num_layers=2)``): layer l reads
h⁽ˡ⁻¹⁾(t) (x(t) for l = 1) and PyTorch suffixes its weights ``_l{l−1}``:

    U⁽ˡ⁾ = weight_ih_l{l−1}ᵀ      W⁽ˡ⁾ = weight_hh_l{l−1}ᵀ      b⁽ˡ⁾ = bias_ih_l{l−1} + bias_hh_l{l−1}

The dicts of this package call them 'U1', 'W1', 'b1', 'U2', ... ; V and c read the top layer.

The LSTM with peephole connections (Gers & Schmidhuber 2000) has three more
vectors of shape (H,), p_i, p_f, p_o, called ``weight_peephole_i`` ... in the
PyTorch-style state dict (PyTorch itself has no peepholes).

The same derivation, one step at a time, is the backward rule of the fused
cells in ``tinygrad_seq.nn.fused`` (RNNStep, LSTMStep, GRUStep), which keep
PyTorch's layout (w_hh = Wᵀ); rnn.py, lstm.py and gru.py say, rule by rule,
which of their names is which of ours.
"""

from __future__ import annotations

import numpy as np

#: gate names in the order they are stacked in U, W, b (PyTorch's order)
GATES = {
    "rnn": ("a",),
    "lstm": ("i", "f", "g", "o"),
    "gru": ("r", "z", "n"),
    "lstm_coupled": ("i", "g", "o"),
}


def kind_of(mode: str, coupled: bool = False) -> str:
    """The key into ``GATES`` for a cell: 'rnn', 'lstm', 'gru' or 'lstm_coupled'."""
    mode = mode.lower()
    if mode not in ("rnn", "lstm", "gru"):
        raise ValueError(f"bptt: unknown recurrent cell {mode!r}; expected 'rnn', 'lstm' or 'gru'")
    if coupled and mode != "lstm":
        raise ValueError(f"bptt: coupled gates exist only for the LSTM, not for {mode!r}")
    return "lstm_coupled" if coupled else mode


def gate_slices(kind: str, hidden_size: int) -> dict:
    """``{gate: slice}`` of the columns of U, W, b (rows of weight_ih_l0 ...) that each gate owns."""
    H = hidden_size
    return {g: slice(k * H, (k + 1) * H) for k, g in enumerate(GATES[kind])}


PEEPHOLES = {"p_i": "weight_peephole_i", "p_f": "weight_peephole_f", "p_o": "weight_peephole_o"}


#: the names of one layer's parameters (b_hn for the GRU, p_i, p_f, p_o for peepholes)
LAYER_PARAMS = ("U", "W", "b", "b_hn", "p_i", "p_f", "p_o")


def num_layers_of(rnn: dict) -> int:
    """How many stacked layers a PyTorch-named state holds: the count of weight_ih_l0, weight_ih_l1, ..."""
    L = 0
    while f"weight_ih_l{L}" in rnn:
        L += 1
    return L


def layer_params(p: dict, layer: int) -> dict:
    """Layer ``layer``'s {'U', 'W', 'b' ...} out of a stacked dict ('U1', 'W1' ... for layer 1, counted from 1)."""
    return {n: p[f"{n}{layer}"] for n in LAYER_PARAMS if f"{n}{layer}" in p}


def stack_params(layers: list, readout: dict) -> dict:
    """[{'U', 'W', 'b'}, ...] and {'V', 'c'} → {'U1', 'W1', 'b1', 'U2', ..., 'V', 'c'}: the inverse of ``layer_params``.

    The key 'U1' is the lecture's U⁽¹⁾ (layer 1, PyTorch's weight_ih_l0ᵀ).
    """
    flat = {f"{n}{k + 1}": v for k, layer in enumerate(layers) for n, v in layer.items()}
    return flat | readout


def _layer_from_pytorch(rnn: dict, kind: str, k: int) -> dict:
    """{'U', 'W', 'b'} (+ 'b_hn', peepholes) of layer k (PyTorch's suffix _l{k}), float64 copies."""
    f64 = lambda a: np.array(a, dtype=np.float64)  # noqa: E731
    w_ih, w_hh = f64(rnn[f"weight_ih_l{k}"]), f64(rnn[f"weight_hh_l{k}"])
    GH, H = w_hh.shape
    if GH != len(GATES[kind]) * H:
        raise ValueError(
            f"bptt: weight_hh_l{k} of shape {w_hh.shape} does not fit a {kind} cell "
            f"({len(GATES[kind])} gates of hidden size {H})"
        )
    b_ih = f64(rnn.get(f"bias_ih_l{k}", np.zeros(GH)))
    b_hh = f64(rnn.get(f"bias_hh_l{k}", np.zeros(GH)))
    p = {"U": w_ih.T.copy(), "W": w_hh.T.copy()}
    if kind == "gru":
        n = gate_slices(kind, H)["n"]
        p["b"] = b_ih + np.concatenate([b_hh[: 2 * H], np.zeros(H)])
        p["b_hn"] = b_hh[n].copy()
    else:
        p["b"] = b_ih + b_hh
    if k == 0:
        for ours, theirs in PEEPHOLES.items():
            if theirs in rnn:
                p[ours] = f64(rnn[theirs])
    return p


def from_pytorch(rnn: dict, readout: dict, kind: str) -> dict:
    """Lecture parameters (float64 copies) from PyTorch-named arrays.

    rnn:     {'weight_ih_l0': (G·H, D), 'weight_hh_l0': (G·H, H), 'bias_ih_l0': (G·H,), 'bias_hh_l0': (G·H,),
              optionally 'weight_peephole_i' ...: (H,)}; missing biases mean bias=False.
    readout: {'weight': (C, H), 'bias': (C,)} of the output ``Linear``.
    Returns {'U', 'W', 'b', 'V', 'c'} (+ 'b_hn' for the GRU, + 'p_i', 'p_f', 'p_o' for peepholes).

    A stack of L layers (weight_ih_l0 … weight_ih_l{L−1}) gives the lecture's U⁽¹⁾ … U⁽ᴸ⁾ under the keys
    'U1', 'W1', 'b1', 'U2', 'W2', 'b2', …, then 'V', 'c': U⁽ˡ⁾ = weight_ih_l{l−1}ᵀ, of shape (H, G·H) for l > 1.
    """
    L = num_layers_of(rnn)
    if L == 0:
        raise ValueError(f"bptt: no weight_ih_l0 among the recurrent weights {sorted(rnn)}")
    V = np.array(readout["weight"], dtype=np.float64).T.copy()
    head = {"V": V, "c": np.array(readout.get("bias", np.zeros(V.shape[1])), dtype=np.float64)}
    if L == 1:
        return _layer_from_pytorch(rnn, kind, 0) | head
    return stack_params([_layer_from_pytorch(rnn, kind, k) for k in range(L)], head)


def _layer_to_pytorch(grads: dict, kind: str, bias: bool, k: int) -> dict:
    rnn = {f"weight_ih_l{k}": grads["U"].T, f"weight_hh_l{k}": grads["W"].T}
    if bias:
        rnn[f"bias_ih_l{k}"] = grads["b"]
        if kind == "gru":
            H = grads["W"].shape[0]
            rnn[f"bias_hh_l{k}"] = np.concatenate([grads["b"][: 2 * H], grads["b_hn"]])
        else:
            rnn[f"bias_hh_l{k}"] = grads["b"]
    for ours, theirs in PEEPHOLES.items():
        if ours in grads:
            rnn[theirs] = grads[ours]
    return rnn


def to_pytorch(grads: dict, kind: str, bias: bool = True) -> tuple[dict, dict]:
    """Gradients in lecture names back to PyTorch names: ``(rnn_grads, readout_grads)``.

    The inverse of ``from_pytorch`` for gradients: ∂L/∂weight_ih_l0 = (∂L/∂U)ᵀ,
    and both bias vectors receive ∂L/∂b (for the GRU's n block, bias_hh gets ∂L/∂b_hn).
    Stacked gradients ('U1', 'W1', …) go to weight_ih_l0, weight_hh_l0, …
    """
    readout = {"weight": grads["V"].T, "bias": grads["c"]}
    if "U" in grads:
        return _layer_to_pytorch(grads, kind, bias, 0), readout
    rnn, layer = {}, 1
    while f"U{layer}" in grads:
        rnn |= _layer_to_pytorch(layer_params(grads, layer), kind, bias, layer - 1)
        layer += 1
    return rnn, readout
