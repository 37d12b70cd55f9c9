# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Seeing backpropagation through time
#
# An RNN is a loop, but the computational graph that backpropagation walks is
# the loop *unrolled*: one copy of the cell per time step, all copies using the
# same weights.  This lesson draws that graph from a real model with `viz`, and
# then plots what the lecture plots about it: how gradients vanish over time,
# the bound that explains why, the eigenvalues of W, attention alignments and
# LSTM gates.
#
# Everything below runs as a script too (`python tutorials/viz_unrolled_graphs.py`);
# pictures are written to `viz_out/`.  In Jupyter, a graph shows inline: just
# leave `viz.draw(loss)` as the last line of a cell.

# %%
import os
import pathlib

import matplotlib

if "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")  # as a script, write files; Jupyter keeps its inline backend

import numpy as np

import tinygrad_seq as tg
import viz
from tinygrad_seq import optim
from viz import examples, plots

FAST = os.environ.get("TGS_FAST") == "1"
OUT = pathlib.Path("viz_out")
OUT.mkdir(exist_ok=True)
RENDER = viz.find_renderer() is not None  # Graphviz's dot, or `pip install graphviz-pure`
print("layout engine:", viz.find_renderer() or "none: only DOT sources are written")


def save(graph_or_tensor, name, **options):
    """SVG when a layout engine is installed, the DOT source otherwise."""
    path = OUT / (name + (".svg" if RENDER else ".dot"))
    return viz.render(graph_or_tensor, path, **options)


# %% [markdown]
# ## 1. The lecture's RNN, unrolled over 4 steps
#
# The vanilla RNN in the lecture's notation, with column vectors:
#
#     a(t) = b + W h(t−1) + U x(t),   h(t) = tanh(a(t)),   o(t) = c + V h(t),
#     L(t) = cross_entropy(o(t), y(t)),   L = Σ_t L(t)
#
# `examples.VanillaRNN` writes exactly this, each step inside `tg.scope(f"t={t}")`.
# The scopes become the frames `t = 1 … 4`; U, W, V, b, c are drawn **once**, with an
# edge into every step: that is weight sharing, and it is why BPTT *adds up*
# the gradient of W over the steps.

# %%
L, model, hs = examples.vanilla_rnn(T=4)
g = viz.draw(L)
print(save(L, "rnn_unrolled"))
graph = g.graph  # what was drawn, as data
(W,) = graph.find("W")
print("W is drawn once, with", len(graph.out_edges(W.id)), "edges: one into each step")
print("losses summed into L:", sorted(n.title for n in graph.nodes.values() if n.kind == "loss"))

# %% [markdown]
# The colours are the legend under the picture: orange boxes are parameters,
# green boxes named values (h(t), o(t), …), white boxes unnamed ops, red
# octagons the losses.  Blue arrows go sideways from h(t−1) into step t: the
# recurrence.  Ops that only move data (transposes, reshapes, stacking) are
# folded away; `viz.draw(L, fold=False)` shows them.

# %% [markdown]
# ## 2. The backward view
#
# `backward=True` reverses the arrows and labels each with ‖∂L/∂·‖ of the tensor
# it leaves; widths follow the log of the norm.  viz computes the gradients
# itself (with `tg.grad`) while the graph is alive.

# %%
print(save(L, "rnn_backward", backward=True))
nodes = viz.draw(L, backward=True).graph.nodes.values()
norms = {n.title: n.grad_norm for n in nodes if n.title.startswith("h(") and n.grad_norm is not None}  # h(0): no grad
print("‖∂L/∂h(t)‖:", {k: round(v, 4) for k, v in sorted(norms.items())})

# %% [markdown]
# ## 3. An LSTM, expanded and collapsed
#
# `nn.LSTM` opens a scope per layer and step (`LSTM/l0/t=3`) and names its gates.
# Expanded, every gate is visible; `collapse="t=*"` draws each step as one box.
# Collapse also takes a depth (`collapse=2`), other patterns (`"*_gate"`), or a function.

# %%
L_lstm, lstm = examples.lstm(T=3)
print(save(L_lstm, "lstm_expanded"))
print(save(L_lstm, "lstm_collapsed", collapse="t=*"))
print("nodes expanded:", len(viz.draw(L_lstm).graph.nodes),
      " collapsed:", len(viz.draw(L_lstm, collapse="t=*").graph.nodes))

# %% [markdown]
# ## 4. A long unroll
#
# A graph over `max_nodes` (400) collapses its steps by itself, and a row of more
# than `max_steps` boxes keeps only the first and last few; a note on the picture
# says what was done.  So a 1,000-step unroll renders in about a second.

# %%
T_long = 200 if FAST else 1000
L_long, _, _ = examples.vanilla_rnn(T=T_long)
print(save(L_long, f"rnn_{T_long}_steps"))
print("\n".join(viz.draw(L_long).graph.notes))

# %% [markdown]
# ## 5. Truncated BPTT: where `detach()` cuts
#
# Training on a long stream, one runs a chunk, detaches the last state and starts
# the next chunk from it.  `viz.draw([L1, L2], chunks=True)` draws the chunks side
# by side as the lecture does, the steps numbered on (t = 1 … 4, then 5 … 8), and
# the cut where it happens: h(4) ⊣ its detached copy, in a dashed frame.  In the
# backward view no red arrow crosses it: the gradient of chunk 2's loss stops there.

# %%
L_chunk1, _, h_last = model(np.random.default_rng(1).standard_normal((4, 3)), [0, 1, 2, 0])
h_cut = h_last.detach()
L_chunk2, _, _ = model(np.random.default_rng(2).standard_normal((4, 3)), [1, 0, 2, 1], h0=h_cut, start=5)
L_chunk1.name, L_chunk2.name = "L (chunk 1)", "L (chunk 2)"
print(save([L_chunk1, L_chunk2], "rnn_truncated", chunks=True))
print(save([L_chunk1, L_chunk2], "rnn_truncated_backward", chunks=True, backward=True))
chunked = viz.draw([L_chunk1, L_chunk2], chunks=True, backward=True).graph
(cut,) = [e for e in chunked.edges if e.cut]
assert chunked.nodes[cut.src].title == "h(4)" and chunked.nodes[cut.dst].kind == "detached", "the cut is after t = 4"
assert not any(e.carries_grad for e in chunked.edges if e.dst == cut.dst or e.src == cut.dst), \
    "no gradient flows through the detached state"

# %% [markdown]
# ## 6. Sequence to sequence with attention
#
# A GRU encoder reads 4 tokens; a decoder attends over all encoder states at
# each of its 3 steps.  With the encoder steps and the decoder's GRU cell
# collapsed, the attention is what remains visible: every encoder state feeds
# every decoder step's scores e, weights α and context c.

# %%
L_s2s, alignment = examples.seq2seq(S=4, T=3)
print(save(L_s2s, "seq2seq_attention", collapse=["*encoder*/t=*", "cell"]))
fig = plots.attention(alignment, source=["je", "suis", "là", "<eos>"], target=["I", "am", "here"])
fig.savefig(OUT / "attention.png", dpi=100)

# %% [markdown]
# ## 7. Vanishing gradients: ‖∂L/∂h(t)‖ over t
#
# A loss on the last step only.  Every ∂L/∂h(t) for t < T reaches step t
# through the recurrence alone.  For randomly initialised RNN, LSTM and GRU:

# %%
curves = examples.gradient_flow_curves(T=20 if FAST else 50)
fig = plots.gradient_flow(curves)
fig.savefig(OUT / "gradient_flow.png", dpi=100)
for name, (_, n) in curves.items():
    print(f"{name:5s} ‖∂L/∂h(0)‖ / ‖∂L/∂h(T)‖ = {n[0] / n[-1]:.2e}")

# %% [markdown]
# ## 8. Why: the Jacobian ∂h(T)/∂h(t) and its bound
#
# ∂h(T)/∂h(t) = ∏ D(k) Wᵀ with D(k) = diag(1 − h(k)²), so
# ‖∂h(T)/∂h(t)‖ ≤ ∏ σmax(D(k)) σmax(W).  `tinygrad_seq.bptt.jacobian` computes both.

# %%
from tinygrad_seq.bptt import jacobian, rnn  # noqa: E402

rng = np.random.default_rng(0)
H, T = 8, 25
p = dict(U=rng.standard_normal((3, H)), W=jacobian.with_spectral_radius(H, 0.9, rng), b=np.zeros(H),
         V=np.zeros((H, 2)), c=np.zeros(2))
cache = rnn.rnn_forward(rng.standard_normal((T, 1, 3)), rng.integers(0, 2, (T, 1)), p)
fig = plots.jacobian_norms(jacobian.jacobian_norms(cache), jacobian.jacobian_bound(cache))
fig.savefig(OUT / "jacobian_bound.png", dpi=100)

# %% [markdown]
# ## 9. Eigenvalues of W and h(t) = (Wᵀ)ᵗ h(0)
#
# Without the nonlinearity, h(t) is multiplied by Wᵀ at every step: along each
# eigenvector by λᵗ.  Inside the unit circle it decays, outside it explodes.

# %%
fig = plots.spectral_radius(rhos=(0.8, 1.0, 1.2))
fig.savefig(OUT / "spectral_radius.png", dpi=100)
fig = plots.eigenvalues(p["W"])
fig.savefig(OUT / "eigenvalues.png", dpi=100)

# %% [markdown]
# ## 10. LSTM gates over time, and a training curve
#
# The gates are named tensors in the graph; `plots.gate_values` reads them per step.
# Then a few steps of training the lecture's RNN to predict the next symbol of a
# repeating pattern, with its loss in bits per character.

# %%
L_gates, _ = examples.lstm(T=12, hidden_size=6)
fig = plots.gate_activations(plots.gate_values(L_gates))
fig.savefig(OUT / "lstm_gates.png", dpi=100)

tg.manual_seed(0)
pattern = np.array([0, 1, 2, 1] * 4)
net = examples.VanillaRNN(3, 8, 3)
opt = optim.Adam(net.parameters(), lr=0.05)
xs = np.eye(3)[pattern[:-1]]
losses = []
for _ in range(20 if FAST else 150):
    loss, _, _ = net(xs, pattern[1:])
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item() / len(xs))  # mean nats per character
fig = plots.training_curves({"train": losses}, bits_per_character=True, smooth=5)
fig.savefig(OUT / "training.png", dpi=100)
print(f"bits per character: {losses[0] / np.log(2):.2f} → {losses[-1] / np.log(2):.2f}")
print("written:", sorted(p.name for p in OUT.iterdir()))

# %% [markdown]
# ## 11. Exploring the graph in a browser
#
# A picture for a slide shows one view of the graph.  `viz.explore(loss, "file.html")` writes
# one page that holds the whole graph with its numbers: open it in any web browser (nothing is
# fetched, every script is inside the file), or see it below when this lesson runs as a notebook.
#
# * drag to pan, scroll to zoom; click a frame (a time step, the layer) to fold it into one box,
#   click the box to unfold it;
# * hover a node: its op, scope and shape, its value and its gradient ∂L/∂· (norms, first
#   values, a heatmap), and the derivative rule of its op as `tinygrad_seq/ops.py` writes it;
# * the slider at the bottom runs the backward pass from the loss back to the first step, one
#   step per notch, next to bars of ‖∇h(t) L‖: here the loss is on the **last** step only, so
#   the bars shrink by orders of magnitude towards the first step: the vanishing gradient,
#   step by step.

# %%
from tinygrad_seq import nn  # noqa: E402

T_explore = 20 if FAST else 30
tg.manual_seed(0)
rnn_x, readout_x = nn.RNN(4, 16), nn.Linear(16, 1)
x_explore = tg.tensor(np.random.default_rng(0).standard_normal((T_explore, 1, 4)).astype(np.float32), name="x")
out_x, _ = rnn_x(x_explore)
L_last = (readout_x(out_x[-1]) ** 2).sum()  # a loss on the last step only
L_last.name = "L(T)"
page = viz.explore(L_last, OUT / "rnn_explorer.html", title=f"an RNN over {T_explore} steps, loss on the last") \
    if RENDER else None
if page is not None:
    bars = [b["norm"] for b in page.data["bars"][0]["steps"]]
    ts, norms = plots.hidden_gradient_norms(L_last)
    print(f"wrote {page.path}: {len(page.graph.nodes)} nodes, {page.path.stat().st_size / 1e3:.0f} kB")
    print(f"‖∇h(t) L‖ at the first step / at the last = {bars[0] / bars[-1]:.1e}")
    assert np.allclose(bars, norms, rtol=1e-4), "the page's bars are ‖∂L/∂h(t)‖ as plots computes them"
    assert [s["t"] for s in page.data["schedule"]] == sorted(ts, reverse=True), "backward runs from the last step"
    assert bars[0] < 1e-2 * bars[-1], f"the gradient should vanish towards the first step: {bars[0] / bars[-1]:.1e}"
    assert "1 - z²" in page.data["rules"]["tanh"]["rule"], "the tanh rule is read from ops.py"

# %%
page  # noqa: B018 (a notebook shows the explorer here, inline)
