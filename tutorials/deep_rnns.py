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
# # Deep recurrent networks
#
# Unrolled in time, every RNN is a very deep network. Yet each *step* of the lecture's RNN is shallow:
#
# $$a(t) = b + W^\top h(t-1) + U^\top x(t), \qquad h(t) = \tanh a(t), \qquad o(t) = c + V^\top h(t):$$
#
# one affine map and one nonlinearity from $(x(t), h(t-1))$ to $h(t)$, and a single affine map from $h(t)$
# to $o(t)$. Pascanu, Gulcehre, Cho and Bengio (2014, "How to construct deep recurrent neural networks")
# point to three places where a step can be made deep, besides the older idea of stacking recurrent layers:
#
# | where | what | in the library |
# |---|---|---|
# | input-to-hidden | an MLP on $x(t)$ before the recurrence | an `nn.Linear` + tanh in front of `nn.RNN` (below) |
# | hidden-to-hidden | an MLP between $h(t-1)$ and $h(t)$: the *deep transition* (DT-RNN) | `nn.DeepTransitionRNN` |
# | hidden-to-output | an MLP between $h(t)$ and $o(t)$: the *deep output* (DO-RNN) | `nn.DeepOutputRNN` |
# | stacking | layer $l$ reads $h^{(l-1)}(t)$ | `nn.RNN(num_layers=2)`, `nn.DeepRNN` |
#
# Depth has a price the lecture names: a deep transition makes **every path through time longer**, so
# gradients vanish faster; *skip (shortcut) connections* that go around the extra layers make such networks
# trainable again. This lesson measures all of it:
#
# 1. the models and their unrolled graphs, drawn by the library;
# 2. how far a gradient reaches back in time through each kind of depth, with and without shortcuts, and
#    the lecture's "removing length-one connections" (`nn.DilatedRNN`), which makes paths *shorter*;
# 3. the deep transition's BPTT written out in the lecture's notation (`tinygrad_seq.bptt.deep`) and
#    checked against autodiff;
# 4. every model trained on one generated memory task with the same budget;
# 5. the depth-gated LSTM (Yao et al. 2015), a gated path up through a stack of LSTMs.
#
# **What to know first:** the vanilla RNN and BPTT (`bptt_by_hand.py`), vanishing gradients and the
# Jacobian $\partial h(t)/\partial h(t-1) = D(t)\,W^\top$ (`long_term_dependencies.py`), the LSTM's gates.
#
# Every fact the lesson states is checked by an `assert`; trained numbers with margins that held for lesson
# seeds 0–5 (`TGS_SEED=k`) in both settings. Runs as a script (`python tutorials/deep_rnns.py`, a minute
# or two; `TGS_FAST=1` for a quick pass with fewer models and shorter training) or as a notebook with
# jupytext. Pictures go to `deep_rnns_out/`.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only get in each other's way

import pathlib  # noqa: E402
import time  # noqa: E402

import matplotlib  # noqa: E402

if "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")  # as a script, write files; Jupyter keeps its inline backend
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinygrad_seq as tg  # noqa: E402
import viz  # noqa: E402
from tinygrad_seq import functional as F  # noqa: E402
from tinygrad_seq import nn, optim  # noqa: E402
from tinygrad_seq.bptt import deep as deep_bptt  # noqa: E402
from viz import plots  # noqa: E402

FAST = os.environ.get("TGS_FAST") == "1"
SEED = int(os.environ.get("TGS_SEED", "0"))  # the first seed of every experiment
OUT = pathlib.Path("deep_rnns_out")
OUT.mkdir(exist_ok=True)
np.set_printoptions(precision=3, suppress=True, linewidth=110)
START = time.time()

# %% [markdown]
# ## 1. The models
#
# **Deep transition** (`nn.DeepTransitionRNN`, $L$ = `transition_layers`). The step $h(t-1) \to h(t)$ is an
# MLP of $L$ layers; the first reads $x(t)$ as well:
#
# $$z_1(t) = \tanh\big(b_1 + W_1^\top h(t-1) + U^\top x(t)\big), \qquad
#   z_k(t) = \tanh\big(b_k + W_k^\top z_{k-1}(t)\big), \qquad h(t) = z_L(t).$$
#
# With `shortcut=True` (Pascanu's DT(S)-RNN) the last layer also reads $h(t-1)$ directly,
# $a_L(t) = b_L + W_L^\top z_{L-1}(t) + W_s^\top h(t-1)$: a path from $h(t-1)$ to $h(t)$ through one
# nonlinearity, as in the plain RNN, beside the path through all $L$.
#
# **Deep output** (`nn.DeepOutputRNN`, $M$ = `output_layers`): $u_1(t) = \tanh(c_1 + V_1^\top h(t))$, ...,
# $o(t) = c_M + V_M^\top u_{M-1}(t)$. The MLP sits outside the recurrence, so no path through time gets
# longer. With `transition_layers=2, shortcut=True` it is Pascanu's DOT(S)-RNN, deep in both places.
#
# Both take `nn.RNN`'s arguments and return `output, h_n`; with one layer they *are* `nn.RNN` (and an
# `nn.Linear` readout), with the same state dict. Depth in the input needs no class: an MLP on $x(t)$ in
# front of the recurrent layer.

# %%
H = 16  # hidden units of every model in this lesson
D = 2  # inputs: one-hot bits


class DeepInputRNN(nn.Module):
    """Depth in the input-to-hidden transform: x(t) → tanh(W_x x(t) + b_x) → nn.RNN."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.embed = nn.Linear(input_size, hidden_size)
        self.rnn = nn.RNN(hidden_size, hidden_size, cell="fused")

    def forward(self, x):
        return self.rnn(self.embed(x).tanh())


tg.manual_seed(0)
shallow = nn.RNN(D, H)
deep_transition = nn.DeepTransitionRNN(D, H, transition_layers=2, shortcut=True)
deep_output = nn.DeepOutputRNN(D, H, output_size=2, output_layers=2)
for m in (shallow, deep_transition, deep_output):
    print(f"{m!r:70s} parameters: {[n for n, _ in m.named_parameters()]}")

x_demo = tg.randn(5, 3, D)
one_layer = nn.DeepTransitionRNN(D, H, transition_layers=1)
one_layer.load_state_dict(shallow.state_dict())  # strict: the same names and shapes as nn.RNN
gap = np.abs(one_layer(x_demo)[0].data - shallow(x_demo)[0].data).max()
print(f"DeepTransitionRNN(transition_layers=1) against nn.RNN with the same weights: max difference {gap:.1e}")
assert gap == 0.0, gap

# %% [markdown]
# Drawn by the library (three steps, a loss at every step): each time step is a box, and inside it the
# stages of the transition. Follow the blue arrows from $h$ at $t = 0$ into step 1: one goes into the
# matmul with `weight_hh_l0` ($W_1$) at the bottom of the MLP, and one into `shortcut` ($W_s$), which
# feeds `a_2` at the top directly.

# %%
tg.manual_seed(0)
picture_dt = nn.DeepTransitionRNN(D, 3, transition_layers=2, shortcut=True).name_parameters()
picture_readout = nn.Linear(3, 2).name_parameters()
out, _ = picture_dt(tg.randn(3, 1, D))
loss = F.cross_entropy(picture_readout(out).reshape(-1, 2), np.array([0, 1, 0]), reduction="sum")
viz.show(loss, OUT / "deep_transition_graph.png", title="DT(S)-RNN, L = 2: z_1 = tanh(W_1 h + U x + b_1), "
         "h = tanh(W_2 z_1 + W_s h + b_2)")

# %% [markdown]
# The deep output: the path from $h(t-1)$ to $h(t)$ is the plain RNN's, and two layers ($u_1$, then $o$)
# stand between each $h(t)$ and its loss.

# %%
tg.manual_seed(0)
picture_do = nn.DeepOutputRNN(D, 3, 2, output_layers=2).name_parameters()
out, _ = picture_do(tg.randn(3, 1, D))
loss = F.cross_entropy(out.reshape(-1, 2), np.array([0, 1, 0]), reduction="sum")
viz.show(loss, OUT / "deep_output_graph.png", title="DO-RNN, M = 2: u_1 = tanh(V_1 h + c_1), o = V_2 u_1 + c_2")

# %% [markdown]
# ## 2. How far back does a gradient reach?
#
# Count the nonlinear layers on the *shortest* path from $h(t-k)$ to $h(t)$: $k$ for the plain RNN, $k L$
# for the deep transition, $k$ again with the shortcut, and about $k/d$ for a recurrence that skips $d$ steps.
# Each layer multiplies the gradient by a factor $D W^\top$ whose norm is below one at the default
# initialisation (about 0.5–0.6 per layer here), so the gradient reaching back $k$ steps shrinks like
# $0.6^{\text{(path length)}}$.
#
# The lecture's fourth option makes paths shorter instead: **removing length-one connections**.
# `nn.DilatedRNN(dilation=d)` is the plain RNN with $h(t-1)$ replaced by $h(t-d)$,
# $h(t) = \tanh(b + W^\top h(t-d) + U^\top x(t))$: $d$ interleaved chains, each stepping $d$ at a time
# (`nn.TimeSkipRNN(skip=d, length_one=False)` is the same layer as an option of the skip-connection
# variant). A loss at the last step reaches only the steps of its own chain.
#
# At initialisation, on sequences of 30 random bits, with a loss at the last step only, we read
# $\|\partial L/\partial h(t)\|$ off the graph with `plots.hidden_gradient_norms`:

# %%
T_FLOW, DILATION = 30, 3
FLOW_MODELS = {
    "RNN": lambda: nn.RNN(D, H),
    "DT, L = 2": lambda: nn.DeepTransitionRNN(D, H, transition_layers=2),
    "DT, L = 3": lambda: nn.DeepTransitionRNN(D, H, transition_layers=3),
    "DT(S), L = 3": lambda: nn.DeepTransitionRNN(D, H, transition_layers=3, shortcut=True),
    f"dilated, d = {DILATION}": lambda: nn.DilatedRNN(D, H, dilation=DILATION),
}


def gradient_flow_at_init(seed):
    """{model: (t, ‖∂L/∂h(t)‖)} for a loss at the last step, and the factor kept per time step (last 4 links)."""
    rng = np.random.default_rng(seed)
    x = tg.tensor(np.eye(D)[rng.integers(0, D, (T_FLOW, 32))])
    y = rng.integers(0, 2, 32)
    curves, decay = {}, {}
    for name, make in FLOW_MODELS.items():
        tg.manual_seed(seed)
        layer, readout = make(), nn.Linear(H, 2)
        out, _ = layer(x)
        _, norms = plots.hidden_gradient_norms(F.cross_entropy(readout(out[-1]), y))
        ts = np.arange(1, len(norms) + 1)  # h(1) … h(T), as the lecture numbers them (the nn scopes count from 0)
        reached = norms > 0  # the dilated RNN's other chains get exactly nothing
        curves[name] = (ts[reached], norms[reached])
        g = norms[reached]
        steps = ts[reached][-1] - ts[reached][-5]  # four links of the chain back: 4 steps, or 4·d when dilated
        decay[name] = (g[-5] / g[-1]) ** (1 / steps)
    return curves, decay


tg.set_default_dtype(np.float64)  # float32 would round the deep transition's smallest gradients to 0
curves, decay = gradient_flow_at_init(SEED)
tg.set_default_dtype(np.float32)
for name, (ts, g) in curves.items():
    print(f"{name:14s} gradient kept per time step ≈ {decay[name]:.3f};  ‖∂L/∂h(t)‖ / ‖∂L/∂h({T_FLOW})‖ at "
          f"t = {ts[-6]:2d}: {g[-6] / g[-1]:.1e}   (steps reached: {len(ts)} of {T_FLOW})")
viz.show(plots.gradient_flow(curves, title="‖∂L/∂h(t)‖ at initialisation, loss at the last step only"),
         OUT / "gradient_flow_depth.png")

# %%
per_layer = decay["DT, L = 3"] ** (1 / 3)
assert decay["DT, L = 3"] < decay["DT, L = 2"] < decay["RNN"], decay
assert decay["DT, L = 3"] < 0.5 * decay["DT(S), L = 3"], \
    f"the shortcut should keep the deep transition's gradient alive: {decay}"
assert 0.6 * decay["RNN"] < decay["DT(S), L = 3"] < 1.5 * decay["RNN"], decay
assert abs(decay["DT, L = 3"] - decay["RNN"] ** 3) < 0.5 * decay["RNN"] ** 3 + 0.05, decay
assert decay[f"dilated, d = {DILATION}"] > 1.2 * decay["RNN"], decay
assert len(curves[f"dilated, d = {DILATION}"][0]) == T_FLOW // DILATION, curves[f"dilated, d = {DILATION}"][0]

# %% [markdown]
# Per time step the plain RNN keeps about 0.5–0.6 of the gradient; the deep transition keeps about that to the
# power $L$ (one factor per layer of the step); the shortcut brings it back to the plain RNN's rate, because
# the shortcut path has one layer per step and the longest-surviving path dominates. The dilated RNN keeps
# about the plain rate per *link* of its chain, $d$ time steps long, so per time step it keeps the $d$-th
# root of it — and the steps outside the chain get exactly nothing (the missing points).
#
# ## 3. The deep transition's BPTT by hand
#
# `tinygrad_seq.bptt.deep` writes the forward pass and BPTT of the deep transition in the lecture's notation,
# for a batch of sequences as rows ($a_1(t) = x(t) U + h(t-1) W_1 + b_1$, ...). The backward pass is the
# plain RNN's with one loop more, down the layers of each step:
#
# $$\nabla_{h(t)} L = V \nabla_{o(t)} L + W_1 \nabla_{a_1(t+1)} L + W_s \nabla_{a_L(t+1)} L, \qquad
#   \nabla_{a_L(t)} L = D_L(t) \nabla_{h(t)} L, \qquad
#   \nabla_{a_k(t)} L = D_k(t)\, W_{k+1} \nabla_{a_{k+1}(t)} L,$$
#
# with $D_k(t) = \mathrm{diag}(1 - z_k(t)^2)$, and every weight's gradient the sum over $t$ of (its input)
# $\times\,(\nabla$ of the pre-activation it feeds$)^\top$. Reading the first two formulas together, one step
# back in time multiplies by
#
# $$\frac{\partial h(t)}{\partial h(t-1)} = D_L W_L^\top D_{L-1} W_{L-1}^\top \cdots D_1 W_1^\top + D_L W_s^\top,$$
#
# $L$ factors $D W^\top$ in the first term and one in the shortcut's: what section 2 measured. `compare` runs
# the module through the engine and through these formulas on the same float64 weights:

# %%
tg.set_default_dtype(np.float64)
tg.manual_seed(SEED)
check_rnn = nn.DeepTransitionRNN(3, 5, transition_layers=3, transition_size=4, shortcut=True)
check_readout = nn.Linear(5, 3)
rng = np.random.default_rng(SEED)
x_check, y_check = rng.standard_normal((6, 2, 3)), rng.integers(0, 3, (6, 2))
report = deep_bptt.compare(check_rnn, check_readout, x_check, y_check)
print(report)
assert report.ok and report.max_rel_error < 1e-10, report


# %% [markdown]
# A derivation that forgets the shortcut's share of $\nabla_{h(t)} L$ (the term $W_s \nabla_{a_L(t+1)} L$) is
# caught, and at the right place: $\nabla_{h(T)} L$ has no term from step $T+1$ and is still right, the first
# wrong quantity is $\nabla_{h(T-1)} L$.


# %%
def forgets_the_shortcut(cache):
    import dataclasses

    return deep_bptt.backward(dataclasses.replace(cache, shortcut=False))


slip = deep_bptt.compare(check_rnn, check_readout, x_check, y_check, backward_fn=forgets_the_shortcut)
print(slip.rows[0], slip.first_disagreement, sep="\n")
assert not slip.ok and slip.rows[0].ok and slip.first_disagreement.label == "∇h(5) L", slip
tg.set_default_dtype(np.float32)

# %% [markdown]
# ## 4. One task, every model, the same budget
#
# **The task: delayed XOR.** The input is a stream of random bits $x(1), x(2), \ldots$; at every step the
# network must output, for each delay $k = 1 \ldots K$, the bit $x(t) \oplus x(t-k)$ (scored where
# $t - k \geq 1$). It needs memory ($K$ bits of the past, in order) and a nonlinear combination of the new bit
# with each stored one. The accuracy on delay $k$ tells how far back a model learned to reach.
#
# Every model gets $H = 16$ units per layer, Adam (learning rate 0.005), batches of 128 fresh sequences and the
# same number of steps; we score the held-out loss (mean cross-entropy over all delays, in nats; chance is
# $\ln 2 = 0.693$) and the accuracy per delay on 500 new sequences. The full run uses three seeds per model.

# %%
T_TASK, K = 20, 6
STEPS, SEEDS = (150, [SEED]) if FAST else (300, [SEED, SEED + 1, SEED + 2])
BATCH, LR = 128, 0.005


def xor_batch(n, rng):
    """x: (T, n, 2) one-hot bits; y: (T, n, K) with y[t, :, k−1] = x(t) ⊕ x(t−k), −100 (ignored) for t < k."""
    bits = rng.integers(0, 2, (T_TASK, n))
    y = np.full((T_TASK, n, K), -100)
    for k in range(1, K + 1):
        y[k:, :, k - 1] = bits[k:] ^ bits[:-k]
    return np.eye(2, dtype=np.float32)[bits], y


class Tagger(nn.Module):
    """A recurrent layer and a linear readout to 2K logits (two per delay); the deep-output models bring their own."""

    def __init__(self, layer, readout=True):
        super().__init__()
        self.layer = layer
        self.readout = nn.Linear(layer.hidden_size if hasattr(layer, "hidden_size") else H, 2 * K) if readout else None

    def forward(self, x):
        out, _ = self.layer(x)
        logits = out if self.readout is None else self.readout(out)
        return logits.reshape(x.shape[0], x.shape[1], K, 2)


# equal parameter count to DT(S) with H = 16 (and its readout): a wider shallow RNN, to separate depth from size
H_WIDE = 26
MODELS = {
    "RNN": lambda: Tagger(nn.RNN(D, H, cell="fused")),
    f"RNN, H = {H_WIDE}": lambda: Tagger(nn.RNN(D, H_WIDE, cell="fused")),
    "deep input": lambda: Tagger(DeepInputRNN(D, H)),
    "stacked ×2": lambda: Tagger(nn.RNN(D, H, num_layers=2, cell="fused")),
    "stacked ×2, residual": lambda: Tagger(nn.DeepRNN(D, H, num_layers=2, mode="RNN", residual=True, cell="fused")),
    "DT": lambda: Tagger(nn.DeepTransitionRNN(D, H, transition_layers=2)),
    "DT(S)": lambda: Tagger(nn.DeepTransitionRNN(D, H, transition_layers=2, shortcut=True)),
    "DO": lambda: Tagger(nn.DeepOutputRNN(D, H, 2 * K, output_layers=2), readout=False),
    "DOT(S)": lambda: Tagger(nn.DeepOutputRNN(D, H, 2 * K, output_layers=2, transition_layers=2, shortcut=True),
                             readout=False),
    "LSTM ×2": lambda: Tagger(nn.LSTM(D, H, num_layers=2, cell="fused")),
    "depth-gated LSTM ×2": lambda: Tagger(nn.DepthGatedLSTM(D, H, num_layers=2)),
}
FAST_MODELS = ["RNN", "stacked ×2", "DT", "DT(S)", "DOT(S)"]
RUN = FAST_MODELS if FAST else list(MODELS)


def n_params(model):
    return sum(p.data.size for p in model.parameters())


def train(name, seed):
    """Train one model with the shared budget: (held-out loss, accuracy per delay (K,), training losses)."""
    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = MODELS[name]()
    opt = optim.Adam(model.parameters(), lr=LR)
    losses = []
    for _ in range(STEPS):
        xb, yb = xor_batch(BATCH, rng)
        loss = F.cross_entropy(model(tg.tensor(xb)).reshape(-1, 2), yb.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    xb, yb = xor_batch(500, np.random.default_rng(10_000 + seed))
    with tg.no_grad():
        logits = model(tg.tensor(xb))
    held_out = F.cross_entropy(logits.reshape(-1, 2), yb.reshape(-1), ignore_index=-100).item()
    pred = logits.data.argmax(-1)
    acc = np.array([(pred[k:, :, k - 1] == yb[k:, :, k - 1]).mean() for k in range(1, K + 1)])
    return held_out, acc, np.array(losses), n_params(model)


results = {}
print(f"{STEPS} Adam steps, batch {BATCH}, seeds {SEEDS}; held-out loss (chance 0.693) and accuracy per delay k")
for name in RUN:
    t0 = time.time()
    runs = [train(name, s) for s in SEEDS]
    results[name] = dict(loss=np.array([r[0] for r in runs]), acc=np.array([r[1] for r in runs]),
                         curves=np.array([r[2] for r in runs]), params=runs[0][3])
    r = results[name]
    print(f"{name:22s} {r['params']:5d} params   loss {' '.join(f'{v:.3f}' for v in r['loss'])}   "
          f"accuracy by delay {r['acc'].mean(axis=0)}   ({time.time() - t0:.1f} s)")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw=dict(width_ratios=[1.3, 1]))
names = list(results)
means = [results[n]["loss"].mean() for n in names]
ax1.barh(range(len(names)), means, color=["C3" if n == "DT" else "C2" if "(S)" in n else "C0" for n in names])
for i, n in enumerate(names):
    ax1.plot(results[n]["loss"], [i] * len(SEEDS), "k.", markersize=4)
ax1.set_yticks(range(len(names)), names, fontsize=8)
ax1.invert_yaxis()
ax1.set_xlabel("held-out loss (nats; bars: mean, dots: seeds)")
ax1.set_title("delayed XOR, the same budget for every model")
for n in [n for n in ("RNN", "DT", "DT(S)", "stacked ×2", "DOT(S)") if n in results]:
    ax2.plot(range(1, K + 1), results[n]["acc"].mean(axis=0), marker="o", label=n)
lowest = min(results[n]["acc"].mean(axis=0).min() for n in results)
if lowest < 0.55:
    ax2.axhline(0.5, color="0.5", linestyle=":", linewidth=1, label="chance")
ax2.set_xlabel("delay k")
ax2.set_ylabel("held-out accuracy on x(t) ⊕ x(t−k)")
ax2.set_ylim(max(0.45, lowest - 0.03), 1.01)
ax2.legend(fontsize=8)
fig.tight_layout()
viz.show(fig, OUT / "task_comparison.png")

curves_dt = {n: results[n]["curves"].mean(axis=0) for n in ("RNN", "DT", "DT(S)") if n in results}
fig = plots.training_curves(curves_dt, ylabel="training loss (nats)", smooth=10,
                            title="deep transition with and without the shortcut (mean of the seeds)")
viz.show(fig, OUT / "training_dt.png")

# %%
loss_of = {n: results[n]["loss"].mean() for n in results}
print({n: round(v, 3) for n, v in loss_of.items()})
assert loss_of["DT(S)"] < loss_of["DT"] - 0.04, f"the shortcut should make the deep transition trainable: {loss_of}"
assert loss_of["stacked ×2"] < loss_of["RNN"] - 0.03, f"stacking should beat the shallow RNN: {loss_of}"
assert loss_of["DOT(S)"] < loss_of["RNN"] - 0.05, f"deep in transition (with shortcut) and output: {loss_of}"
assert loss_of["DOT(S)"] < loss_of["DT"] - 0.04, loss_of


def steps_to(curve, level=0.4, window=10):
    """The first step at which the moving average of the training loss is below ``level`` (None if never)."""
    smooth = np.convolve(curve, np.ones(window) / window, "valid")
    return int(np.argmax(smooth < level)) + window if (smooth < level).any() else None


speed = {n: [steps_to(c) for c in results[n]["curves"]] for n in results}
print("steps until the training loss falls below 0.4 (moving average of 10):", speed)
assert all(s is not None for s in speed["DT(S)"]), speed
assert np.mean(speed["DT(S)"]) < np.mean([s or STEPS for s in speed["DT"]]) - 10, f"the shortcut trains faster: {speed}"
if not FAST:  # the models only the full run trains, and facts that need its longer training
    assert loss_of["DT"] > loss_of["RNN"] - 0.01, f"without the shortcut, the deeper step gains nothing: {loss_of}"
    assert results["DT"]["acc"][:, -1].mean() < results["DT(S)"]["acc"][:, -1].mean() - 0.1, "the longest delay"
    assert loss_of["stacked ×2, residual"] < loss_of["stacked ×2"], loss_of
    assert loss_of["DO"] < loss_of["RNN"] - 0.01, loss_of
    assert abs(loss_of["deep input"] - loss_of["RNN"]) < 0.04, loss_of
    assert loss_of[f"RNN, H = {H_WIDE}"] < loss_of["DT(S)"] + 0.02, f"width does as well as depth here: {loss_of}"

# %% [markdown]
# What the numbers say (the full run, three seeds per model; `TGS_FAST=1` trains five of the models for half
# as long). With seeds 0–2 the mean held-out losses were: plain RNN 0.099, DT 0.160, DT(S) 0.043, stacked
# 0.036, stacked with residual 0.016, deep output 0.063, DOT(S) 0.014, deep input 0.097, wide RNN 0.029
# (seeds 3–5: 0.104, 0.109, 0.049, 0.028, 0.019, 0.041, 0.035, 0.108, 0.026).
#
# * **The deep transition without the shortcut gains nothing from its deeper step.** Its step is more powerful
#   than the plain RNN's and it has more parameters, yet with the same budget its loss is no lower (higher for
#   some seeds), it comes down from the initial plateau more slowly than DT(S) (the training curves), and it
#   reaches least far back: its accuracy on the longest delay is the lowest of all. This is section 2's
#   path-lengthening effect at work: the gradient that would teach it to keep $x(t-6)$ crosses twelve tanh
#   layers.
# * **The shortcut repairs it**: DT(S) has the plain RNN's short path *and* the deeper step, and beats both.
# * **Depth off the path through time needs no shortcut.** Stacking helps (and a residual connection between
#   the layers, `nn.DeepRNN`, helps more), the deep output helps, and DOT(S), deep in its transition (with
#   the shortcut) and in its output, is among the best. The deep input changes nothing here: there is
#   nothing to transform in a single bit.
# * **Is it just more parameters?** The wide shallow RNN ($H = 26$, as many parameters as DT(S)) does as well
#   as DT(S) on this task, which needs memory more than a complicated step. Pascanu et al.'s gains from deep
#   transitions were on polyphonic music and language, where the step itself is complicated.
#
# ## 5. The depth-gated LSTM
#
# Stacking has a path-length problem of its own, *up* the stack: the gradient from the top layer reaches
# layer 0 through every layer's $o \odot \tanh'$ and $W_{ih}$. Yao, Cohn, Vylomova, Duh and Dyer (2015)
# join the *cells* of adjacent layers by a gate, the **depth gate** $d$:
#
# $$d^{(l)}(t) = \sigma\big(b_d + W_d\, x^{(l)}(t) + w_c \odot c^{(l)}(t-1) + w_l \odot c^{(l-1)}(t)\big), \qquad
#   c^{(l)}(t) = f \odot c^{(l)}(t-1) + i \odot g + d \odot c^{(l-1)}(t),$$
#
# with $x^{(l)}(t) = h^{(l-1)}(t)$, the input of layer $l$. The cell of the layer below flows up linearly,
# scaled by $d$, just as the forget gate lets the cell flow on in time. With $d = 0$ (`bias_depth_l1` very
# negative) `nn.DepthGatedLSTM` is `nn.LSTM(num_layers=...)`, with the same state dict.
#
# How much gradient reaches the bottom layer's weights, at initialisation, from a loss on the top layer's last
# output, as the stack grows (the residual `nn.DeepRNN` is the other way around the problem):

# %%
LAYERS = (1, 2, 4, 6) if FAST else (1, 2, 3, 4, 6, 8)
STACKS = {
    "LSTM": lambda n: nn.LSTM(D, H, num_layers=n, cell="fused"),
    "depth-gated LSTM": lambda n: nn.DepthGatedLSTM(D, H, num_layers=n),
    "LSTM + residual": lambda n: nn.DeepRNN(D, H, num_layers=n, mode="LSTM", residual=True, cell="fused"),
}
rng = np.random.default_rng(SEED)
x_stack = tg.tensor(np.eye(D, dtype=np.float32)[rng.integers(0, D, (T_TASK, 32))])
y_stack = rng.integers(0, 2, 32)
bottom = {name: [] for name in STACKS}
for n in LAYERS:
    for name, make in STACKS.items():
        tg.manual_seed(SEED)
        layer, readout = make(n), nn.Linear(H, 2)
        out, _ = layer(x_stack)
        F.cross_entropy(readout(out[-1]), y_stack).backward()
        bottom[name].append(float(np.linalg.norm(layer.weight_ih_l0.grad.data)))
for name, g in bottom.items():
    print(f"{name:17s} ‖∂L/∂W_ih of layer 0‖ for {LAYERS} layers: " + "  ".join(f"{v:.1e}" for v in g))

fig, ax = plt.subplots(figsize=(5.5, 3.6))
for name, g in bottom.items():
    ax.semilogy(LAYERS, g, marker="o", label=name)
ax.set_xlabel("number of stacked layers")
ax.set_ylabel("‖∂L/∂W_ih of layer 0‖")
ax.set_title("gradient reaching the bottom of the stack (at initialisation)")
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
viz.show(fig, OUT / "depth_gate_gradient.png")

# %%
lstm_drop = bottom["LSTM"][0] / bottom["LSTM"][-1]
gated_drop = bottom["depth-gated LSTM"][0] / bottom["depth-gated LSTM"][-1]
print(f"from 1 to {LAYERS[-1]} layers the gradient at the bottom falls {lstm_drop:.0f}× in the stacked LSTM, "
      f"{gated_drop:.1f}× with the depth gate")
assert lstm_drop > 100, bottom
assert gated_drop < 10 and gated_drop < lstm_drop / 20, bottom
assert bottom["depth-gated LSTM"][-1] > 20 * bottom["LSTM"][-1], bottom
if "depth-gated LSTM ×2" in results:
    dg, plain = results["depth-gated LSTM ×2"], results["LSTM ×2"]
    print(f"on the task with two layers: depth-gated LSTM loss {dg['loss'].mean():.3f}, stacked LSTM "
          f"{plain['loss'].mean():.3f}")
    assert dg["acc"].mean() > 0.9, dg["acc"]  # it learns the task

# %% [markdown]
# In the stacked LSTM the gradient at the bottom falls by orders of magnitude as layers are added (about
# 24,000× from one layer to eight, seed 0); with the depth gate it falls by a few times at most: the gated
# cell-to-cell path is to depth what the forget gate is to time. On our two-layer task both LSTMs learn and the
# depth gate gives no clear advantage (the two rows in section 4): its benefit is for deep stacks, such as the
# translation and language models Yao et al. trained. (It also costs speed: `nn.DepthGatedLSTM` runs op by
# op, where the stacked `nn.LSTM` here uses the fused cell.)

# %%
print(f"total time {time.time() - START:.0f} s")

# %% [markdown]
# ## Summary
#
# * A step of an RNN can be deep in three places: input-to-hidden, hidden-to-hidden (deep transition) and
#   hidden-to-output (deep output); stacking layers is a fourth kind of depth.
# * Depth inside the transition multiplies every path through time: $L$ layers per step, so gradients vanish
#   about $L$ times faster in the exponent. A shortcut from $h(t-1)$ to $h(t)$ around the extra layers restores
#   the plain RNN's path; with it the deep transition beats the plain RNN, without it it is no better and
#   reaches less far back.
# * Depth that is not on the path through time (input, output, stacking) costs no memory span; a residual or a
#   gated connection (the depth gate) does for the path *up* a stack what the shortcut does for time.
# * Removing length-one connections (a dilated recurrence) shortens paths through time by the dilation $d$, at
#   the price of $d$ chains that do not talk to each other.
#
# ## Exercises
#
# 1. Rerun section 4 with $K = 8$ and with transition_layers = 3 for DT and DT(S). Does the gap between them
#    grow as section 2 predicts? Predict the gradient kept per step for $L = 3$ from the plain RNN's, then check.
# 2. Give the DT-RNN a better start instead of a shortcut: scale `weight_transition_2` so that each layer keeps
#    the gradient's norm (what gain does tanh need?). Does it then train like DT(S)?
# 3. Add `output_shortcut=True` to the DO model. On this task, does the deep output need its shortcut? Why is
#    the answer different from the deep transition's?
# 4. The dilated RNN's chains never exchange information. Stack `nn.DilatedRNN` layers with $d$ = 1, 2, 4 (Chang
#    et al. 2017) and train them on the task with K = 8. Compare with `nn.TimeSkipRNN(skip=4)`, which keeps the
#    length-one connection.
# 5. Derive $\nabla_{W_s} L$ yourself and write it into a copy of `bptt/deep.py`'s `backward`;
#    `deep_bptt.compare(..., backward_fn=yours)` tells you where you went wrong, if you did.
# 6. Train 4-layer stacks of `nn.LSTM` and `nn.DepthGatedLSTM` on the task. Plot their training curves. Where
#    does the depth gate end up open (read `depth_gate` off the graph with `plots.gate_values(...,
#    gates=("depth_gate",))`)?
