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
# # Attention, from Bahdanau to the Transformer
#
# An encoder–decoder without attention reads the whole source into one fixed-length vector and must
# produce the whole target from it. Short sentences fit; long ones do not. Attention gives the decoder a
# fresh context vector at every step, a weighted average of *all* the encoder's states:
#
#     e(t, i) = score(s(t−1), h(i))        α(t, ·) = softmax(e(t, ·))        c(t) = Σ_i α(t, i) h(i)
#
# This lesson builds each piece on the engine and then trains them all on one task:
#
# 1. the six score functions, and why the plain dot product favours large keys;
# 2. masks for padding and for the future;
# 3. local attention (Luong's local-p) and hard attention, with the REINFORCE estimator;
# 4. encoder–decoders with and without attention on reversing digit strings, where the difference is
#    plain to see on long inputs; the six scores compared after training, in a table and a figure;
# 5. local-p and hard attention trained on the same task, and the alignments they find;
# 6. multi-head attention and a small Transformer.
#
# **What to know first:** the GRU, the encoder–decoder of the design-patterns lecture, softmax and
# cross-entropy, and how `train_translation` runs Adam on teacher-forced batches.
#
# Every fact the lesson states is checked by an `assert` (trained numbers with margins that hold for
# seeds 0, 1 and 2). Runs as a script: `python tutorials/attention.py` (a few minutes; `TGS_FAST=1` for
# a quick pass with shorter strings and training), or as a notebook with jupytext. Pictures go to
# `attention_out/`.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only get in each other's way

import pathlib  # noqa: E402
import time  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinygrad_seq as tg  # noqa: E402
import tinygrad_seq.functional as F  # noqa: E402
import viz  # noqa: E402
from tinygrad_seq import nn, optim  # noqa: E402
from tinygrad_seq.nn.attention import MovingAverageBaseline, causal_mask, padding_mask, reinforce_loss  # noqa: E402
from tinygrad_seq.nn.seq2seq_attention import PAD, AttentionSeq2Seq, TransformerSeq2Seq  # noqa: E402
from tinygrad_seq.tasks import ReverseTask, Seq2SeqData, alignment_accuracy  # noqa: E402
from tinygrad_seq.translation import evaluate_translation, train_translation  # noqa: E402
from viz import plots  # noqa: E402

FAST = os.environ.get("TGS_FAST") == "1"
SEED = int(os.environ.get("TGS_SEED", "0"))  # the seed (`TGS_SEED=k`) of every training run below
OUT = pathlib.Path("attention_out")
OUT.mkdir(exist_ok=True)
np.set_printoptions(precision=3, suppress=True, linewidth=120)
tg.manual_seed(0)
START = time.perf_counter()

# %% [markdown]
# ## 1. Score functions
#
# Every attention layer takes a query s and keys h(1 … S) and returns `(context, weights)`. Only the
# score differs:
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
# One query, five keys; the third key (index 2) is the query plus a little noise, so a content-based
# score should pick it out. (The learned scores, general, additive and location, start random.)

# %%
rng = np.random.default_rng(0)
key_array = rng.standard_normal((1, 5, 4))
query_array = key_array[:, 2] + 0.1 * rng.standard_normal((1, 4))
query, keys = tg.tensor(query_array), tg.tensor(key_array)
first_look = {}
for name in ["cosine", "dot", "scaled_dot", "general", "additive", "location"]:
    attn = nn.Attention(name, query_dim=4, key_dim=4, max_len=5, beta=5.0)
    context, weights = attn(query, keys)
    first_look[name] = weights.data[0]
    print(f"{name:>10}: α = {weights.data[0]}   context shape {context.shape}")
    assert abs(weights.data.sum() - 1) < 1e-6 and context.shape == (1, 4)
assert first_look["cosine"].argmax() == 2, "cosine must pick the key that matches the query"

# %% [markdown]
# Cosine picks key 2. The dot product does not: it puts more weight on key 3.
#
# ## 2. Why dot scores favour large keys
#
# $s^\top h = \|s\|\,\|h\|\cos\theta$: the dot score is the cosine *times the length of the key*. A key
# that matches less well but is longer can win:

# %%
q0, K0 = query_array[0], key_array[0]
norms = np.linalg.norm(K0, axis=1)
cosines = K0 @ q0 / (norms * np.linalg.norm(q0))
print("key      ‖h‖    cos(s, h)   sᵀh")
for i in range(5):
    print(f"{i:3d}  {norms[i]:7.3f}   {cosines[i]:8.3f}  {K0[i] @ q0:7.3f}")
assert cosines.argmax() == 2 and (K0 @ q0).argmax() == 3 and norms[3] > norms[2], (norms, cosines)

# %% [markdown]
# Key 3 is at a wider angle from the query than key 2 (a smaller cosine) but longer, and the dot score
# follows the length. Make it plain: stretch one key that points a little towards the query (a small
# positive cosine) by a factor k and watch the weights. The dot score of that key grows as k, so its
# weight goes to 1 whatever it contains; the cosine does not see the stretch (in float32, as here, to
# round-off, 1e-7):

# %%
j = int(np.argmax(np.where((cosines > 0) & (np.arange(5) != 2), -cosines, -np.inf)))  # the weakest positive match
stretches = (1, 2, 4, 8, 16)
dot_attn, scaled_attn, cos_attn = nn.Attention("dot"), nn.Attention("scaled_dot"), nn.Attention("cosine", beta=5.0)
on_j = {"dot": [], "scaled_dot": [], "cosine": []}
cosine_weights = []
for k in stretches:
    stretched = K0.copy()
    stretched[j] *= k
    for name, layer in (("dot", dot_attn), ("scaled_dot", scaled_attn), ("cosine", cos_attn)):
        w = layer(query, tg.tensor(stretched[None]))[1].data[0]
        on_j[name].append(w[j])
        if name == "cosine":
            cosine_weights.append(w)
    print(f"key {j} × {k:2d}: weight on it  dot {on_j['dot'][-1]:.3f}   scaled dot {on_j['scaled_dot'][-1]:.3f}"
          f"   cosine {on_j['cosine'][-1]:.3f}")
assert all(np.diff(on_j["dot"]) > 0) and on_j["dot"][-1] > 0.9, on_j["dot"]
assert max(np.abs(w - cosine_weights[0]).max() for w in cosine_weights) < 1e-6, "cosine ignores the length"

# %% [markdown]
# The same effect grows with the dimension d. For query and key entries drawn N(0, 1), sᵀh is a sum of
# d products of variance 1, so its standard deviation is √d: over 10 keys the softmax of d = 256
# dot scores is nearly one-hot (and nearly flat in its gradient), whatever the content. Dividing by √d,
# as the Transformer does, brings the spread back to 1:

# %%
dims, n_trials = (4, 16, 64, 256), 2000
spread, peak = {"dot": [], "scaled_dot": []}, {"dot": [], "scaled_dot": []}
for d in dims:
    qs, ks = rng.standard_normal((n_trials, 1, d)), rng.standard_normal((n_trials, 10, d))
    e = (qs @ ks.transpose(0, 2, 1))[:, 0]  # (trials, 10)
    for name, scores in (("dot", e), ("scaled_dot", e / np.sqrt(d))):
        spread[name].append(scores.std())
        peak[name].append(F.softmax(tg.tensor(scores), dim=-1).data.max(-1).mean())
    print(f"d = {d:3d}: std of sᵀh = {spread['dot'][-1]:6.2f} (√d = {np.sqrt(d):5.2f}), of sᵀh/√d = "
          f"{spread['scaled_dot'][-1]:.2f};  mean largest weight  dot {peak['dot'][-1]:.2f}, "
          f"scaled {peak['scaled_dot'][-1]:.2f}")
    assert abs(spread["dot"][-1] / np.sqrt(d) - 1) < 0.1 and abs(spread["scaled_dot"][-1] - 1) < 0.1
assert peak["dot"][-1] > 0.9 and max(peak["scaled_dot"]) < 0.6, (peak["dot"], peak["scaled_dot"])

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
for name, w in on_j.items():
    ax1.plot(stretches, w, marker="o", label=name)
ax1.set(xscale="log", xlabel=f"key {j} stretched by k", ylabel=f"weight α on key {j}",
        title="a longer key wins the dot score")
ax1.set_xticks(stretches, [str(k) for k in stretches])
for name, values in peak.items():
    ax2.plot(dims, values, marker="o", label=name)
ax2.set(xscale="log", xlabel="dimension d", ylabel="mean largest weight over 10 keys",
        title="random queries and keys: dot saturates with d")
ax2.set_xticks(dims, [str(d) for d in dims])
for ax in (ax1, ax2):
    ax.grid(True, alpha=0.3)
    ax.legend()
viz.show(fig, OUT / "dot_scores_favour_large_keys.png")

# %% [markdown]
# ## 3. Masks: padding and the future
#
# Sentences in a batch have different lengths; the padding must get no weight at all.
# `key_padding_mask` (N, S) is True at padding, as in PyTorch. A decoder's self-attention must not see
# the future: `causal_mask(T)` is True above the diagonal. Masked positions get *exactly* zero.

# %%
attn = nn.Attention("dot")
keys = tg.randn(2, 5, 4)
_, weights = attn(tg.randn(2, 4), keys, key_padding_mask=padding_mask([5, 3]))
print("second sentence has 3 tokens:", weights.data[1])
assert np.all(weights.data[1, 3:] == 0.0) and np.allclose(weights.data.sum(-1), 1)

x = tg.randn(1, 4, 4)
_, weights = attn(x, x, attn_mask=causal_mask(4))
print("causal self-attention weights:\n", weights.data[0])
assert np.all(weights.data[0][np.triu_indices(4, k=1)] == 0.0) and np.allclose(weights.data.sum(-1), 1)

# %% [markdown]
# ## 4. Local attention (Luong et al. 2015)
#
# Global attention looks at every source position. Local attention looks at a window
# [p(t) − D, p(t) + D]. *local-m* sets p(t) = t; *local-p* predicts p(t) = (S − 1) · sigmoid(v_pᵀ
# tanh(W_p s)) and multiplies the weights by a Gaussian exp(−(i − p(t))² / 2σ²), σ = D/2, which makes
# them differentiable in p(t): the position predictor learns by ordinary backpropagation.

# %%
local = nn.LocalAttention("general", window=2, mode="p", query_dim=4, key_dim=4)
q, k = tg.randn(1, 3, 4, requires_grad=True), tg.randn(1, 12, 4)
context, weights = local(q, k)
p_t = local.last_position[0]
print("p(t) =", p_t)
print("weights (zero outside the window):\n", weights.data[0])
outside = np.abs(np.arange(12)[None, :] - p_t[:, None]) > 2
assert np.all(weights.data[0][outside] == 0.0) and np.all(weights.data[0][~outside] > 0)
(context**2).sum().backward()
print("gradient reaches W_p through p(t):", float(np.abs(local.W_p.weight.grad.data).sum()) > 0)
assert np.abs(local.W_p.weight.grad.data).sum() > 0

# %% [markdown]
# ## 5. Hard attention and REINFORCE
#
# Soft attention takes the expectation Σ α_i h(i). Hard attention samples one position i ~ α and uses
# h(i). A sample has no derivative, so the score learns by the score-function estimator:
#
#     ∇ E[f] = E[(f − b) ∇ log α_i]
#
# Any baseline b that does not depend on the sample keeps it unbiased and can shrink its variance a lot.
# Below, many samples of the estimate against the exact gradient of E[f] = Σ_i α_i f(v_i):

# %%
n = 2000 if FAST else 20_000
K, V = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
q0, target = rng.standard_normal(3), np.ones(2)
f = ((V - target) ** 2).sum(-1)
alpha = np.exp(K @ q0) / np.exp(K @ q0).sum()
exact = K.T @ (alpha * (f - alpha @ f))
hard = nn.HardAttention("dot")
spread_of = {}
for baseline in (0.0, float(alpha @ f)):
    q = tg.tensor(np.tile(q0, (n, 1)), requires_grad=True)
    c, _ = hard(q, tg.tensor(np.broadcast_to(K, (n, 4, 3)).copy()), tg.tensor(np.broadcast_to(V, (n, 4, 2)).copy()))
    cost = ((c.data - target) ** 2).sum(-1)
    reinforce_loss(hard.last_log_prob, cost, baseline).backward()
    per_sample = q.grad.data * n
    spread_of[baseline] = per_sample.std(0)
    print(f"baseline {baseline:5.2f}: estimate {per_sample.mean(0)}, exact {exact}, "
          f"std of one sample {per_sample.std(0).mean():.2f}")
    assert np.all(np.abs(per_sample.mean(0) - exact) < 4 * per_sample.std(0) / np.sqrt(n)), "unbiased"
assert spread_of[float(alpha @ f)].mean() < spread_of[0.0].mean(), "the baseline must shrink the variance"

# %% [markdown]
# ## 6. Where attention matters: reversing long digit strings
#
# The task: "30571" → "17503". The first output digit is the last one read, the last output the first
# read: without attention every digit must survive the whole trip through the fixed-length state. With
# attention the decoder just looks it up.
#
# Same data, same number of Adam steps, same sizes (bidirectional GRU encoder of 2 × 32 units, GRU
# decoder of 64 units); only the attention differs. We train the no-attention baseline, the six scores of
# section 1 and local-p. `fit` trains one model and measures it: exact match of greedy decoding on test
# strings never seen in training, and how often the largest weight α(t, ·) lies on the true source
# position S + 1 − t (target steps t and source positions i both numbered from 1), or one position off (a
# bidirectional annotation h(i) also carries x(i ± 1)).

# %%
task = ReverseTask(3, 10 if FAST else 16)
train = task.dataset(1000 if FAST else 5000, seed=SEED)
test = task.dataset(200 if FAST else 300, seed=SEED + 100, exclude=train)
probe = test.batch(range(100))  # the strings whose alignments we read
steps = 150 if FAST else 600
vocab_size = len(task.vocab)


def alignment_on(model, batch):
    """α (B, T, S) of a teacher-forced pass over ``batch`` (eval mode: hard attention takes its argmax)."""
    model.eval()
    with tg.no_grad():
        model(batch.src, batch.src_lengths, batch.tgt_in)
    model.train()
    return model.last_alignment


def measure(model, seconds, loss, curve=()):
    result = dict(model=model, seconds=seconds, loss=loss, exact=evaluate_translation(model, test), curve=list(curve))
    if model.decoder.attention is not None:
        w = alignment_on(model, probe)
        result["on_target"], result["mass"] = alignment_accuracy(w, task, probe.pairs)
        result["near_target"], _ = alignment_accuracy(w, task, probe.pairs, tolerance=1)
        result["peak"] = float(np.mean([w[b, :len(t), :len(s)].max(-1).mean() for b, (s, t) in enumerate(probe.pairs)]))
    return result


def fit(attention, **options):
    tg.manual_seed(SEED)
    model = AttentionSeq2Seq(vocab_size, vocab_size, 16, 32, attention=attention, max_src_len=task.max_len,
                             **options)
    start, curve = time.perf_counter(), []
    stats = train_translation(model, train, steps=steps, batch_size=32, lr=1e-2,
                              log=lambda step, loss: curve.append((step, loss)))  # every 50 steps
    return measure(model, time.perf_counter() - start, stats["loss"], curve)


results = {}
for kind in (None, "additive", "dot", "general", "scaled_dot", "location", "cosine", "local-p"):
    results[kind] = fit(kind)
    r = results[kind]
    print(f"{kind!s:>10}: exact match {r['exact']:.2f}  ({steps} steps, {r['seconds']:.0f} s)")

# %% [markdown]
# Attention matters most on long strings. The same two models, exact match by source length:

# %%
cut = 6 if FAST else 10
short = Seq2SeqData(task, [pair for pair in test.pairs if len(pair[0]) <= cut])
long = Seq2SeqData(task, [pair for pair in test.pairs if len(pair[0]) > cut])
by_length = {kind: (evaluate_translation(results[kind]["model"], short),
                    evaluate_translation(results[kind]["model"], long)) for kind in (None, "additive")}
for kind, (a, b) in by_length.items():
    print(f"attention={kind!s:>8}: exact match {a:.2f} on {len(short)} strings of ≤ {cut} digits, "
          f"{b:.2f} on {len(long)} longer ones")
assert by_length["additive"][1] > by_length[None][1] + 0.3, by_length
assert by_length[None][0] > by_length[None][1] + 0.2, "without attention, long strings are the hard ones"

# %% [markdown]
# ### The six scores after training
#
# Everything measured on the same test set (α read on 100 test strings, teacher forced):

# %%
print(f"{'score':>10} {'exact':>7} {'α on S+1−t':>11} {'± 1':>6} {'weight there':>13} {'largest α':>10} {'s':>5}")
for kind, r in results.items():
    if kind is None:
        print(f"{'none':>10} {r['exact']:7.2f} {'':>11} {'':>6} {'':>13} {'':>10} {r['seconds']:5.0f}")
        continue
    print(f"{kind:>10} {r['exact']:7.2f} {r['on_target']:11.2f} {r['near_target']:6.2f} {r['mass']:13.2f} "
          f"{r['peak']:10.2f} {r['seconds']:5.0f}")

names = [k for k in results if k is not None]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
xs = np.arange(len(names))
ax1.bar(xs - 0.2, [results[k]["exact"] for k in names], 0.4, label="exact match")
ax1.bar(xs + 0.2, [results[k]["near_target"] for k in names], 0.4, label="largest α within 1 of S+1−t")
ax1.axhline(results[None]["exact"], color="k", linestyle="--", linewidth=1, label="exact match, no attention")
ax1.set_xticks(xs, names, rotation=30)
ax1.set(ylim=(0, 1.05), title=f"reversal, {task.min_len}–{task.max_len} digits, {steps} steps")
ax1.legend(fontsize=8, loc="lower right")
ax2.bar(xs, [results[k]["peak"] for k in names], 0.6, color="tab:gray")
ax2.set_xticks(xs, names, rotation=30)
ax2.set(ylim=(0, 1.05), ylabel="mean largest weight α(t, ·)", title="how sharp the trained attention is")
for ax in (ax1, ax2):
    ax.grid(True, axis="y", alpha=0.3)
viz.show(fig, OUT / "six_scores_trained.png")

# %% [markdown]
# What the numbers say, and what the lesson checks:
#
# * Every content-based score (additive, dot, general, scaled dot) and local-p beat the model without
#   attention by a wide margin, and their largest weight sits on, or next to, the true position.
# * **location** scores e = W_a s(t) never look at the keys: the weights depend on the decoder state
#   alone. For reversal that is almost enough (the target position follows from t and the length S,
#   which s(t) can count), but not quite: it trails the content-based scores.
# * **cosine** with its default β = 1 cannot be sharp: every score lies in [−β, β], so no weight can
#   exceed 1 / (1 + (S − 1) e^{−2β}), about 0.45 for 10 positions. It is the flattest of the six, and
#   it learns least. (Neural Turing Machines learn β; try `CosineScore(learn_beta=True)`.)

# %%
content = ("additive", "dot", "general", "scaled_dot", "local-p")
margin = 0.25
for kind in content:
    assert results[kind]["exact"] > results[None]["exact"] + margin, (kind, results[kind]["exact"])
    assert results[kind]["near_target"] > 0.9, (kind, results[kind]["near_target"])
assert results["location"]["exact"] > results[None]["exact"] + 0.1, results["location"]["exact"]
assert results["location"]["exact"] < max(results[k]["exact"] for k in content), "location trails content"

location = results["location"]["model"].decoder.attention
s_probe = tg.randn(3, 64)
w_a = location(s_probe, tg.randn(3, 7, 64))[1].data
w_b = location(s_probe, tg.randn(3, 7, 64))[1].data
assert np.abs(w_a - w_b).max() == 0.0, "location weights must not depend on the keys"

w_cos = alignment_on(results["cosine"]["model"], probe)
for b, (s, t) in enumerate(probe.pairs):
    bound = 1 / (1 + (len(s) - 1) * np.exp(-2 * 1.0))  # β = 1
    assert w_cos[b, :len(t), :len(s)].max() <= bound + 1e-6, (b, w_cos[b].max(), bound)
assert results["cosine"]["peak"] == min(results[k]["peak"] for k in names), "cosine (β = 1) is the flattest"

# %% [markdown]
# ## 7. The alignment the model found
#
# Row t of α is where the decoder looked to write target symbol t. For reversal the true alignment is
# the anti-diagonal; additive attention finds it, or the diagonal next to it, without ever being told:

# %%
model = results["additive"]["model"]
alignment = alignment_on(model, probe)
b = int(np.argmax(probe.src_lengths))
S, T = probe.src_lengths[b], len(probe.pairs[b][1])
source, target = task.vocab.decode(probe.pairs[b][0]), task.vocab.decode(probe.pairs[b][1])
print(f"additive: largest weight on S + 1 − t for {results['additive']['on_target']:.0%} of the target symbols, "
      f"within one position for {results['additive']['near_target']:.0%}")
np.save(OUT / "alignment.npy", alignment[b, :T, :S])
viz.show(plots.attention(alignment[b, :T, :S], list(source), list(target), title="additive attention, reversal"),
         OUT / "alignment.png")

# %% [markdown]
# The same test string through every trained score (the dashed line is the true alignment):

# %%
fig, axes = plt.subplots(2, 3, figsize=(11, 7))
for ax, kind in zip(axes.flat, ("additive", "dot", "general", "scaled_dot", "location", "cosine")):
    w = alignment_on(results[kind]["model"], probe)[b, :T, :S]
    ax.imshow(w, cmap="Greys", vmin=0, vmax=1, aspect="auto")
    ax.plot(S - 1 - np.arange(T), np.arange(T), color="tab:red", linestyle="--", linewidth=0.8)
    ax.set_title(f"{kind}: exact match {results[kind]['exact']:.2f}")
    ax.set_xticks(range(S), list(source))
    ax.set_yticks(range(T), list(target))
fig.suptitle(f"α(t, i) for '{source}' → '{target}' (rows: target, columns: source)")
fig.tight_layout()
viz.show(fig, OUT / "six_alignments.png")

# %% [markdown]
# ## 8. Local-p, trained: the decoder predicts where to look
#
# Local-p's position p(t) is a number the decoder computes from its state before it sees any score. For
# reversal it should learn p(t) ≈ S + 1 − t (numbering positions from 1, as above: the model's (S − 1) ·
# sigmoid(…) counts from 0, so we add 1), or close enough that the window [p(t) − D, p(t) + D] holds
# the digit it needs (like the global scores, it may settle a position off and read the digit from a
# neighbour's annotation). Running the decoder step by step (as `AttentionSeq2Seq.forward` does) we read
# p(t) after each step:

# %%
model = results["local-p"]["model"]
local_attention = model.decoder.attention
model.eval()
positions = []
with tg.no_grad():
    annotations, summary = model.encoder(probe.src, probe.src_lengths)
    s, memory = model.decoder.start(annotations, summary, padding_mask(probe.src_lengths, probe.src.shape[0]))
    embedded = model.decoder.embedding(probe.tgt_in)
    for t in range(probe.tgt_in.shape[0]):
        s, _, _ = model.decoder.step(embedded[t], s, memory, t)
        positions.append(local_attention.last_position[:, 0].copy())  # (B,) p(t) of every string
model.train()
positions = np.stack(positions, 1)  # (B, T)
errors = [np.abs(positions[i, :len(t)] - (len(s_) - 1 - np.arange(len(t)))) for i, (s_, t) in
          enumerate(probe.pairs)]
mean_error = float(np.mean(np.concatenate(errors)))
inside = float(np.mean(np.concatenate(errors) <= local_attention.D))
print(f"local-p, window D = {local_attention.D}: mean |p(t) − (S + 1 − t)| = {mean_error:.2f} positions; "
      f"the true position lies inside the window for {inside:.0%} of the symbols")
assert mean_error < local_attention.D and inside > 0.95, f"p(t) should track the true position: {mean_error:.2f}"

fig, ax = plt.subplots(figsize=(5.5, 3.6))
steps_t = np.arange(1, T + 1)  # target steps and source positions numbered from 1 (the model counts from 0)
ax.plot(steps_t, positions[b, :T] + 1, marker="o", label="predicted p(t)")
ax.plot(steps_t, S + 1 - steps_t, linestyle="--", label="true position S + 1 − t")
ax.fill_between(steps_t, positions[b, :T] + 1 - local_attention.D, positions[b, :T] + 1 + local_attention.D,
                alpha=0.15, label=f"window ± D = {local_attention.D}")
ax.set(xlabel="target step t", ylabel="source position i", title=f"local-p on '{source}' (S = {S})")
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8)
viz.show(fig, OUT / "local_p_positions.png")

# %% [markdown]
# ## 9. Hard attention, trained with REINFORCE
#
# Now the decoder looks at ONE source position per step, sampled from α (`nn.HardAttention`). Its
# parameters get two gradients: the ordinary one of the cross-entropy through the chosen h(i), and the
# REINFORCE estimate of section 5 for the choice itself. We charge the sample at step t with the loss
# at step t (the symbol written from it), against a moving-average baseline. That ignores what the choice
# does to later steps through the decoder state: a little bias for much less variance than charging
# every step with the loss of the whole string.
#
# The model is the dot-score model of section 6 with its attention swapped for a hard one. A small
# subclass keeps log α_i of every step's sample, which the layer otherwise overwrites step by step:


# %%
class RecordingHardAttention(nn.HardAttention):
    """HardAttention that appends each call's log α_i (N, 1) to ``log_probs``."""

    def forward(self, *args, **kwargs):
        out = super().forward(*args, **kwargs)
        self.log_probs.append(self.last_log_prob)
        return out


tg.manual_seed(SEED)
hard_model = AttentionSeq2Seq(vocab_size, vocab_size, 16, 32, attention="dot")
hard_model.decoder.attention = RecordingHardAttention(hard_model.decoder.attention.score)
opt = optim.Adam(hard_model.parameters(), lr=1e-2)
baseline, shuffles = MovingAverageBaseline(0.9), np.random.default_rng(SEED)
hard_losses, start, step = [], time.perf_counter(), 0
while step < steps:
    for batch in train.batches(32, seed=int(shuffles.integers(2**31))):
        hard_model.decoder.attention.log_probs = []
        logits = hard_model(batch.src, batch.src_lengths, batch.tgt_in)  # (T, B, V)
        T_b, B_b, _ = logits.shape
        per_token = F.cross_entropy(logits.reshape(-1, vocab_size), batch.tgt_out.reshape(-1), ignore_index=PAD,
                                    reduction="none").reshape(T_b, B_b)
        real = batch.tgt_out != PAD  # (T, B): steps that write a real symbol
        n_tokens = real.sum()
        loss = per_token.sum() / n_tokens  # the pathwise part: mean cross-entropy per symbol
        log_alpha = tg.cat(hard_model.decoder.attention.log_probs, dim=1) * real.T.astype(np.float32)  # (B, T)
        cost = per_token.data.T  # (B, T): the sample at step t pays the loss at step t
        b_now = baseline.update(cost[real.T])
        choice = reinforce_loss(log_alpha.reshape(-1), cost.reshape(-1), b_now) * (B_b * T_b / n_tokens)
        opt.zero_grad()
        (loss + choice).backward()
        optim.clip_grad_norm_(hard_model.parameters(), 1.0)
        opt.step()
        hard_losses.append(loss.item())
        step += 1
        if step == steps:
            break
results["hard (dot)"] = measure(hard_model, time.perf_counter() - start, float(np.mean(hard_losses[-20:])))
r = results["hard (dot)"]
print(f"hard attention (REINFORCE): exact match {r['exact']:.2f}, its choice within one of S+1−t for "
      f"{r['near_target']:.0%} of the symbols ({r['seconds']:.0f} s);  soft dot: {results['dot']['exact']:.2f}, "
      f"no attention: {results[None]['exact']:.2f}")

assert r["exact"] > results[None]["exact"] + 0.1, "hard attention must learn where to look"
assert r["near_target"] > 0.8, r["near_target"]
assert r["exact"] < results["dot"]["exact"], "with the same steps, the noisy REINFORCE gradient learns slower"

# %% [markdown]
# In eval mode `HardAttention` takes the most likely position, so greedy decoding is deterministic. Hard
# attention gets there, but slower than soft attention with the same score and the same number of steps:
# the soft model receives an exact gradient for *where* to look, the hard one a noisy estimate. A
# training curve shows it (the loss of the hard model is the cross-entropy of its sampled choices; both
# are means over the last 50 steps):

# %%
curve_steps = [s_ for s_, _ in results["dot"]["curve"]]
soft_curve = [v for _, v in results["dot"]["curve"]]
hard_curve = [float(np.mean(hard_losses[s_ - 50:s_])) for s_ in curve_steps]
viz.show(plots.training_curves({"soft dot attention": (curve_steps, soft_curve),
                                "hard dot attention (REINFORCE)": (curve_steps, hard_curve)},
                               ylabel="cross-entropy per symbol", title="soft against hard attention"),
         OUT / "soft_vs_hard.png")
assert hard_curve[-1] > soft_curve[-1], "the soft model's loss ends lower"

# %% [markdown]
# ## 10. Multi-head attention and the Transformer
#
# `nn.MultiheadAttention` is PyTorch's, down to the parameter names (`in_proj_weight`, `out_proj.weight`
# ...), so a `torch` state dict loads and gives the same numbers (tests/test_attention_parity.py checks
# to 1e-10). Each head attends with its own projections; the returned weights are averaged over heads
# unless `average_attn_weights=False`.

# %%
mha = nn.MultiheadAttention(embed_dim=8, num_heads=2, batch_first=True)
x = tg.randn(1, 5, 8)
out, w = mha(x, x, x, is_causal=True, average_attn_weights=False)
print("output", out.shape, "per-head weights", w.shape)
print({name: p.shape for name, p in mha.named_parameters()})
assert out.shape == (1, 5, 8) and w.shape == (1, 2, 5, 5)
assert np.all(w.data[0][:, np.triu_indices(5, k=1)[0], np.triu_indices(5, k=1)[1]] == 0.0), "causal per head"

# %% [markdown]
# The scopes name every stage, so the graph reads like the lecture's figure: query, key, value, score,
# softmax, context, then the output projection:

# %%
viz.show(viz.draw(out.sum(), title="multi-head self-attention, 2 heads, causal"), OUT / "multihead_attention.svg")

# %% [markdown]
# A small Transformer (one encoder and one decoder layer, d_model = 32, 4 heads) on the same reversal
# task. It has no recurrence: positions come from the sinusoidal encodings, and the decoder's
# cross-attention plays the part of the alignment. Its steps are cheaper than the recurrent models' (no
# loop over time in the encoder), so it gets more of them: 450 in the fast run, 900 in the full one.

# %%
tg.manual_seed(SEED)
transformer = TransformerSeq2Seq(vocab_size, vocab_size, d_model=32, nhead=4, dim_feedforward=64)
transformer_steps = 450 if FAST else 900
start = time.perf_counter()
stats = train_translation(transformer, train, steps=transformer_steps, batch_size=32, lr=3e-3)
transformer_exact = evaluate_translation(transformer, test)
print(f"Transformer: loss {stats['loss']:.3f}, exact match {transformer_exact:.2f} "
      f"({transformer_steps} steps, {time.perf_counter() - start:.0f} s)")
assert transformer_exact > results[None]["exact"] + 0.1, "the Transformer beats the RNN without attention"
print(f"whole lesson: {time.perf_counter() - START:.0f} s")

# %% [markdown]
# ## What to try
#
# * Section 6 with `ReverseTask(3, 6)`: the model without attention catches up. At what length does it
#   fall behind?
# * Give the cosine score a learnable sharpness: after building the model, set
#   `model.decoder.attention = nn.Attention(nn.CosineScore(beta=1.0, learn_beta=True))` and train. What β
#   does it learn, and how close does it come to the dot score?
# * Section 9: charge every step with the whole string's loss (`cost = per_token.data.sum(0)` and
#   `reinforce_loss(log_alpha, cost, ...)`) and compare the training curves. Then drop the baseline.
# * `benchmarks/attention_table.py` runs these models on the sort and date tasks too: which score wins
#   where the alignment is not a fixed permutation?
# * `F.scaled_dot_product_attention(q, k, v, is_causal=True)`: the Transformer's attention in one call.
