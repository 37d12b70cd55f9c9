"""Backpropagation through time by hand, in plain numpy, checked against the engine's autodiff.

The lecture derives BPTT on paper; this package writes the derivation down in
the lecture's notation (U, W, V, b, c; h(t), o(t), ŷ(t)) and puts it next to
what the engine computes, per parameter, per time step and per gate.

    notation.py    the one mapping between U, W, V, b, c and nn.RNN's weight_ih_l0 ... + Linear
    unroll.py      readout, loss and the BPTT loop shared by every cell; Cache and Gradients
    rnn.py         the vanilla RNN, backward written out formula by formula
    lstm.py        the LSTM (i, f, g, o), with peephole and coupled-gate variants
    gru.py         the GRU (r, z, n)
    stacked.py     two (or more) stacked layers h⁽¹⁾, h⁽²⁾: BPTT through the stack, top layer first
    models.py      the same layers op by op on the engine (Recurrent) and RecurrentLM = layer + readout
    compare.py     compare(model, inputs, targets) and check_random(...) → a Report (table and data)
    truncated.py   truncated BPTT(k2; k1) in analytic form, windows as train.truncated_bptt
    rtrl.py        real-time recurrent learning (forward mode) and its cost against BPTT
    jacobian.py    ∂h(T)/∂h(t), norms, the bound ∏ σmax(D) σmax(W), eigenvalues, vanishing and exploding
    regularizer.py Pascanu et al.'s gradient-flow regularizer Ω, differentiable through create_graph

For ``tinygrad-seq check --model rnn|lstm|gru [--hidden N --steps T --seed S]``:

    report = bptt.check_random(model, hidden=N, steps=T, seed=S)
    print(report)                  # autodiff vs analytic vs finite differences, per step, gate and parameter
    exit_code = 0 if report.ok else 1

Quick start:

    >>> from tinygrad_seq import bptt
    >>> report = bptt.check_random("gru", hidden=4, steps=3)
    >>> report.ok, report.max_rel_error < 1e-12
    (True, True)
"""

from . import gru, jacobian, lstm, notation, regularizer, rnn, rtrl, stacked, truncated, unroll
from .compare import FDRow, Report, Row, check_random, compare
from .models import Recurrent, RecurrentLM
from .regularizer import gradient_flow_regularizer
from .rtrl import measure_cost
from .truncated import truncated_backward

__all__ = [
    "notation", "unroll", "rnn", "lstm", "gru", "stacked", "truncated", "rtrl", "jacobian", "regularizer",
    "Recurrent", "RecurrentLM", "compare", "check_random", "Report", "Row", "FDRow",
    "truncated_backward", "measure_cost", "gradient_flow_regularizer",
]
