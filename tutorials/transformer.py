# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The Transformer, piece by piece
#
# The Transformer (Vaswani et al. 2017) keeps attention and drops the recurrence. Every position of a
# sequence looks at every other one in one step, so nothing has to survive a long chain of time steps, and
# all positions are computed at once. This lesson builds it from its parts and checks each part against
# the library:
#
# 1. scaled dot-product attention written by hand, and why it divides by √d;
# 2. multi-head attention by hand, against `nn.MultiheadAttention`;
# 3. positional encodings: why a model without them cannot tell order, and the sinusoids' rotation property;
# 4. the encoder layer's two sub-layers and the decoder layer's three, each with its residual connection
#    and layer norm, rebuilt by hand and drawn;
# 5. the causal mask: a decoder position gets exactly zero weight on the future;
# 6. a small Transformer trained on the task the recurrent models of `attention.py` learn (reversing digit
#    strings), against a GRU encoder–decoder with and without attention, on the same budget;
# 7. what its learning rate schedule does, and the alignment its cross-attention finds.
#
# Know first: the attention lesson (`tutorials/attention.py`: scores, softmax weights, context vectors,
# masks) and the engine's basics (`tutorials/autograd_from_scratch.py`).
#
# Run it as a script (`python tutorials/transformer.py`, about a minute; `TGS_FAST=1` for a quick pass on
# shorter strings) or open it as a notebook with jupytext. Figures go to `transformer_out/`.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only get in each other's way

import math  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import tinygrad_seq as tg  # noqa: E402
import viz  # noqa: E402
from tinygrad_seq import functional as F  # noqa: E402
from tinygrad_seq import nn  # noqa: E402
from tinygrad_seq.nn.attention import causal_mask  # noqa: E402
from tinygrad_seq.nn.seq2seq_attention import AttentionSeq2Seq, TransformerSeq2Seq  # noqa: E402
from tinygrad_seq.tasks import ReverseTask, Seq2SeqData, alignment_accuracy  # noqa: E402
from tinygrad_seq.translation import evaluate_translation, train_translation  # noqa: E402
from viz import plots  # noqa: E402

FAST = os.environ.get("TGS_FAST") == "1"
OUT = pathlib.Path("transformer_out")
OUT.mkdir(exist_ok=True)
np.set_printoptions(precision=3, suppress=True, linewidth=120)
START = time.perf_counter()
tg.set_default_dtype(np.float64)  # sections 1-5 compare formulas to round-off; training (section 6) is float32
tg.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Scaled dot-product attention
#
# Queries Q (L × d), keys K (S × d) and values V (S × d_v). Every query is scored against every key at once,
# the scores of each query become weights by a softmax, and the output is the weighted average of the values:
#
#     Attention(Q, K, V) = softmax(Q Kᵀ / √d) V
#
# Row t of softmax(Q Kᵀ / √d) is the lecture's α(t, ·); the only new thing is the factor 1/√d. Here it is
# in four lines of the engine's ops, checked against `F.scaled_dot_product_attention`, outputs and gradients.

# %%
def attention_by_hand(Q, K, V, mask=None):
    """softmax(Q Kᵀ / √d) V for Q (..., L, d), K (..., S, d), V (..., S, d_v); mask (L, S) True = hidden."""
    scores = (Q @ K.transpose(-1, -2)) / math.sqrt(Q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, -np.inf)  # exp(−∞) = 0: a hidden key gets no weight at all
    weights = scores.softmax(-1)
    return weights @ V, weights


Q = tg.randn(2, 5, 8, requires_grad=True)
K = tg.randn(2, 7, 8, requires_grad=True)
V = tg.randn(2, 7, 3, requires_grad=True)
upstream = tg.randn(2, 5, 3)  # a non-uniform upstream gradient: a plain sum would hide a transposed rule

ours, _ = attention_by_hand(Q, K, V)
(ours * upstream).sum().backward()
grads_ours = [t.grad.data.copy() for t in (Q, K, V)]
for t in (Q, K, V):
    t.grad = None
library = F.scaled_dot_product_attention(Q, K, V)
(library * upstream).sum().backward()
gap_out = np.abs(ours.data - library.data).max()
gap_grad = max(np.abs(g - t.grad.data).max() for g, t in zip(grads_ours, (Q, K, V)))
print(f"by hand vs F.scaled_dot_product_attention: outputs differ by {gap_out:.1e}, gradients by {gap_grad:.1e}")
assert gap_out < 1e-12 and gap_grad < 1e-12, f"attention by hand disagrees: {gap_out:.1e}, {gap_grad:.1e}"

# %% [markdown]
# **Why √d.** With query and key entries of mean 0 and variance 1, qᵀk is a sum of d products of variance 1:
# its standard deviation is √d. For d = 512 the raw scores spread over ±50, the softmax puts almost all its
# weight on one key, and its Jacobian diag(α) − ααᵀ, through which every gradient to Q and K must pass,
# is nearly zero. Dividing by √d brings the scores back to variance 1 whatever d is.

# %%
print(f"{'d':>4} {'std raw':>8} {'std scaled':>10} {'max α raw':>10} {'max α scaled':>12} "
      f"{'‖J‖ raw':>8} {'‖J‖ scaled':>10}")
spread = {}
for d in (4, 64, 512):
    q, k = rng.standard_normal((2000, 1, d)), rng.standard_normal((2000, 10, d))
    raw = (q @ k.transpose(0, 2, 1))[:, 0]  # (2000, 10): one query against 10 keys, 2000 times
    row = {}
    for name, e in (("raw", raw), ("scaled", raw / math.sqrt(d))):
        a = tg.tensor(e).softmax(-1).data
        jac = a[:, :, None] * np.eye(10) - a[:, :, None] * a[:, None, :]  # ∂α/∂e = diag(α) − ααᵀ
        row[name] = (e.std(), a.max(-1).mean(), np.linalg.norm(jac, axis=(1, 2)).mean())
    spread[d] = row
    print(f"{d:>4} {row['raw'][0]:>8.2f} {row['scaled'][0]:>10.2f} {row['raw'][1]:>10.2f} {row['scaled'][1]:>12.2f} "
          f"{row['raw'][2]:>8.3f} {row['scaled'][2]:>10.3f}")
for d, row in spread.items():
    assert abs(row["raw"][0] / math.sqrt(d) - 1) < 0.1 and abs(row["scaled"][0] - 1) < 0.1, f"d={d}: {row}"
assert spread[512]["raw"][1] > 0.9 > 0.5 > spread[512]["scaled"][1], f"saturation at d=512: {spread[512]}"
assert spread[512]["raw"][2] < spread[512]["scaled"][2] / 4, f"softmax Jacobian at d=512: {spread[512]}"

# %% [markdown]
# ## 2. Multi-head attention
#
# One attention averages everything it looks at with one set of weights. Multi-head attention runs h of
# them side by side, each on its own learned projection of d = E / h dimensions, and mixes the results:
#
#     head_j = Attention(X W_q,jᵀ, X W_k,jᵀ, X W_v,jᵀ),     MultiHead(X) = [head_1, …, head_h] W_oᵀ + b_o
#
# `nn.MultiheadAttention` stores the three projections stacked in `in_proj_weight` (3E × E), as PyTorch does.
# Slicing them apart and calling our `attention_by_hand` once per head must give its output.

# %%
E, H = 8, 2
mha = nn.MultiheadAttention(E, H, batch_first=True)
X = tg.randn(2, 5, E)
out, per_head = mha(X, X, X, average_attn_weights=False)

W_q, W_k, W_v = (mha.in_proj_weight[j * E:(j + 1) * E] for j in range(3))
b_q, b_k, b_v = (mha.in_proj_bias[j * E:(j + 1) * E] for j in range(3))
d = E // H
heads, head_weights = [], []
for j in range(H):
    cols = slice(j * d, (j + 1) * d)  # head j owns d consecutive features of each projection
    q = X @ W_q[cols].T + b_q[cols]
    k = X @ W_k[cols].T + b_k[cols]
    v = X @ W_v[cols].T + b_v[cols]
    h, w = attention_by_hand(q, k, v)
    heads.append(h)
    head_weights.append(w.data)
by_hand = tg.cat(heads, -1) @ mha.out_proj.weight.T + mha.out_proj.bias
gap = np.abs(by_hand.data - out.data).max()
gap_w = np.abs(np.stack(head_weights, 1) - per_head.data).max()
print(f"{H} heads by hand vs nn.MultiheadAttention: outputs differ by {gap:.1e}, weights by {gap_w:.1e}")
print("parameters:", {name: p.shape for name, p in mha.named_parameters()})
assert gap < 1e-12 and gap_w < 1e-12, f"multi-head attention by hand disagrees: {gap:.1e}, {gap_w:.1e}"

# %% [markdown]
# ## 3. Positional encodings
#
# Attention treats its keys as a *set*. Permute the tokens of a sentence, and an encoder layer without
# positions returns the same vectors, permuted: it cannot tell "dog bites man" from "man bites dog".

# %%
encoder_layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0)
x = tg.randn(6, 1, 16)  # (S, N, E): sequence first, as PyTorch's default
perm = np.array([3, 0, 5, 1, 4, 2])
with tg.no_grad():
    gap_plain = np.abs(encoder_layer(x[perm]).data - encoder_layer(x).data[perm]).max()
    pe16 = nn.PositionalEncoding(16, dropout=0.0)
    gap_pe = np.abs(encoder_layer(pe16(x[perm])).data - encoder_layer(pe16(x)).data[perm]).max()
print(f"layer(permuted x) vs permuted layer(x): without positions {gap_plain:.1e}, with positions {gap_pe:.2f}")
assert gap_plain < 1e-12, f"an encoder layer without positions should be permutation equivariant: {gap_plain:.1e}"
assert gap_pe > 1e-2, f"with positional encodings the order should matter: {gap_pe:.1e}"

# %% [markdown]
# `nn.PositionalEncoding` adds to the embedding of position p the fixed vector
#
#     PE[p, 2i] = sin(ω_i p),   PE[p, 2i+1] = cos(ω_i p),   ω_i = 10000^(−2i/E)
#
# Each pair of dimensions turns at its own frequency, from once every 2π positions down to once every
# 10000·2π. Two facts follow, and both are asserted below:
#
# * PE[p + k] = R_k PE[p], with R_k a block-diagonal rotation by the angles ω_i k that does **not depend on
#   p**: shifting by k is one fixed linear map, which a layer can learn once for every position;
# * PE[p] · PE[p + k] = Σ_i cos(ω_i k) depends on the offset k alone: the matrix of dot products is
#   constant along its diagonals (right panel).

# %%
E_pe, P = 32, 64
pe = nn.PositionalEncoding(E_pe, dropout=0.0, max_len=P).pe.data  # (P, E)
omega = np.exp(-np.arange(0, E_pe, 2) * math.log(10000.0) / E_pe)


def rotation(k):
    """R_k: a 2 × 2 rotation by ω_i k on each pair (2i, 2i+1)."""
    R = np.zeros((E_pe, E_pe))
    for i, w in enumerate(omega):
        c, s = math.cos(w * k), math.sin(w * k)
        R[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[c, s], [-s, c]]
    return R


rotation_gap = max(np.abs(pe[k:] - pe[:P - k] @ rotation(k).T).max() for k in (1, 5, 17))
dots = pe @ pe.T
offset_gap = max(np.abs(np.diag(dots, k) - np.cos(omega * k).sum()).max() for k in range(P))
print(f"PE[p+k] = R_k PE[p] for all p: max error {rotation_gap:.1e}; "
      f"PE[p]·PE[p+k] = Σ cos(ω_i k) on every diagonal: max error {offset_gap:.1e}")
assert rotation_gap < 1e-12, f"the shift by k is not a fixed rotation: {rotation_gap:.1e}"
assert offset_gap < 1e-12, f"the dot products depend on more than the offset: {offset_gap:.1e}"

fig = Figure(figsize=(10, 3.6), layout="constrained")
ax1, ax2 = fig.subplots(1, 2)
im = ax1.imshow(pe.T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
ax1.set_xlabel("position p")
ax1.set_ylabel("dimension (sin, cos pairs)")
ax1.set_title("PE[p]: fast pairs at the top, slow at the bottom")
fig.colorbar(im, ax=ax1, shrink=0.8)
im = ax2.imshow(dots, cmap="viridis", interpolation="nearest")
ax2.set_xlabel("position p'")
ax2.set_ylabel("position p")
ax2.set_title("PE[p] · PE[p']: constant along diagonals")
fig.colorbar(im, ax=ax2, shrink=0.8)
viz.show(fig, OUT / "positional_encoding.png")

# %% [markdown]
# ## 4. The encoder layer: two sub-layers, each with a residual connection and a layer norm
#
# An encoder layer is self-attention, then a position-wise feed-forward network FFN(x) = W₂ relu(W₁x + b₁) + b₂.
# Each sub-layer's output is *added* to its input (the residual connection: the identity path carries the
# gradient through deep stacks unchanged) and the sum is normalised (LayerNorm: mean 0, variance 1 over the
# features of each position, then a learned scale and shift):
#
#     x₁ = LayerNorm(x + SelfAttention(x))
#     x₂ = LayerNorm(x₁ + FFN(x₁))
#
# That is the paper's order ("post-norm", PyTorch's default). The small model of section 6 uses the
# "pre-norm" order `norm_first=True`, x₁ = x + SelfAttention(LayerNorm(x)), which trains more easily (Xiong
# et al. 2020). Both, rebuilt from the layer's own modules:

# %%
def sub_layers_by_hand(layer, x):
    """The encoder layer's two sub-layers, in the order its norm_first flag says."""
    def attend(z):
        return layer.self_attn(z, z, z, need_weights=False)[0]

    def ffn(z):
        return layer.linear2(layer.linear1(z).relu())

    if layer.norm_first:
        x1 = x + attend(layer.norm1(x))
        return x1 + ffn(layer.norm2(x1))
    x1 = layer.norm1(x + attend(x))
    return layer.norm2(x1 + ffn(x1))


for norm_first in (False, True):
    tg.manual_seed(1)
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, norm_first=norm_first)
    with tg.no_grad():
        gap = np.abs(sub_layers_by_hand(layer, x).data - layer(x).data).max()
    print(f"norm_first={norm_first!s:>5}: layer by hand vs nn.TransformerEncoderLayer differ by {gap:.1e}")
    assert gap < 1e-12, f"encoder layer (norm_first={norm_first}) by hand disagrees: {gap:.1e}"

# %% [markdown]
# The drawing shows the same: the scopes of the sub-layers (`self_attn`, `feed_forward`) and of the norms are
# collapsed into one box each, so what remains are the two `add` nodes of the residual connections. Each
# `add` has two inputs: the sub-layer's output and the path that goes around it. (The input x is made to
# require a gradient only for the picture: the engine records an op only when one of its inputs needs a
# gradient, so the reshapes that bring a constant x into the attention would otherwise not be traced.)

# %%
tg.manual_seed(0)
layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0).name_parameters()  # labels: norm1.weight
x_small = tg.tensor(rng.standard_normal((4, 1, 8)), name="x", requires_grad=True)
L = (layer(x_small) ** 2).sum()
L.name = "L"
encoder_graph = viz.draw(L, collapse=["self_attn", "feed_forward", "norm*"],
                         title="encoder layer: x₁ = LN(x + SelfAttn(x)), x₂ = LN(x₁ + FFN(x₁))")
adds = [n for n in encoder_graph.graph.nodes.values() if n.op == "add"]
inputs = [len(encoder_graph.graph.in_edges(n.id)) for n in adds]
print("residual additions drawn:", len(adds), "with inputs", inputs)
assert len(adds) == 2 and inputs == [2, 2], f"expected the encoder layer's 2 residual additions: {inputs}"
viz.show(encoder_graph, OUT / "encoder_layer.svg")

# %% [markdown]
# ## 5. The decoder layer: three sub-layers, and the causal mask
#
# The decoder adds a sub-layer between the two: after attending to the target so far, it attends to the
# encoder's output (the *memory*), which is where it looks at the source, as the recurrent decoder's
# attention did:
#
#     y₁ = LayerNorm(y + SelfAttention(y, causal))
#     y₂ = LayerNorm(y₁ + CrossAttention(queries y₁, keys and values = memory))
#     y₃ = LayerNorm(y₂ + FFN(y₂))
#
# Its self-attention is *causal*: position t may look at targets 0 … t only, because at test time the
# later ones have not been written yet. The mask sets the scores of the future to −∞, so their weights are
# exactly zero, not merely small.

# %%
tg.manual_seed(2)
dec = nn.TransformerDecoderLayer(16, 4, dim_feedforward=32, dropout=0.0)
T_tgt = 5
y = tg.randn(T_tgt, 1, 16)
memory = tg.randn(6, 1, 16)
mask = causal_mask(T_tgt)  # True above the diagonal: the future


def decoder_by_hand(layer, y, memory):
    y1 = layer.norm1(y + layer.self_attn(y, y, y, attn_mask=mask, need_weights=False)[0])
    y2 = layer.norm2(y1 + layer.multihead_attn(y1, memory, memory, need_weights=False)[0])
    return layer.norm3(y2 + layer.linear2(layer.linear1(y2).relu()))


with tg.no_grad():
    gap = np.abs(decoder_by_hand(dec, y, memory).data - dec(y, memory, tgt_mask=mask).data).max()
    out = dec(y, memory, tgt_mask=mask)
    self_weights = dec.self_attn.last_weights.data  # (N, heads, T, T), kept by the call just made
print(f"decoder layer by hand vs nn.TransformerDecoderLayer differ by {gap:.1e}")
print("self-attention weights of head 0:\n", self_weights[0, 0])
future = self_weights[..., mask]
print("largest weight on a future position:", future.max())
assert gap < 1e-12, f"decoder layer by hand disagrees: {gap:.1e}"
assert np.all(future == 0.0), f"a future position got weight {future.max()}"
assert np.allclose(self_weights.sum(-1), 1.0), "each row of weights should sum to 1"

# %% [markdown]
# A consequence worth checking: change the last two target tokens, and the decoder's outputs at the first
# three positions do not move, to the last bit. This is what lets a Transformer decoder train on all
# positions of a target in one pass (teacher forcing, in parallel), while an RNN decoder needs one step
# after the other.

# %%
y_changed = y.data.copy()
y_changed[3:] = rng.standard_normal((2, 1, 16))
with tg.no_grad():
    out_changed = dec(tg.tensor(y_changed), memory, tgt_mask=mask)
moved_past = np.abs(out_changed.data[:3] - out.data[:3]).max()
moved_future = np.abs(out_changed.data[3:] - out.data[3:]).max()
print(f"after changing targets 3 and 4: outputs 0-2 moved by {moved_past:.1e}, outputs 3-4 by {moved_future:.2f}")
assert moved_past < 1e-12 and moved_future > 1e-2, f"causality: {moved_past:.1e}, {moved_future:.1e}"

# %% [markdown]
# The decoder layer drawn the same way: three collapsed sub-layers, three residual additions, three norms.
# The memory enters the cross-attention from the side (a copy of the encoder's output, so that the encoder
# that made it is not drawn again).

# %%
tg.manual_seed(0)
dec_small = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0).name_parameters()
y_small = tg.tensor(rng.standard_normal((3, 1, 8)), name="y (targets so far)", requires_grad=True)
memory_small = tg.tensor(layer(x_small).data, name="memory (encoder output)", requires_grad=True)
L_dec = (dec_small(y_small, memory_small, tgt_is_causal=True) ** 2).sum()
L_dec.name = "L"
decoder_graph = viz.draw(L_dec, collapse=["self_attn", "multihead_attn", "feed_forward", "norm*"],
                         title="decoder layer: causal self-attention, cross-attention to the memory, FFN")
adds = [n for n in decoder_graph.graph.nodes.values() if n.op == "add"]
assert len(adds) == 3, f"expected the decoder layer's 3 residual additions, found {len(adds)}"
viz.show(decoder_graph, OUT / "decoder_layer.svg")

# %% [markdown]
# ## 6. A small Transformer against the recurrent models, on the same task and budget
#
# The task of `attention.py` and `benchmarks/attention_table.py`: reverse strings of 3–16 digits
# (`tasks.ReverseTask`; 3–8 in fast mode). Three models of about 44,000 parameters each:
#
# * `TransformerSeq2Seq`: token embeddings plus sinusoidal positions, 2 encoder and 2 decoder layers,
#   d_model = 32, 4 heads, feed-forward width 64, pre-norm;
# * `AttentionSeq2Seq` with dot attention (Luong): a bidirectional GRU encoder, a GRU decoder that attends;
# * the same GRU encoder–decoder without attention: the decoder gets only the encoder's final summary.
#
# Every model gets the same data, the same number of Adam steps of 32 strings, and the same learning-rate
# schedule: a linear warm-up over the first 10 % of the steps, then a cosine decay to zero. (Section 7 says
# why the schedule.) The score is exact match: the share of unseen test strings reversed without an error
# by greedy decoding.

# %%
tg.set_default_dtype(np.float32)
task = ReverseTask(3, 8 if FAST else 16)
train = task.dataset(1000 if FAST else 5000, seed=0)
test = task.dataset(100 if FAST else 300, seed=1, exclude=train)
steps = 200 if FAST else 600
warmup = steps // 10
vocab = len(task.vocab)


def warmup_cosine(step):
    """The learning rate's factor at an update: linear warm-up to 1, then a half cosine down to 0."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))


def build(kind):
    if kind == "transformer":
        return TransformerSeq2Seq(vocab, vocab, d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                                  dim_feedforward=64)
    return AttentionSeq2Seq(vocab, vocab, embedding_dim=16, hidden_size=32, attention=None if kind == "none" else kind)


edges = np.linspace(task.min_len, task.max_len + 1, 4).astype(int)
buckets = [(lo, hi - 1) for lo, hi in zip(edges[:-1], edges[1:])]


# The seed of the models' initial weights and batch order (`TGS_SEED=k` runs another); the margins
# asserted below held for the seeds listed where they are asserted.
SEED = int(os.environ.get("TGS_SEED", "0"))


def run(kind, schedule):
    tg.manual_seed(SEED)
    model = build(kind)
    curve = []
    stats = train_translation(model, train, steps=steps, batch_size=32, lr=1e-2, lr_schedule=schedule,
                              log=lambda step, loss: curve.append((step, loss)))
    by_length = [evaluate_translation(model, Seq2SeqData(task, [p for p in test.pairs if lo <= len(p[0]) <= hi]))
                 for lo, hi in buckets]
    return dict(model=model, exact=evaluate_translation(model, test), by_length=by_length, curve=curve,
                params=sum(p.numel() for p in model.parameters()), **stats)


print(f"reverse {task.min_len}-{task.max_len} digits: {len(train)} training strings, {len(test)} test strings, "
      f"{steps} steps of 32\n")
print(f"{'model':<24} {'params':>7} {'time s':>7} {'loss':>6} {'exact':>6}  "
      + " ".join(f"{f'{lo}-{hi}':>6}" for lo, hi in buckets))
runs = {}
for kind, label in (("transformer", "Transformer"), ("dot", "GRU + dot attention"), ("none", "GRU, no attention")):
    r = runs[kind] = run(kind, warmup_cosine)
    print(f"{label:<24} {r['params']:>7} {r['seconds']:>7.1f} {r['loss']:>6.3f} {r['exact']:>6.2f}  "
          + " ".join(f"{a:>6.2f}" for a in r["by_length"]))

# %% [markdown]
# With the schedule, the Transformer and the attention GRU both reverse almost every string; the GRU
# without attention fails on the long ones, which must pass through its fixed-size summary. On the short
# strings of fast mode the Transformer needs more steps than the GRU with attention to get there. The
# margins asserted below held over the seeds 0, 1, 2 of the models (`SEED`): in full mode the Transformer
# scored 1.00 every time, dot attention 0.98–0.99, no attention 0.40–0.43; in fast mode 0.84–0.89,
# 0.97–1.00 and 0.57–0.63.

# %%
tr, dot, none = (runs[k]["exact"] for k in ("transformer", "dot", "none"))
if FAST:
    assert tr > none + 0.1, f"the Transformer ({tr:.2f}) should beat no attention ({none:.2f})"
    assert dot > none + 0.2, f"dot attention ({dot:.2f}) should beat no attention ({none:.2f})"
else:
    assert tr > 0.9 and tr > none + 0.4, f"the Transformer ({tr:.2f}) should beat no attention ({none:.2f}) widely"
    assert tr > dot - 0.05, f"the Transformer ({tr:.2f}) should match the GRU with dot attention ({dot:.2f})"
    long_tr, long_none = runs["transformer"]["by_length"][-1], runs["none"]["by_length"][-1]
    assert long_tr > long_none + 0.5, f"longest strings: Transformer {long_tr:.2f}, no attention {long_none:.2f}"

# %% [markdown]
# ## 7. The learning rate schedule, and what the cross-attention found
#
# `benchmarks/attention_table.py` trains its Transformer at a constant learning rate of 0.01 and reports
# 0.60 exact match against 0.95 for dot attention. Trained the same way here, the Transformer's loss
# stops falling at a level where it still makes an error in most long strings: at a fixed step size Adam
# keeps jumping around the minimum. Decaying the rate lets it settle: over seeds 0, 1, 2 the constant rate
# gave 0.55, 0.74 and 0.80 at full size, the schedule 1.00 each time (fast mode: 0.59–0.74 against
# 0.84–0.89). The warm-up, which the original post-norm Transformer needs to survive its first steps, made
# no measurable difference for this small model: with the cosine decay alone it scored 0.99–1.00 (pre-norm
# over seeds 0–2, post-norm over seeds 0–1). It is the decay that mattered.

# %%
constant = run("transformer", None)
print(f"Transformer, constant rate 0.01: loss {constant['loss']:.3f}, exact {constant['exact']:.2f}; "
      f"warm-up + cosine decay: loss {runs['transformer']['loss']:.3f}, exact {tr:.2f}")
fig = plots.training_curves(
    {"Transformer, warm-up + cosine": tuple(zip(*runs["transformer"]["curve"])),
     "Transformer, constant rate": tuple(zip(*constant["curve"])),
     "GRU + dot attention": tuple(zip(*runs["dot"]["curve"])),
     "GRU, no attention": tuple(zip(*runs["none"]["curve"]))},
    ylabel="cross-entropy (mean of 50 steps)", title="reversal: training loss")
fig.axes[0].set_yscale("log")
viz.show(fig, OUT / "training_curves.png")
assert runs["transformer"]["loss"] < constant["loss"] / 2, (
    f"the decayed rate should end at a lower loss: {runs['transformer']['loss']:.3f} vs {constant['loss']:.3f}")
margin = 0.05 if FAST else 0.1
assert tr > constant["exact"] + margin, f"schedule {tr:.2f} vs constant rate {constant['exact']:.2f}"

# %% [markdown]
# The decoder's cross-attention (last layer, averaged over its 4 heads) is the Transformer's alignment: row t
# says where target t looked in the source. For reversal the true alignment is the anti-diagonal. A model
# could in principle route the information elsewhere (the encoder's self-attention can move a digit to any
# position first), so we measure how often the largest weight sits on the true source position.

# %%
model = runs["transformer"]["model"]
batch = test.batch(range(100))
model.eval()
with tg.no_grad():
    model(batch.src, batch.src_lengths, batch.tgt_in)
hits, mass = alignment_accuracy(model.last_alignment, task, batch.pairs)
print(f"largest cross-attention weight on the true source position: {hits:.0%}; mean weight there {mass:.2f}")
b = int(np.argmax(batch.src_lengths))
S_b, T_b = batch.src_lengths[b], len(batch.pairs[b][1])
source, target = task.vocab.decode(batch.pairs[b][0]), task.vocab.decode(batch.pairs[b][1])
fig = plots.attention(model.last_alignment[b, :T_b, :S_b], list(source), list(target),
                      title="Transformer cross-attention (last layer), reversal")
viz.show(fig, OUT / "cross_attention.png")
assert hits > 0.5, f"the cross-attention should mostly find the true source position: {hits:.2f}"

print(f"lesson ran in {time.perf_counter() - START:.0f} s")

# %% [markdown]
# ## What to try
#
# 1. **Post-norm.** Build the Transformer of section 6 with `norm_first=False` (the paper's order) and train
#    it with and without the warm-up, at rate 0.01 and at 0.03. When does the warm-up start to matter?
# 2. **Depth against width.** One encoder and one decoder layer with d_model = 48, against the 2 + 2 layers
#    of d_model = 32 (about the same number of parameters). Which reverses the long strings better?
# 3. **No positions.** Replace `model.positions` by a module that returns its input. Which task can the
#    model still learn: `tasks.SortTask` (sorting needs no order) or reversal? Explain with section 3.
# 4. **Learned positions.** Use `nn.LearnedPositionalEncoding` instead of the sinusoids, train on strings of
#    3–12 digits and test on 13–16. Which encoding extrapolates to lengths it has never seen?
# 5. **Heads.** Draw the 4 heads of the last cross-attention separately
#    (`model.transformer.decoder.layers[-1].multihead_attn.last_weights`, shape (N, heads, T, S)). Do all
#    heads follow the anti-diagonal, or do some look elsewhere?
# 6. **Cost.** Self-attention over S positions computes S² scores per layer; the GRU does S steps of H² work
#    one after the other. Time both models' forward pass for S = 16, 64, 256 and explain the curves.
