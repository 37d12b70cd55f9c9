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
# Every picture goes through `viz.show(picture, path)`: it writes the file (into `viz_out/`) and, when the lesson
# runs as a notebook, shows the picture inline.  In Jupyter a graph also shows inline by itself: leave
# `viz.draw(loss)` as the last line of a cell (section 1 does).  The lesson runs as a script too
# (`python tutorials/viz_unrolled_graphs.py`), and checks with `assert` what it says about each picture.

# %%
import os
import pathlib

import numpy as np

import tinygrad_seq as tg
import viz
from tinygrad_seq import optim
from viz import examples, plots

FAST = os.environ.get("TGS_FAST") == "1"
SEED = int(os.environ.get("TGS_SEED", "0"))  # another seed draws other numbers: every assert below must still hold
OUT = pathlib.Path("viz_out")
OUT.mkdir(exist_ok=True)
RENDER = viz.find_renderer() is not None  # Graphviz's dot, or `pip install graphviz-pure`
print("layout engine:", viz.find_renderer() or "none: only DOT sources are written")


def save(graph_or_tensor, name, **options):
    """Write the graph as SVG and show it inline in a notebook; without a layout engine, write its DOT source."""
    if not RENDER:
        return viz.render(graph_or_tensor, OUT / f"{name}.dot", **options)
    return viz.show(graph_or_tensor, OUT / f"{name}.svg", **options)


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
L, model, hs = examples.vanilla_rnn(T=4, seed=SEED)
g = viz.draw(L)
print(save(g, "rnn_unrolled"))
graph = g.graph  # what was drawn, as data
(W,) = graph.find("W")
print("W is drawn once, with", len(graph.out_edges(W.id)), "edges: one into each step")
losses = sorted(n.title for n in graph.nodes.values() if n.kind == "loss")
print("losses summed into L:", losses)
frames = sorted({n.step[1] for n in graph.nodes.values() if n.step})
print("time-step frames:", frames)
assert frames == [1, 2, 3, 4], f"one frame per time step, got {frames}"
assert all(len(graph.find(p)) == 1 for p in "UWVbc"), "each parameter is drawn once"
assert sorted(graph.nodes[e.dst].step[1] for e in graph.out_edges(W.id)) == [1, 2, 3, 4], "W feeds every step"
assert losses == ["L", "L(1)", "L(2)", "L(3)", "L(4)"]
assert sum(e.cross_time for e in graph.edges) == 3, "the recurrence h(t−1) → step t crosses 3 step boundaries"

# %% [markdown]
# The same graph with each step collapsed to one box, shown inline by Jupyter because `viz.draw(...)` is the
# last line of the cell (as a script, this cell draws nothing):

# %%
viz.draw(L, collapse="t=*")

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
# itself (with `tg.grad`) while the graph is alive.  We run the same model on inputs
# of our own, so that we can hold the numbers on the picture against the lecture's
# BPTT formulas, written out in numpy in `tinygrad_seq.bptt.rnn` (with the batch along
# rows, so every weight is transposed: `bptt/notation.py`).

# %%
from tinygrad_seq.bptt import jacobian, rnn  # noqa: E402

rng = np.random.default_rng(SEED)
xs, ys = rng.standard_normal((4, 3)), rng.integers(0, 3, 4)
L, hs, _ = model(xs, ys)
print(save(L, "rnn_backward", backward=True))
nodes = viz.draw(L, backward=True).graph.nodes.values()
norms = {n.title: n.grad_norm for n in nodes if n.title.startswith("h(") and n.grad_norm is not None}  # h(0): no grad
print("‖∂L/∂h(t)‖ on the picture:   ", " ".join(f"{norms[f'h({t})']:.6f}" for t in range(1, 5)))

params = dict(U=model.U.data.T, W=model.W.data.T, b=model.b.data[:, 0], V=model.V.data.T, c=model.c.data[:, 0])
cache = rnn.rnn_forward(xs[:, None, :], ys[:, None], params)
by_hand = np.linalg.norm(rnn.rnn_backward(cache).dh[:, 0], axis=1)  # ∇h(t) L = W D(t+1) ∇h(t+1) L + V ∇o(t) L
print("‖∂L/∂h(t)‖ by the formulas:  ", " ".join(f"{n:.6f}" for n in by_hand))
assert np.isclose(cache.loss, L.item()), "the same loss"
assert np.allclose([norms[f"h({t})"] for t in range(1, 5)], by_hand, rtol=1e-6), "the picture disagrees with BPTT"

# %% [markdown]
# ## 3. An LSTM, expanded and collapsed
#
# `nn.LSTM` opens a scope per layer and step (`LSTM/l0/t=3`) and names its gates.
# Expanded, every gate is visible; `collapse="t=*"` draws each step as one box.
# Collapse also takes a depth (`collapse=2`), other patterns (`"*_gate"`), or a function.

# %%
L_lstm, lstm = examples.lstm(T=3, seed=SEED)
expanded, collapsed = viz.draw(L_lstm), viz.draw(L_lstm, collapse="t=*")
print(save(expanded, "lstm_expanded"))
print(save(collapsed, "lstm_collapsed"))
print("nodes expanded:", len(expanded.graph.nodes), " collapsed:", len(collapsed.graph.nodes))
gates = {n.title for n in expanded.graph.nodes.values() if n.title.endswith("_gate")}
boxes = sorted(n.path for n in collapsed.graph.nodes.values() if n.kind == "scope")
assert gates == {"input_gate", "forget_gate", "output_gate"}, f"the gates should be named nodes: {gates}"
assert boxes == ["LSTM/l0/t=1", "LSTM/l0/t=2", "LSTM/l0/t=3"], f"one box per step (drawn t = 1..3): {boxes}"
assert len(collapsed.graph.nodes) < len(expanded.graph.nodes) / 2

# %% [markdown]
# ## 4. A long unroll
#
# A graph over `max_nodes` (400) collapses its steps by itself, and a row of more
# than `max_steps` boxes keeps only the first and last few; a note on the picture
# says what was done.  So a 1,000-step unroll renders in about a second.

# %%
T_long = 200 if FAST else 1000
L_long, _, _ = examples.vanilla_rnn(T=T_long, seed=SEED)
g_long = viz.draw(L_long)
print(save(g_long, f"rnn_{T_long}_steps"))
print("\n".join(g_long.graph.notes))
drawn = sorted({n.step[1] for n in g_long.graph.nodes.values() if n.step and n.kind != "elided"})
print("steps drawn:", drawn)
assert drawn == [1, 2, 3, T_long - 2, T_long - 1, T_long], f"the first and last 3 steps: {drawn}"
assert g_long.graph.tensor_count > 400 and len(g_long.graph.nodes) < 50 and len(g_long.graph.notes) == 2

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
L_s2s, alignment = examples.seq2seq(S=4, T=3, seed=SEED)
g_s2s = viz.draw(L_s2s, collapse=["*encoder*/t=*", "cell"])
print(save(g_s2s, "seq2seq_attention"))
nodes = g_s2s.graph.nodes
for box in (n for n in nodes.values() if n.kind == "scope" and "encoder" in n.path):
    steps_fed = {nodes[e.dst].step[1] for e in g_s2s.graph.out_edges(box.id) if "decoder" in nodes[e.dst].step[0]}
    assert steps_fed == {1, 2, 3}, f"encoder step {box.title} should feed every decoder step, feeds {steps_fed}"
fig = plots.attention(alignment, source=["je", "suis", "là", "<eos>"], target=["I", "am", "here"])
viz.show(fig, OUT / "attention.png")
assert alignment.shape == (3, 4) and np.allclose(alignment.sum(1), 1), "each decoder step's α sums to 1"

# %% [markdown]
# ## 7. Vanishing gradients: ‖∂L/∂h(t)‖ over t
#
# A loss on the last step only.  Every ∂L/∂h(t) for t < T reaches step t
# through the recurrence alone.  For randomly initialised RNN, LSTM and GRU:

# %%
curves = examples.gradient_flow_curves(T=20 if FAST else 50, seed=SEED)
# the nn scopes count steps from 0, as PyTorch indexes; plots number them as the lecture and the graphs do
assert all(list(ts) == list(range(1, len(n) + 1)) for ts, n in curves.values()), "h(1) … h(T), as drawn"
fig = plots.gradient_flow(curves)
viz.show(fig, OUT / "gradient_flow.png")
for name, (_, n) in curves.items():
    print(f"{name:5s} ‖∂L/∂h(1)‖ / ‖∂L/∂h(T)‖ = {n[0] / n[-1]:.2e}")
    assert n[0] < 1e-2 * n[-1], f"{name}: the gradient should vanish over {len(n)} steps, ratio {n[0] / n[-1]:.1e}"

# %% [markdown]
# ## 8. Why: the Jacobian ∂h(T)/∂h(t) and its bound
#
# ∂h(T)/∂h(t) = ∏ D(k) Wᵀ with D(k) = diag(1 − h(k)²), so
# ‖∂h(T)/∂h(t)‖ ≤ ∏ σmax(D(k)) σmax(W).  `tinygrad_seq.bptt.jacobian` computes both.

# %%
rng = np.random.default_rng(SEED)
H, T = 8, 25
p = dict(U=rng.standard_normal((3, H)), W=jacobian.with_spectral_radius(H, 0.9, rng), b=np.zeros(H),
         V=np.zeros((H, 2)), c=np.zeros(2))
cache = rnn.rnn_forward(rng.standard_normal((T, 1, 3)), rng.integers(0, 2, (T, 1)), p)
j_norms, j_bound = jacobian.jacobian_norms(cache), jacobian.jacobian_bound(cache)
fig = plots.jacobian_norms(j_norms, j_bound)
viz.show(fig, OUT / "jacobian_bound.png")
print(f"‖∂h({T})/∂h(0)‖ = {j_norms[0]:.1e}, bound {j_bound[0]:.1e}")
assert np.all(j_norms <= j_bound * (1 + 1e-9)), "the norm never exceeds the bound"
assert j_bound[0] < 0.9**T * 1.01, "symmetric W, σmax(W) = ρ = 0.9 and tanh' ≤ 1: the bound itself vanishes"

# %% [markdown]
# ## 9. Eigenvalues of W and h(t) = (Wᵀ)ᵗ h(0)
#
# Without the nonlinearity, h(t) is multiplied by Wᵀ at every step: along each
# eigenvector by λᵗ.  Inside the unit circle it decays, outside it explodes.

# %%
fig = plots.spectral_radius(rhos=(0.8, 1.0, 1.2), seed=SEED)
viz.show(fig, OUT / "spectral_radius.png")
fig = plots.eigenvalues(p["W"])
viz.show(fig, OUT / "eigenvalues.png")
assert np.isclose(np.abs(np.linalg.eigvals(p["W"])).max(), 0.9), "the W of section 8 has spectral radius 0.9"

# %% [markdown]
# ## 10. LSTM gates over time, and a training curve
#
# The gates are named tensors in the graph; `plots.gate_values` reads them per step.
# Then a few steps of training the lecture's RNN to predict the next symbol of a
# repeating pattern, with its loss in bits per character.

# %%
L_gates, _ = examples.lstm(T=12, hidden_size=6, seed=SEED)
gate_values = plots.gate_values(L_gates)
fig = plots.gate_activations(gate_values)  # columns t = 1 … 12, as the graphs number the steps
viz.show(fig, OUT / "lstm_gates.png")
for name, values in gate_values.items():
    low, high = (-1, 1) if name == "cell_candidate" else (0, 1)  # tanh, the others sigmoids
    assert values.shape == (12, 6) and low < values.min() and values.max() < high, f"{name}: {values.shape}"

tg.manual_seed(SEED)
pattern = np.array([0, 1, 2, 1] * 4)
net = examples.VanillaRNN(3, 8, 3)
opt = optim.Adam(net.parameters(), lr=0.05)
xs = np.eye(3)[pattern[:-1]]
losses = []
for _ in range(40 if FAST else 150):
    loss, _, _ = net(xs, pattern[1:])
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item() / len(xs))  # mean nats per character
fig = plots.training_curves({"train": losses}, bits_per_character=True, smooth=5)
viz.show(fig, OUT / "training.png")
print(f"bits per character: {losses[0] / np.log(2):.2f} → {losses[-1] / np.log(2):.2f}")
assert losses[-1] / np.log(2) < 0.1 < losses[0], "the pattern is deterministic: the RNN should learn it almost exactly"
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
    assert [s["t"] for s in page.data["schedule"]] == sorted(ts, reverse=True), \
        "backward runs from the last step (the page and plots number steps from 1, as drawn)"
    assert bars[0] < 1e-2 * bars[-1], f"the gradient should vanish towards the first step: {bars[0] / bars[-1]:.1e}"
    assert "1 - z²" in page.data["rules"]["tanh"]["rule"], "the tanh rule is read from ops.py"

# %%
page  # noqa: B018 (a notebook shows the explorer here, inline)
