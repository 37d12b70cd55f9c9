# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Attention, from Bahdanau to the Transformer
#
# An encoder–decoder without attention reads the whole source into one
# fixed-length vector and must produce the whole target from it.  Short
# sentences fit; long ones do not.  Attention gives the decoder a fresh context
# vector at every step, a weighted average of *all* the encoder's states:
#
#     e(t, i) = score(s(t−1), h(i))        α(t, ·) = softmax(e(t, ·))        c(t) = Σ_i α(t, i) h(i)
#
# This lesson builds each piece on the engine: the score functions, masks,
# local and hard attention, then trains encoder–decoders with and without
# attention on a task where the difference is plain to see, draws the
# alignment α they learn, and ends with multi-head attention and the
# Transformer.
#
# Runs as a script: `python tutorials/attention.py` (`TGS_FAST=1` for a quick
# pass).  Pictures go to `attention_out/`.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only get in each other's way

import pathlib  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import tinygrad_seq as tg  # noqa: E402
import tinygrad_seq.functional as F  # noqa: E402
from tinygrad_seq import nn  # noqa: E402
from tinygrad_seq.nn.attention import padding_mask, reinforce_loss  # noqa: E402
from tinygrad_seq.nn.seq2seq_attention import AttentionSeq2Seq, TransformerSeq2Seq  # noqa: E402
from tinygrad_seq.tasks import ReverseTask, alignment_accuracy  # noqa: E402
from tinygrad_seq.translation import evaluate_translation, train_translation  # noqa: E402

FAST = os.environ.get("TGS_FAST") == "1"
OUT = pathlib.Path("attention_out")
OUT.mkdir(exist_ok=True)
np.set_printoptions(precision=3, suppress=True, linewidth=120)
tg.manual_seed(0)

# %% [markdown]
# ## 1. Score functions
#
# Every attention layer takes a query s and keys h(1 … S) and returns
# `(context, weights)`.  Only the score differs:
#
# | name | score e(s, h) | from |
# |---|---|---|
# | `"cosine"` | β · sᵀh / (‖s‖ ‖h‖) | Graves et al. 2014 (content-based) |
# | `"additive"` | v_aᵀ tanh(W_a s + U_a h) | Bahdanau et al. 2015 |
# | `"location"` | (W_a s)_i, ignores h | Luong et al. 2015 |
# | `"general"` | sᵀ W_a h | Luong et al. 2015 |
# | `"dot"` | sᵀ h | Luong et al. 2015 |
# | `"scaled_dot"` | sᵀ h / √d | Vaswani et al. 2017 |
#
# One query, five keys; the third key is the query plus a little noise, so
# the content-based scores should pick it out (the learned ones start random).

# %%
rng = np.random.default_rng(0)
keys = rng.standard_normal((1, 5, 4))
query = keys[:, 2] + 0.1 * rng.standard_normal((1, 4))
query, keys = tg.tensor(query), tg.tensor(keys)
for name in ["cosine", "dot", "scaled_dot", "general", "additive", "location"]:
    attn = nn.Attention(name, query_dim=4, key_dim=4, max_len=5, beta=5.0)
    context, weights = attn(query, keys)
    print(f"{name:>10}: α = {weights.data[0]}   context shape {context.shape}")

# %% [markdown]
# ## 2. Masks: padding and the future
#
# Sentences in a batch have different lengths; the padding must get no
# weight at all.  `key_padding_mask` (N, S) is True at padding, as in PyTorch.
# A decoder's self-attention must not see the future: `causal_mask(T)` is
# True above the diagonal.  Masked positions get *exactly* zero.

# %%
attn = nn.Attention("dot")
keys = tg.randn(2, 5, 4)
_, weights = attn(tg.randn(2, 4), keys, key_padding_mask=padding_mask([5, 3]))
print("second sentence has 3 tokens:", weights.data[1])

x = tg.randn(1, 4, 4)
_, weights = attn(x, x, attn_mask=nn.attention.causal_mask(4))
print("causal self-attention weights:\n", weights.data[0])

# %% [markdown]
# ## 3. Local attention (Luong et al. 2015)
#
# Global attention looks at every source position.  Local attention looks at a
# window [p(t) − D, p(t) + D].  *local-m* sets p(t) = t; *local-p* predicts
# p(t) = (S − 1) · sigmoid(v_pᵀ tanh(W_p s)) and multiplies the weights by a
# Gaussian exp(−(i − p(t))² / 2σ²), σ = D/2, which makes them differentiable in
# p(t): the position predictor learns by ordinary backpropagation.

# %%
local = nn.LocalAttention("general", window=2, mode="p", query_dim=4, key_dim=4)
q, k = tg.randn(1, 3, 4, requires_grad=True), tg.randn(1, 12, 4)
context, weights = local(q, k)
print("p(t) =", local.last_position[0])
print("weights (zero outside the window):\n", weights.data[0])
(context**2).sum().backward()
print("gradient reaches W_p through p(t):", float(np.abs(local.W_p.weight.grad.data).sum()) > 0)

# %% [markdown]
# ## 4. Hard attention and REINFORCE
#
# Soft attention takes the expectation Σ α_i h(i).  Hard attention samples one
# position i ~ α and uses h(i).  A sample has no derivative, so the score
# learns by the score-function estimator:
#
#     ∇ E[f] = E[(f − b) ∇ log α_i]
#
# Any baseline b that does not depend on the sample keeps it unbiased and can
# shrink its variance a lot.  Below, 20 000 samples of the estimate against
# the exact gradient of E[f] = Σ_i α_i f(v_i).

# %%
n = 2000 if FAST else 20_000
K, V = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
q0, target = rng.standard_normal(3), np.ones(2)
f = ((V - target) ** 2).sum(-1)
alpha = np.exp(K @ q0) / np.exp(K @ q0).sum()
exact = K.T @ (alpha * (f - alpha @ f))
hard = nn.HardAttention("dot")
for baseline in (0.0, float(alpha @ f)):
    q = tg.tensor(np.tile(q0, (n, 1)), requires_grad=True)
    c, _ = hard(q, tg.tensor(np.broadcast_to(K, (n, 4, 3)).copy()), tg.tensor(np.broadcast_to(V, (n, 4, 2)).copy()))
    cost = ((c.data - target) ** 2).sum(-1)
    reinforce_loss(hard.last_log_prob, cost, baseline).backward()
    per_sample = q.grad.data * n
    print(f"baseline {baseline:5.2f}: estimate {per_sample.mean(0)}, exact {exact}, "
          f"std of one sample {per_sample.std(0).mean():.2f}")

# %% [markdown]
# ## 5. Where attention matters: reversing long digit strings
#
# The task: "30571" → "17503", strings of 3–16 digits.  The first output digit
# is the last one read, the last output the first read: without attention every
# digit must survive the whole trip through the fixed-length state.  With
# attention the decoder just looks it up.
#
# Same data, same number of Adam steps, same sizes (bidirectional GRU encoder
# of 2 × 32 units, GRU decoder of 64 units); only the attention differs.  The
# full comparison, with the Transformer and local-p, is
# `benchmarks/attention_table.py`.

# %%
task = ReverseTask(3, 10 if FAST else 16)
train = task.dataset(1000 if FAST else 5000, seed=0)
test = task.dataset(100 if FAST else 300, seed=1, exclude=train)
steps = 40 if FAST else 600
models = {}
for kind in (None, "additive"):
    tg.manual_seed(0)
    model = AttentionSeq2Seq(len(task.vocab), len(task.vocab), 16, 32, attention=kind)
    start = time.perf_counter()
    stats = train_translation(model, train, steps=steps, batch_size=32, lr=1e-2)
    acc = evaluate_translation(model, test)
    print(f"attention={kind!s:>8}: loss {stats['loss']:.3f}, exact match {acc:.2f} "
          f"({steps} steps, {time.perf_counter() - start:.0f} s)")
    models[kind] = model

# %% [markdown]
# ## 6. The alignment the model found
#
# Teacher-force a test string and read `last_alignment` (B, T, S): row t is
# α(t, ·).  For reversal the true alignment is the anti-diagonal.  A model may
# also settle one position off it: the annotation h(i) = [→h(i); ←h(i)] of a
# bidirectional encoder also carries its neighbours x(i ± 1).

# %%
model = models["additive"]
batch = test.batch(range(50))
model.eval()
with tg.no_grad():
    model(batch.src, batch.src_lengths, batch.tgt_in)
b = int(np.argmax(batch.src_lengths))
S, T = batch.src_lengths[b], len(batch.pairs[b][1])
alignment = model.last_alignment[b, :T, :S]
print(alignment)
exact_hits, mass = alignment_accuracy(model.last_alignment, task, batch.pairs)
near_hits, _ = alignment_accuracy(model.last_alignment, task, batch.pairs, tolerance=1)
print(f"largest weight on the true position: {exact_hits:.0%} (within one position: {near_hits:.0%}); "
      f"mean weight there {mass:.2f}")
np.save(OUT / "alignment.npy", alignment)

try:
    from viz import plots

    source, target = task.vocab.decode(batch.pairs[b][0]), task.vocab.decode(batch.pairs[b][1])
    fig = plots.attention(alignment, list(source), list(target), title="additive attention, reversal")
    fig.savefig(OUT / "alignment.png")
    print("drawn to", OUT / "alignment.png")
except ImportError:  # viz needs matplotlib
    pass

# %% [markdown]
# ## 7. Multi-head attention and the Transformer
#
# `nn.MultiheadAttention` is PyTorch's, down to the parameter names
# (`in_proj_weight`, `out_proj.weight` ...), so a `torch` state dict loads and
# gives the same numbers (tests/test_attention_parity.py checks to 1e-10).
# Each head attends with its own projections; the returned weights are
# averaged over heads unless `average_attn_weights=False`.

# %%
mha = nn.MultiheadAttention(embed_dim=8, num_heads=2, batch_first=True)
x = tg.randn(1, 5, 8)
out, w = mha(x, x, x, is_causal=True, average_attn_weights=False)
print("output", out.shape, "per-head weights", w.shape)
print({name: p.shape for name, p in mha.named_parameters()})

# %% [markdown]
# The scopes name every stage, so a drawing of the graph (``viz``) reads like
# the lecture's figure: query, key, value, score, softmax, context.

# %%
seen, stack = set(), [out]
while stack:
    t = stack.pop()
    seen.add(t.scope)
    stack.extend(t.parents)
print(sorted(s for s in seen if s))

# %% [markdown]
# A small Transformer (one encoder and one decoder layer, d_model = 32,
# 4 heads) on the same reversal task.  It has no recurrence: positions come
# from the sinusoidal encodings, and the decoder's cross-attention plays the
# part of the alignment.

# %%
tg.manual_seed(0)
transformer = TransformerSeq2Seq(len(task.vocab), len(task.vocab), d_model=32, nhead=4, dim_feedforward=64)
start = time.perf_counter()
stats = train_translation(transformer, train, steps=steps, batch_size=32, lr=3e-3)
print(f"Transformer: loss {stats['loss']:.3f}, exact match {evaluate_translation(transformer, test):.2f} "
      f"({time.perf_counter() - start:.0f} s)")

# %% [markdown]
# ## What to try
#
# * `attention="dot"`, `"general"`, `"local-p"` in section 5 (`benchmarks/attention_table.py` runs them all).
# * Shorter strings (`ReverseTask(3, 6)`): the model without attention catches up.
# * `F.scaled_dot_product_attention(q, k, v, is_causal=True)`: the Transformer's attention in one call.

# %%
q = k = v = tg.randn(2, 4, 8)
print(F.scaled_dot_product_attention(q, k, v, is_causal=True).shape)
