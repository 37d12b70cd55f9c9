"""Small models whose graphs make the pictures of the lecture (used by the tutorial, tests and benchmark).

    python -m viz.examples docs/img        # re-render the README's pictures into docs/img

The vanilla RNN is written out by hand, in the lecture's notation, so that
every op of its graph is visible:

    a(t) = b + W h(t−1) + U x(t)        h(t) = tanh(a(t))
    o(t) = c + V h(t)                   L(t) = cross_entropy(o(t), y(t))        L = Σ_t L(t)
"""

from __future__ import annotations

import pathlib
import sys
import time

import numpy as np

import tinygrad_seq as tg
from tinygrad_seq import nn


class VanillaRNN(nn.Module):
    """The lecture's RNN, in its column vectors: U (H, D), W (H, H), b (H, 1), V (C, H), c (C, 1)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        s = 1 / np.sqrt(hidden_size)

        def uniform(*shape):  # U(−s, s) from the generator tg.manual_seed seeds
            return (2 * tg.rand(*shape, dtype=tg.float64).data - 1) * s

        self.U = nn.Parameter(uniform(hidden_size, input_size))
        self.W = nn.Parameter(uniform(hidden_size, hidden_size))
        self.b = nn.Parameter(np.zeros((hidden_size, 1)))
        self.V = nn.Parameter(uniform(output_size, hidden_size))
        self.c = nn.Parameter(np.zeros((output_size, 1)))
        self.hidden_size = hidden_size

    def forward(self, xs, ys, h0=None, start=1):
        """xs: (T, D) inputs, ys: (T,) integer targets, h0: (H, 1) or None (zeros).

        Returns (L, hs, h): the total loss, the hidden states h(start) … h(start + T − 1) and the last state.
        Step t runs in the scope ``t=<t>`` counted from 1, as on the slide; a later chunk of a long
        sequence (truncated BPTT) passes the number of its first step as ``start``.
        """
        if h0 is None:
            h0 = tg.zeros(self.hidden_size, 1, dtype=self.W.dtype)
            h0.name = f"h({start - 1})"
        h, losses, hs = h0, [], []
        for t in range(start, start + len(xs)):
            with tg.scope(f"t={t}"):
                x = tg.tensor(np.reshape(xs[t - start], (-1, 1)), dtype=self.U.dtype, name=f"x({t})")
                y = tg.tensor(np.asarray(ys[t - start]).reshape(1), name=f"y({t})")
                a = self.b + self.W @ h + self.U @ x
                a.name = f"a({t})"
                h = a.tanh()
                h.name = f"h({t})"
                o = self.c + self.V @ h
                o.name = f"o({t})"
                L_t = tg.functional.cross_entropy(o.reshape(1, -1), y, reduction="sum")
                L_t.name = f"L({t})"
            losses.append(L_t)
            hs.append(h)
        L = tg.stack(losses).sum()
        L.name = "L"
        return L, hs, h


def vanilla_rnn(T: int = 4, input_size: int = 3, hidden_size: int = 5, output_size: int = 3, seed: int = 0):
    """A 4-step unroll of the lecture's RNN on random data: returns (L, model, hs)."""
    tg.manual_seed(seed)
    model = VanillaRNN(input_size, hidden_size, output_size)
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((T, input_size))
    ys = rng.integers(0, output_size, T)
    L, hs, _ = model(xs, ys)
    return L, model, hs


def truncated_bptt(chunk: int = 3, chunks: int = 2, input_size: int = 3, hidden_size: int = 4, seed: int = 0):
    """The lecture's RNN on one sequence of chunk × chunks steps, trained by truncated BPTT.

    Each chunk starts from the last state of the one before, detached: ``h.detach()`` keeps the
    value and cuts the graph, so the gradient of a chunk's loss stops at its first step.
    Returns the chunks' losses [L (chunk 1), L (chunk 2), …]: draw them with
    ``viz.draw(losses, chunks=True)``.
    """
    tg.manual_seed(seed)
    model = VanillaRNN(input_size, hidden_size, input_size)
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((chunk * chunks, input_size))
    ys = rng.integers(0, input_size, chunk * chunks)
    losses, h = [], None
    for k in range(chunks):
        part = slice(k * chunk, (k + 1) * chunk)
        L, _, last = model(xs[part], ys[part], h0=h, start=k * chunk + 1)
        L.name = f"L (chunk {k + 1})"
        losses.append(L)
        h = last.detach()  # the next chunk starts from this value, and no gradient flows back through it
    return losses


def recurrent(kind: str = "lstm", T: int = 3, input_size: int = 3, hidden_size: int = 4, seed: int = 0,
              cell: str = "composite"):
    """nn.RNN, nn.LSTM or nn.GRU unrolled T steps with a linear readout and a summed loss: returns (L, model)."""
    layers = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
    tg.manual_seed(seed)
    model = layers[kind](input_size, hidden_size, cell=cell)
    readout = nn.Linear(hidden_size, 2)
    model.name_parameters(kind)
    readout.name_parameters("readout")
    rng = np.random.default_rng(seed)
    x = tg.tensor(rng.standard_normal((T, 1, input_size)).astype(np.float32), name="x")
    out, _ = model(x)
    L = (readout(out) ** 2).sum()
    L.name = "L"
    return L, model


def lstm(T: int = 3, input_size: int = 3, hidden_size: int = 4, seed: int = 0, cell: str = "composite"):
    """nn.LSTM unrolled T steps with a linear readout and a summed loss: returns (L, model)."""
    return recurrent("lstm", T, input_size, hidden_size, seed, cell)


def transformer(T: int = 4, d_model: int = 8, nhead: int = 2, seed: int = 0):
    """One nn.TransformerEncoderLayer over T tokens (dropout 0) and a summed loss: returns (L, layer)."""
    tg.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2 * d_model, dropout=0.0)
    layer.name_parameters("encoder")
    rng = np.random.default_rng(seed)
    x = tg.tensor(rng.standard_normal((T, 1, d_model)).astype(np.float32), name="x")
    L = (layer(x) ** 2).sum()
    L.name = "L"
    return L, layer


def seq2seq(S: int = 4, T: int = 3, vocab: int = 6, hidden: int = 5, seed: int = 0):
    """A GRU encoder, and a GRU-cell decoder that attends over the encoder states at every step.

    Scopes: ``encoder/l0/t=…`` for the encoder, ``decoder/t=…`` for each decoder step,
    with the attention inside (``decoder/t=2/attention/softmax``).  Returns (L, alignment (T, S)).
    """
    tg.manual_seed(seed)

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, hidden)
            self.encoder = nn.GRU(hidden, hidden, batch_first=True)
            self.cell = nn.GRUCell(2 * hidden, hidden)
            self.attention = nn.Attention("dot")
            self.readout = nn.Linear(2 * hidden, vocab)

        def forward(self, src, tgt):
            keys, h = self.encoder(self.embed(src))  # (1, S, H)
            s = h[0]
            prev = tg.zeros(1, hidden)  # the embedding of the start token: zeros
            losses, weights = [], []
            with tg.scope("decoder"):
                for t in range(1, tgt.shape[1] + 1):  # from 1, as the lecture numbers the steps
                    with tg.scope(f"t={t}"):
                        context, alpha = self.attention(s, keys)
                        s = self.cell(tg.cat([prev, context], -1), s)
                        s.name = "s"
                        o = self.readout(tg.cat([s, context], -1))
                        y = tg.tensor(tgt[:, t - 1])
                        L_t = tg.functional.cross_entropy(o, y, reduction="sum")
                        L_t.name = f"L({t})"
                        prev = self.embed(tgt[:, t - 1])
                    losses.append(L_t)
                    weights.append(alpha.data[0])
            L = tg.stack(losses).sum()
            L.name = "L"
            return L, np.stack(weights)

    model = Seq2Seq().name_parameters()
    rng = np.random.default_rng(seed)
    src = rng.integers(0, vocab, (1, S))
    tgt = rng.integers(0, vocab, (1, T))
    return model(src, tgt)


def gradient_flow_curves(T: int = 30, input_size: int = 4, hidden_size: int = 16, seed: int = 0) -> dict:
    """{'RNN' | 'LSTM' | 'GRU': (t, ‖∂L/∂h(t)‖)} for random nn.RNN, nn.LSTM, nn.GRU with a loss on the last step.

    The loss L = ‖o(T)‖² of a linear readout of h(T) only, so every ∂L/∂h(t)
    with t < T is carried back through the recurrence alone: its decay over
    T − t is the vanishing gradient.
    """
    from .plots import hidden_gradient_norms

    curves = {}
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, 1, input_size)).astype(np.float32)
    for name in ("RNN", "LSTM", "GRU"):
        tg.manual_seed(seed)
        model = getattr(nn, name)(input_size, hidden_size)
        readout = nn.Linear(hidden_size, 1)
        out, _ = model(tg.tensor(x))
        L = (readout(out[-1]) ** 2).sum()
        curves[name] = hidden_gradient_norms(L)
    return curves


# --------------------------------------------------------------------------- by name (tinygrad-seq render)

MODELS = ("rnn", "lstm", "gru", "seq2seq-attention", "transformer")


def build(name: str, steps: int):
    """The loss of the example ``name`` (one of MODELS) unrolled over ``steps`` time steps."""
    if name in ("rnn", "lstm", "gru"):
        return (vanilla_rnn(steps) if name == "rnn" else recurrent(name, steps))[0]
    if name == "seq2seq-attention":
        return seq2seq(S=steps + 1, T=steps)[0]
    if name == "transformer":
        return transformer(steps)[0]
    raise ValueError(f"viz.examples.build: unknown model {name!r}; choose from {', '.join(MODELS)}")


# --------------------------------------------------------------------------- the README's pictures


def readme_pictures(folder) -> dict:
    """Render the README's examples (SVG) into ``folder``; returns {file name: seconds}."""
    from .drawing import render

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = {
        "rnn_unrolled.svg": lambda: render(vanilla_rnn(4)[0], folder / "rnn_unrolled.svg"),
        "rnn_backward.svg": lambda: render(vanilla_rnn(4)[0], folder / "rnn_backward.svg", backward=True),
        "lstm_expanded.svg": lambda: render(lstm(3)[0], folder / "lstm_expanded.svg"),
        "lstm_collapsed.svg": lambda: render(lstm(3)[0], folder / "lstm_collapsed.svg", collapse="t=*"),
        "seq2seq_attention.svg": lambda: render(seq2seq()[0], folder / "seq2seq_attention.svg",
                                                 collapse=["*encoder*/t=*", "cell"]),
        "rnn_1000_steps.svg": lambda: render(vanilla_rnn(1000)[0], folder / "rnn_1000_steps.svg"),
        "rnn_truncated.svg": lambda: render(truncated_bptt(), folder / "rnn_truncated.svg", chunks=True),
        "rnn_truncated_backward.svg": lambda: render(truncated_bptt(), folder / "rnn_truncated_backward.svg",
                                                     chunks=True, backward=True),
    }
    times = {}
    for name, job in jobs.items():
        start = time.perf_counter()
        job()
        times[name] = time.perf_counter() - start
    return times


if __name__ == "__main__":
    for name, seconds in readme_pictures(sys.argv[1] if len(sys.argv) > 1 else "docs/img").items():
        print(f"{name:28s} {seconds:6.2f} s")
