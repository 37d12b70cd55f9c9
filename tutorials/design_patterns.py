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
# # Design patterns of recurrent networks
#
# One recurrent layer, wired five ways. The lecture's design patterns differ in what goes in, what comes out
# and, above all, in *which arrows cross from one time step to the next*. That last choice decides what a
# network can compute, how far information and gradients must travel, and whether training has to run step
# after step. Each section draws the unrolled graph of a pattern, trains it on a small generated task that
# needs it, and asserts what it shows:
#
# 1. **many-to-one**: read a whole sequence, give one label (sequence classification);
# 2. **one-to-many**: unroll one fixed vector x into a sequence, with x fed at every step, or only through h(0);
# 3. **hidden-to-hidden versus output-to-hidden recurrence** (the lecture's "comparing two models"): which is
#    more powerful, and which trains in parallel with teacher forcing;
# 4. **bidirectional**: outputs that depend on the past *and* the future of the input;
# 5. **encoder–decoder**: a sequence in, a sequence of another length out.
#
# What to know first: the vanilla RNN $h(t) = \tanh(b + W h(t-1) + U x(t))$, $o(t) = c + V h(t)$ and BPTT
# (`tutorials/bptt_by_hand.py`), and how `viz` draws an unrolled graph (`tutorials/viz_unrolled_graphs.py`).
# The models are in `tinygrad_seq.nn.patterns`; each takes time-major input, (T, B, features) or token ids (T, B).
#
# Run it as a script (`python tutorials/design_patterns.py`: every experiment from three seeds, about a minute
# on a busy 2-core machine; `TGS_FAST=1`: one seed, well under a minute) or open it as a notebook with jupytext.
# `TGS_SEED=n` starts from seed n instead of 0; every margin asserted below was checked for seeds 0–5 at
# both sizes. Pictures go to `design_patterns_out/`.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # tiny matrices: BLAS threads only get in each other's way

import itertools  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import tinygrad_seq as tg  # noqa: E402
import viz  # noqa: E402
from tinygrad_seq import functional as F  # noqa: E402
from tinygrad_seq import nn, optim  # noqa: E402
from tinygrad_seq.nn.patterns import sequence_cross_entropy  # noqa: E402
from tinygrad_seq.tasks import Seq2SeqData, Vocabulary  # noqa: E402
from tinygrad_seq.translation import evaluate_translation, train_translation  # noqa: E402

FAST = os.environ.get("TGS_FAST") == "1"
SEED = int(os.environ.get("TGS_SEED", "0"))
SEEDS = [SEED] if FAST else [SEED, SEED + 1, SEED + 2]  # full size: every experiment from three seeds
OUT = pathlib.Path("design_patterns_out")
OUT.mkdir(exist_ok=True)
np.set_printoptions(precision=3, suppress=True, linewidth=110)
START = time.time()
RESULTS = {}  # every number the lesson asserts, one per seed, printed together at the end


def fit(model, batch, loss_fn, steps, lr=0.01, seed=SEED):
    """Adam on fresh batches from ``batch(rng)``, gradients clipped to norm 1; returns the losses."""
    rng = np.random.default_rng(seed)
    opt = optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn(model, *batch(rng))
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    return losses


def cross_time_edges(graph):
    """Edges of a viz drawing whose ends lie in different time steps of one sequence: the recurrence."""
    return [e for e in graph.graph.edges if e.cross_time]


# %% [markdown]
# ## 1. Many-to-one: sequence classification
#
# The network reads x(1) … x(T) and only its last state is read out: $o = c + V h(T)$, one label per sequence.
# `nn.SequenceClassifier` is a recurrent layer and a `Linear` on $h(T)$. Drawn for T = 4 (a vanilla RNN, so
# each step is one `tanh`), the loss hangs from the last step alone; every earlier step reaches it only
# through the chain of $h$'s.

# %%
tg.manual_seed(0)
tiny = nn.SequenceClassifier(3, 3, 2, rnn="RNN")
loss = F.cross_entropy(tiny(tg.tensor(np.eye(3, dtype=np.float32)[[0, 2, 1, 0]][:, None], name="x")), np.array([1]))
graph = viz.draw(loss, title="many-to-one: the loss reads h(T) only")
viz.show(graph, OUT / "many_to_one.svg")
steps_read_out = {graph.graph.nodes[e.src].step[1] for e in graph.graph.edges
                  if graph.graph.nodes[e.src].step is not None and graph.graph.nodes[e.dst].step is None}
print("time steps with an edge out of the recurrence:", steps_read_out)
assert steps_read_out == {4}, f"only h(T), T = 4, should feed the classifier, got steps {steps_read_out}"

# %% [markdown]
# The task: does the sequence contain the symbol *a* immediately followed by *b*? Ten symbols from
# {a, b, c, d}; about half the sequences do. Counting symbols is not enough, since *ba* does not count: the
# network must notice an order, remember that it saw it, and keep it until the end. A small MLP on the symbol
# counts is the order-blind baseline.

# %%
V_AB, T_AB = 4, 10


def contains_ab(rng, B=32):
    s = rng.integers(0, V_AB, (T_AB, B))
    y = ((s[:-1] == 0) & (s[1:] == 1)).any(axis=0).astype(np.int64)
    return np.eye(V_AB, dtype=np.float32)[s], y


class CountsClassifier(nn.Module):
    """The order-blind baseline: a small MLP on how often each symbol occurs."""

    def __init__(self):
        super().__init__()
        self.hidden, self.out = nn.Linear(V_AB, 32), nn.Linear(32, 2)

    def forward(self, x):
        return self.out(self.hidden(x.sum(0)).tanh())


x_test, y_test = contains_ab(np.random.default_rng(1000), B=2000)
majority = max(y_test.mean(), 1 - y_test.mean())
acc_m2o, acc_counts = [], []
for seed in SEEDS:
    for make, scores in ((lambda: nn.SequenceClassifier(V_AB, 32, 2, rnn="GRU", cell="fused"), acc_m2o),
                         (CountsClassifier, acc_counts)):
        tg.manual_seed(seed)
        model = make()
        fit(model, contains_ab, lambda m, x, y: F.cross_entropy(m(x), y), 200 if FAST else 500, seed=seed)
        with tg.no_grad():
            scores.append((model(x_test).data.argmax(-1) == y_test).mean())
    print(f"seed {seed}: held-out accuracy, recurrent classifier {acc_m2o[-1]:.3f}, counts only {acc_counts[-1]:.3f}"
          f"   (always the more frequent class: {majority:.3f})")
RESULTS["many-to-one, contains 'ab'"] = acc_m2o
RESULTS["many-to-one, counts-only baseline"] = acc_counts
assert min(acc_m2o) > 0.95 and min(acc_m2o) > max(acc_counts) + 0.15, (acc_m2o, acc_counts)

# %% [markdown]
# ## 2. One-to-many: a fixed vector unrolled into a sequence
#
# The reverse direction: one vector x (an image's features, a class, a code) and a sequence out. The lecture
# gives the ways in which x can enter (`nn.OneToMany(..., condition=...)`):
#
# | condition | equations | |
# |---|---|---|
# | `"input"` | $h(t) = \tanh(b + W h(t-1) + R\,x)$, $h(0) = 0$ | x is an extra input at every step |
# | `"initial_state"` | $h(0) = \tanh(W_0 x + b_0)$, $h(t) = \tanh(b + W h(t-1))$ | x only through the initial state |
# | `"both"` | $h(0) = \tanh(W_0 x + b_0)$, $h(t) = \tanh(b + W h(t-1) + R\,x)$ | both |
#
# and $y(t) = c + V h(t)$. Read the first row again: $R\,x$ is the same at every step, so x *chooses the
# bias*, that is which dynamical system runs. In the second row the recurrence has no input at all
# (`nn.AutonomousRNN`): one fixed system, and x only chooses where it starts. Their graphs, T = 3:

# %%
tg.manual_seed(0)
for condition in ("input", "initial_state"):
    tiny = nn.OneToMany(2, 3, 1, rnn="RNN", condition=condition)
    loss = F.mse_loss(tiny(tg.tensor([[0.5, -1.0]], name="x"), steps=3), tg.zeros(3, 1, 1))
    viz.show(viz.draw(loss, title=f"one-to-many, condition={condition!r}"), OUT / f"one_to_many_{condition}.svg")

# %% [markdown]
# With `"input"` the projection of x (`x_proj`) feeds every step; with `"initial_state"` x goes into
# `initial_state` → `h_0`, and from then on only the constant `bias` and $h(t-1)$ enter each step.
#
# The task: x is one of four one-hot codes; the target is $\sin(\omega_k t)$, t = 1 … 20, with
# $\omega_k \in \{0.3, 0.6, 0.9, 1.2\}$. The same vanilla RNN (hidden size 32) learns it each way.

# %%
FREQS, T_SINE = np.array([0.3, 0.6, 0.9, 1.2]), 20
TS = np.arange(1, T_SINE + 1)


def sine_batch(rng, B=32):
    k = rng.integers(0, len(FREQS), B)
    y = np.sin(FREQS[k][None, :] * TS[:, None])[:, :, None].astype(np.float32)
    return np.eye(len(FREQS), dtype=np.float32)[k], y


codes = np.eye(len(FREQS), dtype=np.float32)
waves = np.sin(FREQS[None, :] * TS[:, None])  # (T, 4): the four targets
one_to_many = {}  # (condition, seed) → (trained model, its four sequences (T, 4))
for condition in ("input", "initial_state", "both"):
    for seed in SEEDS:
        tg.manual_seed(seed)
        model = nn.OneToMany(len(FREQS), 32, 1, rnn="RNN", cell="fused", condition=condition)
        fit(model, sine_batch, lambda m, c, y: F.mse_loss(m(c, steps=T_SINE), tg.tensor(y)), 300 if FAST else 800,
            seed=seed)
        with tg.no_grad():
            one_to_many[condition, seed] = model, model(codes, steps=T_SINE).data[:, :, 0]
    mse = [float(((one_to_many[condition, seed][1] - waves) ** 2).mean()) for seed in SEEDS]
    print(f"condition={condition!r:16}  mean squared error " + ", ".join(f"{m:.5f}" for m in mse)
          + f"   (predicting 0: {(waves ** 2).mean():.3f})")
    RESULTS[f"one-to-many, x {condition}, MSE"] = mse
    assert max(mse) < 0.01, f"one-to-many with condition={condition!r}: MSE {mse}"

fig = Figure(figsize=(12, 2.8), layout="constrained")
for k, ax in enumerate(fig.subplots(1, len(FREQS), sharey=True)):
    ax.plot(TS, waves[:, k], color="0.6", linewidth=4, label="target")
    for condition, style in (("input", "-"), ("initial_state", "--"), ("both", ":")):
        ax.plot(TS, one_to_many[condition, SEED][1][:, k], style, label=f"x {condition}")
    ax.set_title(f"ω = {FREQS[k]}")
    ax.set_xlabel("t")
fig.axes[0].legend(fontsize=8, loc="lower left")
fig.suptitle("one-to-many: the sequence generated from each of the four codes")
viz.show(fig, OUT / "one_to_many_sines.png")

# %% [markdown]
# All three ways solve it. Where they differ is the path from x to a late output. Fed at every step, x is one
# step away from every $y(t)$; through $h(0)$ it is t steps away, and the gradient $\partial y(t)/\partial x$
# is a product of t Jacobians of the recurrence, which shrinks geometrically in a freshly initialised vanilla
# RNN (the long-term dependency problem, met in a new place). After training the autonomous network has
# learned to keep what x told it alive: its Jacobians now sit near the edge of stability.

# %%


def input_gradient_norms(model):
    """‖∂y(t)/∂x‖ for t = 1 … T, for the first code."""
    x = tg.tensor(codes[:1], requires_grad=True)
    y = model(x, steps=T_SINE)
    return np.array([np.linalg.norm(tg.grad(y[t].sum(), x, retain_graph=True)[0].data) for t in range(T_SINE)])


curves = {}
for condition in ("input", "initial_state"):
    tg.manual_seed(SEED)
    fresh = nn.OneToMany(len(FREQS), 32, 1, rnn="RNN", condition=condition)
    curves[f"x {condition}, untrained"] = (TS, input_gradient_norms(fresh))
    curves[f"x {condition}, trained"] = (TS, input_gradient_norms(one_to_many[condition, SEED][0]))
fig = Figure(figsize=(6, 3.4), layout="constrained")
ax = fig.subplots()
for name, (ts, g) in curves.items():
    print(f"{name:28} ‖∂y(t)/∂x‖ at t = 1, 10, 20: {g[0]:.2e} {g[9]:.2e} {g[19]:.2e}")
    ax.semilogy(ts, g, "-" if "input" in name else "--", marker="o", markersize=3, label=name,
                alpha=0.45 if "untrained" in name else 1.0)
ax.set_xlabel("time step t")
ax.set_xticks([1, 5, 10, 15, 20])  # whole steps, numbered from 1
ax.set_ylabel("‖∂y(t)/∂x‖")
ax.set_title("how strongly x reaches the output at step t")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
viz.show(fig, OUT / "one_to_many_gradients.png")
g_input, g_h0 = curves["x input, untrained"][1], curves["x initial_state, untrained"][1]
assert g_h0[-1] < 1e-2 * g_h0[0], f"through h(0) the gradient should vanish with t: {g_h0[0]:.2e} → {g_h0[-1]:.2e}"
assert g_input[-1] > 0.3 * g_input[0], f"fed at every step, x stays close: {g_input[0]:.2e} → {g_input[-1]:.2e}"

# %% [markdown]
# ## 3. Comparing two models: hidden-to-hidden versus output-to-hidden recurrence
#
# The lecture sets two sequence-to-sequence RNNs side by side. Both have the same input-to-hidden and
# hidden-to-output weights; they differ in where the recurrence starts:
#
# * **hidden-to-hidden** (the RNN of every other lesson): $a(t) = b + W h(t-1) + U x(t)$;
# * **output-to-hidden** (`nn.OutputToHiddenRNN`): $a(t) = b + W\,y(t-1) + U x(t)$;
#
# with $h(t) = \tanh a(t)$, $o(t) = c + V h(t)$, $\hat y(t) = \operatorname{softmax} o(t)$ in both. In the second,
# what stands for $y(t-1)$ is the *true* previous output during training (**teacher forcing**) and the
# model's own output at test time (free running). Three graphs, T = 4: the hidden-to-hidden RNN, the
# output-to-hidden RNN with teacher forcing, and the same free running, its own $\hat y(t-1)$ fed back:

# %%
T_PIC = 4
tg.manual_seed(0)
x_pic = tg.tensor(np.random.default_rng(0).standard_normal((T_PIC, 1, 2)), dtype=np.float32, name="x")
y_pic = np.array([[0], [1], [1], [0]])
h2h_rnn, h2h_readout = nn.RNN(2, 3), nn.Linear(3, 2)
o2h_tiny = nn.OutputToHiddenRNN(2, 3, 2)
pictures = {
    "hidden_to_hidden": h2h_readout(h2h_rnn(x_pic)[0]),
    "output_to_hidden_teacher_forcing": o2h_tiny(x_pic, y_pic),
    "output_to_hidden_free_running": o2h_tiny(x_pic, feedback="softmax"),
}
crossing = {}
for name, logits in pictures.items():
    graph = viz.draw(sequence_cross_entropy(logits, y_pic), title=name.replace("_", " "))
    viz.show(graph, OUT / f"{name}.svg")
    crossing[name] = [(graph.graph.nodes[e.src].title, graph.graph.nodes[e.dst].step[1])
                      for e in cross_time_edges(graph)]
    print(f"{name:34} edges from one step into a later one: {crossing[name]}")

# %% [markdown]
# The blue sideways arrows are the recurrence. In the hidden-to-hidden RNN, $h(t-1)$ enters step t: step t
# cannot start before step t − 1 has finished, in the forward pass and again in the backward one (BPTT).
# Teacher forcing cuts every such arrow: step t reads $x(t)$ and the target $y(t-1)$, both known before
# training starts, so **no arrow joins two steps**. Free running puts them back, from $o(t-1)$ to $y_{prev}(t)$.

# %%
assert len(crossing["hidden_to_hidden"]) == T_PIC - 1, crossing["hidden_to_hidden"]
assert crossing["output_to_hidden_teacher_forcing"] == [], crossing["output_to_hidden_teacher_forcing"]
assert len(crossing["output_to_hidden_free_running"]) == T_PIC - 1, crossing["output_to_hidden_free_running"]

# %% [markdown]
# (Free running with the default `feedback="argmax"`, which feeds back the one-hot vector of the most likely
# class, draws no arrow either: a choice has no gradient. The steps still wait for each other in the forward
# pass; only the gradient's path is cut.)

# %%
argmax_graph = viz.draw(sequence_cross_entropy(o2h_tiny(x_pic), y_pic))
print("free running with feedback='argmax': edges between steps:", len(cross_time_edges(argmax_graph)))
assert cross_time_edges(argmax_graph) == []

# %% [markdown]
#
# Since the teacher-forced steps are independent, they need no loop at all: the T steps of B sequences are one
# batch of T·B rows. `parallel=True` computes them that way, in one product per weight:

# %%
x_par = tg.randn(30, 16, 2)
y_par = np.random.default_rng(0).integers(0, 2, (30, 16))
looped, at_once = o2h_tiny(x_par, y_par), o2h_tiny(x_par, y_par, parallel=True)
gap = float(np.abs(looped.data - at_once.data).max())
print(f"30 steps one by one vs all 480 rows at once: largest difference {gap:.1e}")
assert gap < 1e-6, gap
graph = viz.draw(sequence_cross_entropy(o2h_tiny(x_pic, y_pic, parallel=True), y_pic),
                 title="output-to-hidden, teacher forcing, parallel=True: all steps are one batch")
viz.show(graph, OUT / "output_to_hidden_parallel.svg")

# %% [markdown]
# The hidden-to-hidden RNN has no such shortcut: $h(t)$ needs $h(t-1)$, whatever we know about the targets.
# That is the first half of the comparison: **the output-to-hidden model trains in parallel** (on a GPU, in
# one step instead of T), the hidden-to-hidden one must run BPTT through time.
#
# The price is the second half: **the output-to-hidden model is less powerful.** Everything it carries from
# the past must pass through $y(t-1)$, the K numbers of its output, which are trained to be a prediction and
# not a memory. Two tasks on random bits x(t) make this concrete:
#
# * **echo**: $y(t) = x(t-1)$. The hidden-to-hidden RNN stores x(t−1) in h. The output-to-hidden one at
#   step t holds x(t) and $y(t-1) = x(t-2)$, and x(t−1) is independent of both: it cannot beat a coin.
# * **running parity**: $y(t) = x(1) \oplus \dots \oplus x(t)$. Here the output *is* the state,
#   $y(t) = x(t) \oplus y(t-1)$, so the output-to-hidden model only has to learn the XOR of two bits.
#
# Both models have hidden size 16 and train with Adam; the output-to-hidden model with teacher forcing
# (`parallel=True`), the hidden-to-hidden one with BPTT. Both are tested free running on fresh sequences.

# %%
T_BITS, H_BITS = 10, 16


def bits_task(task):
    def batch(rng, B=32):
        bits = rng.integers(0, 2, (T_BITS, B))
        if task == "echo":
            y = np.vstack([np.zeros((1, B), np.int64), bits[:-1]])
        else:
            y = np.cumsum(bits, axis=0) % 2
        return np.eye(2, dtype=np.float32)[bits], y
    return batch


class HiddenToHidden(nn.Module):
    """h(t) = tanh(b + W h(t−1) + U x(t)), o(t) = c + V h(t): nn.RNN and a readout."""

    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, cell="fused")
        self.readout = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        return self.readout(self.rnn(x)[0])


def train_bits(kind, task, steps, seed):
    tg.manual_seed(seed)
    if kind == "hidden-to-hidden":
        model = HiddenToHidden(2, H_BITS, 2)
        losses = fit(model, bits_task(task), lambda m, x, y: sequence_cross_entropy(m(x), y), steps, lr=0.03,
                     seed=seed)
    else:
        model = nn.OutputToHiddenRNN(2, H_BITS, 2)
        losses = fit(model, bits_task(task), lambda m, x, y: sequence_cross_entropy(m(x, y, parallel=True), y),
                     steps, lr=0.03, seed=seed)
    x, y = bits_task(task)(np.random.default_rng(2000), B=4000)  # large: the steps of a sequence are correlated
    with tg.no_grad():  # step 0 of the echo has no x(t−1) to repeat: score steps 1 … T−1
        free = (model(x).data.argmax(-1) == y)[1:].mean()  # no targets: its own outputs fed back
        forced = (model(x, y).data.argmax(-1) == y)[1:].mean() if kind == "output-to-hidden" else np.nan
    return model, losses, free, forced


bits = {}  # (task, kind, seed) → (model, training losses, free-running accuracy, teacher-forced accuracy)
for task in ("echo", "parity"):
    for kind in ("hidden-to-hidden", "output-to-hidden"):
        for seed in SEEDS:
            bits[task, kind, seed] = train_bits(kind, task, 800 if FAST else 1500, seed)
        RESULTS[f"{task}, {kind}, accuracy"] = [bits[task, kind, seed][2] for seed in SEEDS]
    RESULTS[f"{task}, output-to-hidden, teacher-forced"] = [bits[task, "output-to-hidden", seed][3] for seed in SEEDS]
print(f"{'held-out accuracy':20} seed {'hidden-to-hidden':>17} {'output-to-hidden':>17} {'(teacher forced)':>17}")
for task in ("echo", "parity"):
    for seed in SEEDS:
        print(f"{task:20} {seed:4} {bits[task, 'hidden-to-hidden', seed][2]:17.3f} "
              f"{bits[task, 'output-to-hidden', seed][2]:17.3f} {bits[task, 'output-to-hidden', seed][3]:17.3f}")
print("(chance: 0.5)")
acc = {key: np.array(values) for key, values in RESULTS.items() if key.startswith(("echo", "parity"))}
assert acc["echo, hidden-to-hidden, accuracy"].min() > 0.95, acc
assert acc["echo, output-to-hidden, teacher-forced"].max() < 0.55, acc
assert acc["echo, output-to-hidden, accuracy"].max() < 0.8, acc
assert acc["parity, hidden-to-hidden, accuracy"].min() > 0.95, acc
assert acc["parity, output-to-hidden, accuracy"].min() > 0.97, acc

# %% [markdown]
# Given the true $y(t-1)$, the output-to-hidden model is right about the echo exactly as often as a coin.
# Free running it may do a little better or worse by accident: its own previous output is some function of
# x(t−1), which the teacher-forced training never asked it to use.

# %% [markdown]
# The training losses tell the same story. On the echo the output-to-hidden model stays at
# $0.9 \ln 2 \approx 0.62$: a coin's loss on steps 1–9 (step 0, whose target is always 0, it gets right). On
# parity it needs a few dozen steps; the hidden-to-hidden RNN, which has to discover through BPTT that its
# state should hold the parity, needs two to ten times as many. When the output is the state that matters,
# teacher forcing hands the model that state for free.

# %%
viz.show(viz.plots.training_curves({f"{task}, {kind}": bits[task, kind, SEED][1] for task in ("echo", "parity")
                                    for kind in ("hidden-to-hidden", "output-to-hidden")}, smooth=10,
                                   ylabel="cross-entropy (nats)", title="training: echo and running parity"),
         OUT / "comparing_two_models_training.png")


def steps_to_learn(losses, level=0.1, window=10):
    """The first step at which the mean loss of the last ``window`` steps is below ``level``."""
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    below = np.flatnonzero(smooth < level)
    return int(below[0]) + window if below.size else len(losses)


learned = {kind: [steps_to_learn(bits["parity", kind, seed][1]) for seed in SEEDS]
           for kind in ("hidden-to-hidden", "output-to-hidden")}
print("parity: steps until the training loss stays below 0.1, per seed:", learned)
RESULTS["parity, steps to learn, output-to-hidden"] = learned["output-to-hidden"]
RESULTS["parity, steps to learn, hidden-to-hidden"] = learned["hidden-to-hidden"]
assert max(learned["output-to-hidden"]) < 100, learned
assert all(1.5 * o < h for o, h in zip(learned["output-to-hidden"], learned["hidden-to-hidden"])), learned

# %% [markdown]
# Teacher forcing has one more consequence. The trained parity model carries no state but its output, so one
# wrong output makes every later one wrong. Run it free on steps 0–3, flip its answer at step 3, and let it
# continue from there (`y_0` is what the first step of a call receives): from step 4 on it computes the
# parity of a sequence with one more 1 in it. Training never showed it a wrong $y(t-1)$; at test time its own
# mistakes are exactly that, the mismatch that scheduled sampling (`nn.Seq2Seq(teacher_forcing=...)`) is
# meant to reduce.

# %%
parity_model = bits["parity", "output-to-hidden", SEED][0]
x, y = bits_task("parity")(np.random.default_rng(3000), B=500)
with tg.no_grad():
    first = parity_model(x[:4]).data.argmax(-1)  # steps 0–3, free running
    wrong = np.eye(2, dtype=np.float32)[1 - first[3]]  # its answer at step 3, flipped
    rest = parity_model(x[4:], y_0=wrong).data.argmax(-1)  # steps 4–9, free running from the mistake
agree_before = (first == y[:4]).mean()
agree_flipped = (rest == 1 - y[4:]).mean()
print(f"steps 0–3 agree with the true parity: {agree_before:.3f};  after the flip, steps 4–9 agree with the "
      f"flipped parity: {agree_flipped:.3f}")
RESULTS["parity, one output flipped: later outputs flipped"] = [agree_flipped]
assert agree_before > 0.97 and agree_flipped > 0.97, (agree_before, agree_flipped)

# %% [markdown]
# ## 4. Bidirectional: outputs that depend on the future
#
# A left-to-right RNN's output at step t is a function of x(1) … x(t). Many labels are not: the tag of a word
# often depends on the next one. A bidirectional layer runs a second RNN from right to left and gives the
# readout both states, $o(t) = c + V [h^\rightarrow(t); h^\leftarrow(t)]$ (`nn.BidirectionalTagger`). The
# picture (T = 3): the scope `l0` runs left to right, `l0_reverse` right to left.

# %%
tg.manual_seed(0)
tiny = nn.BidirectionalTagger(3, 2, 2, 3, rnn="RNN")
loss = sequence_cross_entropy(tiny(np.array([[0], [1], [2]])), np.array([[0], [1], [2]]))
graph = viz.draw(loss, title="bidirectional: o(t) reads h→(t) and h←(t)")
viz.show(graph, OUT / "bidirectional.svg")
directions = {n.step[0].rpartition("/")[0] for n in graph.graph.nodes.values() if n.step is not None}
print("time-step sequences in the drawing:", sorted(directions))
assert any(d.endswith("l0_reverse") for d in directions) and any(d.endswith("l0") for d in directions)

# %% [markdown]
# The task: tokens in {0, 1, 2}; tag each with the **sum of its two neighbours**, $y(t) = x(t-1) + x(t+1)$
# (a missing neighbour counts as 0). A forward tagger knows $x(t-1)$ but must guess $x(t+1)$, a backward one
# (the forward tagger run on the reversed sequence) the other way round; each is right about one time in
# three. Only the bidirectional tagger sees both.

# %%


def neighbour_sum(rng, B=32, T=10):
    s = rng.integers(0, 3, (T, B))
    zero = np.zeros((1, B), np.int64)
    return s, np.vstack([zero, s[:-1]]) + np.vstack([s[1:], zero])


def train_tagger(direction, steps, seed):
    tg.manual_seed(seed)
    model = nn.SequenceTagger(3, 8, 16, 5, rnn="GRU", bidirectional=direction == "bidirectional", cell="fused")

    def tag(tokens):  # the backward tagger: the forward one on the reversed sequence, its tags reversed back
        return model(tokens[::-1].copy())[::-1] if direction == "backward" else model(tokens)

    fit(model, neighbour_sum, lambda m, s, y: sequence_cross_entropy(tag(s), y), steps, lr=0.03, seed=seed)
    s, y = neighbour_sum(np.random.default_rng(4000), B=1000)
    with tg.no_grad():
        return (tag(s).data.argmax(-1) == y)[1:-1].mean()  # inner steps: both neighbours exist


acc_bi = {d: [train_tagger(d, 150 if FAST else 400, seed) for seed in SEEDS]
          for d in ("forward", "backward", "bidirectional")}
for d, a in acc_bi.items():
    print(f"{d:14} tagger: held-out accuracy " + ", ".join(f"{v:.3f}" for v in a))
    RESULTS[f"neighbour sum, {d} tagger"] = a
assert min(acc_bi["bidirectional"]) > 0.95, acc_bi
assert max(acc_bi["forward"]) < 0.45 and max(acc_bi["backward"]) < 0.45, acc_bi

# %% [markdown]
# ## 5. Encoder–decoder: a sequence in, a sequence of another length out
#
# When input and output differ in length and do not line up step by step, one RNN (the **encoder**) reads
# x(1) … x(n) into its final state C, and another (the **decoder**) starts from C and writes y(1) … y(m), each
# step reading the previous token: the true one in training (teacher forcing again), its own at test time
# (greedy decoding). `nn.Seq2Seq` is that pair. The picture: source length 3, target length 2 (+ end of
# sequence); C is the only arrow from the encoder to the decoder.

# %%
tg.manual_seed(0)
tiny = nn.Seq2Seq(6, 6, 2, 3, rnn="RNN")
src, tgt_in, tgt_out = np.array([[3], [4], [5]]), np.array([[1], [5], [4]]), np.array([[5], [4], [2]])
loss = sequence_cross_entropy(tiny(src, np.array([3]), tgt_in), tgt_out)
graph = viz.draw(loss, title="encoder–decoder: the state C carries the whole source")
viz.show(graph, OUT / "encoder_decoder.svg")
nodes = graph.graph.nodes
bridge = [(nodes[e.src], nodes[e.dst]) for e in graph.graph.edges
          if nodes[e.src].cluster.startswith("Seq2Seq/encoder") and nodes[e.dst].cluster.startswith("Seq2Seq/decoder")]
print("edges from the encoder into the decoder:", [(a.cluster, b.title) for a, b in bridge])
assert len(bridge) == 1 and bridge[0][0].step[1] == 3 and bridge[0][1].title == "h_0", bridge  # from t = 3, the last

# %% [markdown]
# The task: **run-length encoding**. "aaabbc" → "3a2b1c": up to three runs of one to four equal letters
# from {a, b, c}. The output is shorter or longer than the input depending on the runs, and the decoder must
# count. There are 876 such strings; a fifth of them (chosen at random) is held out, so the test asks for
# strings the model has never seen.

# %%
RLE_VOCAB = Vocabulary("abc1234")


def run_length_pairs(max_runs=3, max_run=4):
    pairs = []
    for n in range(1, max_runs + 1):
        for letters in itertools.product("abc", repeat=n):
            if any(a == b for a, b in zip(letters, letters[1:])):
                continue
            for counts in itertools.product(range(1, max_run + 1), repeat=n):
                pairs.append(("".join(a * k for a, k in zip(letters, counts)),
                              "".join(f"{k}{a}" for a, k in zip(letters, counts))))
    return pairs


rle = run_length_pairs()
order = np.random.default_rng(0).permutation(len(rle))
encoded = [(RLE_VOCAB.encode(s), RLE_VOCAB.encode(t)) for s, t in rle]
rle_test = Seq2SeqData(None, [encoded[i] for i in order[:len(rle) // 5]])
rle_train = Seq2SeqData(None, [encoded[i] for i in order[len(rle) // 5:]])
print(f"{len(rle)} strings: {len(rle_train)} to train on, {len(rle_test)} held out; e.g. {rle[order[0]]}")

exact_rle = []
for seed in SEEDS:
    tg.manual_seed(seed)
    seq2seq = nn.Seq2Seq(len(RLE_VOCAB), len(RLE_VOCAB), 16, 64, rnn="GRU", cell="fused")
    # a quick pass at a high learning rate; at full size a lower one for longer, which lands more reliably
    report = train_translation(seq2seq, rle_train, steps=500 if FAST else 2000, lr=0.02 if FAST else 0.01)
    exact_rle.append(evaluate_translation(seq2seq, rle_test))
    print(f"seed {seed}: exact match on the held-out strings {exact_rle[-1]:.3f}   ({report['steps']} steps, "
          f"{report['seconds']:.0f} s)")
    if seed == SEED:
        examples = rle_test.batch(range(6))
        for (s, t), d in zip(examples.pairs, seq2seq.greedy_decode(examples.src, examples.src_lengths, max_len=10)):
            print(f"  {RLE_VOCAB.decode(s):>12} → {RLE_VOCAB.decode(d):8}  (right: {RLE_VOCAB.decode(t)})")
RESULTS["run-length encoding, exact match"] = exact_rle
assert min(exact_rle) > (0.6 if FAST else 0.9), f"encoder–decoder: exact match {exact_rle}"

# %% [markdown]
# ## What we measured
#
# Every number below is asserted in its section with a margin that holds over seeds (one per seed listed).

# %%
print(f"{'':56} seeds {', '.join(map(str, SEEDS))}")
for name, values in RESULTS.items():
    print(f"{name:62} " + "  ".join(f"{v:7.4g}" for v in values))
print(f"\nlesson wall time: {time.time() - START:.0f} s ({'fast' if FAST else 'full'} mode, seed {SEED})")

# %% [markdown]
# ## Exercises
#
# 1. **Switch x halfway.** Feed the trained `condition="input"` model of section 2 one code for ten steps
#    and another for the next ten (run `model.rnn` yourself on a (20, B, 4) input). Does the frequency change?
#    What would the `"initial_state"` model need to do the same?
# 2. **A soft output as a memory.** Train `OutputToHiddenRNN(feedback="softmax")` on the echo task *free
#    running* (no targets, BPTT through its own $\hat y(t-1)$). Teacher forcing could not beat a coin; can it
#    now, by hiding x(t−1) in how confident $\hat y(t-1)$ is? What does that say about "less powerful"?
# 3. **Both recurrences.** Add a $W_{hh}$ to the output-to-hidden model (the lecture's figure with both
#    arrows). Can it still be trained with teacher forcing alone? Which steps of the graph now depend on each
#    other?
# 4. **Exposure bias.** Train the parity model of section 3 with targets that are wrong 10% of the time
#    (flip bits at random). Compare teacher-forced and free-running accuracy on clean data, then train with
#    its own outputs fed back a fraction of the time (scheduled sampling) and compare again.
# 5. **Many-to-one over longer sequences.** Make the sequences of section 1 30 and 100 symbols long, with
#    the *ab* only ever in the first five steps. Compare `rnn="RNN"` and `rnn="GRU"`; plot ‖∂L/∂h(t)‖ with
#    `viz.plots.hidden_gradient_norms`.
# 6. **Further neighbours.** Tag each token with $x(t-2) + x(t+2)$. What hidden size does the bidirectional
#    tagger need? Draw its graph with `collapse="t=*"`.
# 7. **Longer runs.** Allow runs of up to nine letters in section 5 and lengths beyond those in training.
#    Where does exact match fail, and does `nn.AttentionSeq2Seq` (`tutorials/attention.py`) do better?
