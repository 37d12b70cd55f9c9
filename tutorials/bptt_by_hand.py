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
# # Backpropagation through time, by hand
#
# The lecture derives the gradient of a recurrent network on paper. In this lesson we write that
# derivation down in numpy, in the lecture's notation, and hold it against what the engine's autodiff
# computes: per parameter, per time step, per gate and per layer. We start where the backward pass
# starts, at the softmax, and derive $\nabla_{o(t)}L = \hat y(t) - y(t)$ through its Jacobian. Then we
# break the derivation on purpose, three times, and watch the check point at the line we broke. We
# extend it to two stacked hidden layers $h^{(1)}, h^{(2)}$. Last, we look at *why* long-range gradients
# vanish or explode, train with a regularizer that keeps them alive, and meet two alternatives to full
# BPTT: truncated BPTT and real-time recurrent learning.
#
# **What to know first:** the chain rule for vectors (a Jacobian times a vector), the vanilla RNN and the
# LSTM equations of the lecture, and how the engine's `backward()` fills `.grad`
# (`tutorials/autograd_from_scratch.py`).
#
# Every fact the lesson states is checked by an `assert` in the cell that shows it, so if the library
# (or the lesson) is wrong, running it fails. Run it as a script (`python tutorials/bptt_by_hand.py`,
# about ten seconds; `TGS_FAST=1` for a quick pass) or open it as a notebook with jupytext. Pictures go to
# `bptt_out/`.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # tiny matrices: threads only get in each other's way

import functools  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinygrad_seq as tg  # noqa: E402
import viz  # noqa: E402
from tinygrad_seq import bptt, optim  # noqa: E402
from tinygrad_seq import functional as F  # noqa: E402
from tinygrad_seq.bptt import jacobian, lstm, notation, rnn, rtrl, stacked, truncated, unroll  # noqa: E402
from viz import plots  # noqa: E402

FAST = os.environ.get("TGS_FAST") == "1"
OUT = pathlib.Path("bptt_out")
OUT.mkdir(exist_ok=True)
tg.set_default_dtype(np.float64)  # gradient checks want float64: agreement to ~1e-15 instead of ~1e-7
np.set_printoptions(precision=4, suppress=True, linewidth=110)
START = time.perf_counter()
AGREE = 1e-10  # what "analytic and autodiff agree" means here: float64 round-off is ~1e-16

# %% [markdown]
# ## 1. The model and its two sets of names
#
# The vanilla RNN of the lecture, for one sequence, in column vectors:
#
# $$a(t) = b + W^\top h(t-1) + U^\top x(t),\quad h(t) = \tanh a(t),\quad o(t) = c + V^\top h(t),\quad
# \hat y(t) = \mathrm{softmax}(o(t)),\quad L = \sum_t -\log \hat y_{y(t)}(t).$$
#
# The code works on a batch of $N$ sequences at once, one per **row**, so every product is transposed:
# $a(t) = x(t)\,U + h(t-1)\,W + b$ with $x(t)$ of shape (N, D). PyTorch's `nn.RNN` stores
# `weight_ih_l0` of shape (H, D) and computes `x @ weight_ih_l0.T`, so $U$ is `weight_ih_l0.T`.
# The full mapping lives in one place, `bptt/notation.py`:
#
# | lecture | PyTorch | shape |
# |---|---|---|
# | $U$ | `weight_ih_l0.T` | (D, G·H) |
# | $W$ | `weight_hh_l0.T` | (H, G·H) |
# | $b$ | `bias_ih_l0 + bias_hh_l0` | (G·H,) |
# | $V$ | `readout.weight.T` | (H, C) |
# | $c$ | `readout.bias` | (C,) |
#
# with G = 1 gate for the RNN, 4 for the LSTM (i, f, g, o), 3 for the GRU (r, z, n).
#
# The lecture's "hello" example: the vocabulary is h, e, l, o; the network reads "hell" one character
# at a time (one-hot vectors $x(t)$) and should predict "ello".

# %%
vocab = "helo"
text_in, text_out = "hell", "ello"
x = np.eye(4)[[vocab.index(ch) for ch in text_in]][:, None, :]  # (T=4, N=1, D=4)
y = np.array([[vocab.index(ch)] for ch in text_out])  # (T=4, N=1)
T = len(text_in)

tg.manual_seed(0)
model = bptt.RecurrentLM("rnn", input_size=4, hidden_size=3, output_size=4)  # an nn.RNN and an nn.Linear
print(model)
engine_loss = model.loss(tg.tensor(x), y).item()
print("engine's loss L =", engine_loss)

# %% [markdown]
# The same weights in the lecture's names, and the forward pass in numpy. Both compute the same $L$:


# %%
def lecture_params(model, kind):
    """U, W, b, V, c (float64 copies) from a RecurrentLM's recurrent layer and its Linear readout."""
    rnn_weights = {k: v.data for k, v in model.rnn.named_parameters()}
    readout_weights = {k: v.data for k, v in model.readout.named_parameters()}
    return notation.from_pytorch(rnn_weights, readout_weights, kind)


p = lecture_params(model, "rnn")
print({k: v.shape for k, v in p.items()})
cache = rnn.rnn_forward(x, y, p)
print("numpy's loss  L =", cache.loss)
assert abs(cache.loss - engine_loss) < 1e-12 * engine_loss, (cache.loss, engine_loss)

# %% [markdown]
# ## 2. Where the backward pass starts: $\nabla_{o(t)} L = \hat y(t) - y(t)$
#
# The loss at step $t$ is $L(t) = -\log \hat y_{y}(t)$ with $\hat y = \mathrm{softmax}(o)$, $\hat y_k =
# e^{o_k} / \sum_j e^{o_j}$. Two Jacobians, chained. The softmax's:
#
# $$\frac{\partial \hat y_k}{\partial o_j} = \hat y_k\,([k = j] - \hat y_j), \qquad
# J = \frac{\partial \hat y}{\partial o} = \mathrm{diag}(\hat y) - \hat y\,\hat y^\top ,$$
#
# symmetric, and $J\mathbf 1 = 0$: adding a constant to every score changes nothing. The loss's:
# $\nabla_{\hat y} L(t) = -e_y / \hat y_y$ (zero except at the target). The chain rule:
#
# $$\nabla_o L(t) = J^\top \nabla_{\hat y} L(t) = -\frac{1}{\hat y_y}\big(\hat y_y e_y - \hat y\,\hat y_y\big)
# = \hat y - e_y .$$
#
# The $1/\hat y_y$ of the logarithm cancels against the $\hat y_y$ of the softmax: what is left is bounded
# and cheap. Here are both Jacobians in numpy for $o(1)$ of the hello model, and the engine's, read off one
# row at a time (row $k$ of $J$ is the vector-Jacobian product $e_k^\top J$, which `tg.grad` returns):

# %%
C = 4
o1_np, yhat1, y1 = cache.o[0, 0], cache.yhat[0, 0], int(y[0, 0])
J = np.diag(yhat1) - np.outer(yhat1, yhat1)  # diag(ŷ) − ŷŷᵀ
print("J = diag(ŷ) − ŷŷᵀ =\n", J)

o1 = tg.tensor(o1_np, requires_grad=True)
yhat1_engine = F.softmax(o1, dim=-1)
J_engine = np.stack([tg.grad(yhat1_engine, o1, grad_outputs=tg.tensor(np.eye(C)[k]), retain_graph=True)[0].data
                     for k in range(C)])
print("largest |J − J_engine|:", np.abs(J - J_engine).max())
assert np.abs(J - J_engine).max() < 1e-15, "the softmax Jacobian disagrees with the engine's"
assert np.allclose(J, J.T) and np.abs(J @ np.ones(C)).max() < 1e-16, "J must be symmetric with J·1 = 0"

dyhat = -np.eye(C)[y1] / yhat1[y1]  # ∇ŷ L(1) = −e_y / ŷ_y
do1 = J.T @ dyhat  # the chain rule, as a product
loss1 = -(yhat1_engine.log()[y1])  # L(1) op by op: the engine chains log and softmax itself
loss1.backward()
print("Jᵀ ∇ŷ L =", do1, "\nŷ − e_y  =", yhat1 - np.eye(C)[y1], "\nautodiff =", o1.grad.data)
assert np.abs(do1 - (yhat1 - np.eye(C)[y1])).max() < 1e-15, "Jᵀ ∇ŷ L must simplify to ŷ − e_y"
assert np.abs(o1.grad.data - do1).max() < 1e-15, "autodiff of −log softmax must give ŷ − e_y"

# %% [markdown]
# ## 3. The backward pass, one formula per line
#
# From there the chain rule is organised by time. The loss at step $t$ reaches $o(t)$ only; $h(t)$ feeds
# both $o(t)$ and $h(t+1)$, so its gradient has two terms, and the recursion runs from $T$ down:
#
# $$\nabla_{h(T)}L = V\,\nabla_{o(T)}L,\qquad
# \nabla_{h(t)}L = W\,\mathrm{diag}\big(1-h(t+1)^2\big)\,\nabla_{h(t+1)}L + V\,\nabla_{o(t)}L .$$
#
# The weights are shared by every step, so their gradients are sums over $t$. Here it is, written by
# hand (in rows, so each product is transposed):


# %%
def my_rnn_backward(cache, slip=False):
    """BPTT for the vanilla RNN. With slip=True, the classic mistake: the (1 − h(t+1)²) factor forgotten."""
    p, x, h = cache.params, cache.x, cache.h  # h[t-1] is h(t)
    U, W, V = p["U"], p["W"], p["V"]
    T = len(x)
    h_prev = np.concatenate([cache.state0[0][None], h[:-1]])  # h(t−1)

    do = cache.yhat - np.eye(V.shape[1])[cache.y]  # ∇o(t) L = ŷ(t) − y(t)
    dh = np.zeros_like(h)
    dh[T - 1] = do[T - 1] @ V.T  # ∇h(T) L = V ∇o(T) L
    for t in reversed(range(T - 1)):
        through_time = dh[t + 1] if slip else dh[t + 1] * (1 - h[t + 1] ** 2)
        dh[t] = through_time @ W.T + do[t] @ V.T
    da = dh * (1 - h**2)  # ∇a(t) L = diag(1 − h(t)²) ∇h(t) L

    grads = dict(
        c=do.sum(axis=(0, 1)),
        b=da.sum(axis=(0, 1)),
        V=np.einsum("tnh,tnc->hc", h, do),
        W=np.einsum("tni,tnj->ij", h_prev, da),
        U=np.einsum("tnd,tnj->dj", x, da),
    )
    return unroll.Gradients(grads, dh, None, do, {"a": da}, da @ U.T, (da[0] @ W.T,))


# %% [markdown]
# `bptt.compare` runs the model through the engine (autodiff), through our formulas (analytic) and
# through finite differences, and tabulates the relative error of every quantity:

# %%
report = bptt.compare(model, x, y, backward=my_rnn_backward)
print(report)
assert report.ok and report.max_rel_error < AGREE, report.verdict
assert report.fd_max_rel_error < 1e-6, f"finite differences disagree: {report.fd_max_rel_error:.1e}"

# %% [markdown]
# Every relative error is at the level of float64 round-off (~1e-16): the derivation is right.
# The report is also data (`report.rows`, `report.records()`), so you can plot or assert on it, as the
# cell above does.
#
# A gradient you can trust is a gradient you can train with. Plain gradient descent on our own formulas,
# no engine involved, until the network predicts "ello":

# %%
p_train = {k: v.copy() for k, v in p.items()}
descent_steps = 300
for _ in range(descent_steps):
    c_train = rnn.rnn_forward(x, y, p_train)
    for k, g in my_rnn_backward(c_train).params.items():
        p_train[k] -= 0.5 * g
predicted = "".join(vocab[i] for i in c_train.yhat[:, 0].argmax(-1))
print(f"after {descent_steps} steps: L = {c_train.loss:.4f}, reads 'hell', predicts {predicted!r}")
assert predicted == "ello", predicted

# %% [markdown]
# ## 4. Three classic mistakes, located
#
# **The forgotten derivative.** Drop $\tanh' = 1 - \tanh^2$ from the recursion, i.e. write
# $\nabla_{h(t)}L = W\,\nabla_{h(t+1)}L + V\,\nabla_{o(t)}L$ (`slip=True` above):

# %%
report = bptt.compare(model, x, y, backward=functools.partial(my_rnn_backward, slip=True))
print(report)
bad = report.first_disagreement
print("first disagreement:", bad.label, "at t =", bad.t)
assert not report.ok and (bad.quantity, bad.t) == ("dL/dh", T - 1), report.verdict
assert all(r.ok for r in report.rows[: report.rows.index(bad)]), "everything computed before the slip agrees"

# %% [markdown]
# The rows are in the order the backward pass computes them. Everything at $t = T = 4$ agrees; the first
# disagreement is $\nabla_{h(3)}L$: the first quantity that uses the broken line. And the finite
# differences side with autodiff, so it is the formula that is wrong, not the engine:

# %%
for f in report.fd:
    print(f"{f.parameter:16} {str(f.index):8} analytic {f.analytic:+.6f}  autodiff {f.autodiff:+.6f}  "
          f"numeric {f.numeric:+.6f}")
w_checks = [f for f in report.fd if f.parameter == "weight_hh_l0"]
assert w_checks and all(abs(f.autodiff - f.numeric) < 1e-8 < abs(f.analytic - f.numeric) for f in w_checks)

# %% [markdown]
# **The LSTM, by hand.** Here is the LSTM's one-step backward (the equations of `bptt/lstm.py`), with two
# more classic slips behind a switch: the forget gate's pre-activation gradient without the sigmoid's
# derivative $f(1-f)$, and the gradient highway $\nabla_{c(t-1)} L = \nabla_{c(t)} L \odot f$ without its
# $f$. The generic BPTT loop `unroll.backward` runs any one-step backward through time:


# %%
def my_lstm_step_backward(dstate, cache, slip=None):
    """dstate = (∇h(t) L, the part of ∇c(t) L from step t+1) → (∇h(t−1), ∇c(t−1)) via this step, ∇x, ∇θ, and
    the gates' ∇a with "cell": the total ∇c(t) L."""
    dh, dc = dstate
    x, h_prev, c_prev, p = cache["x"], cache["h_prev"], cache["c_prev"], cache["p"]
    i, f, g, o, tc = cache["i"], cache["f"], cache["g"], cache["o"], cache["tc"]
    da_o = dh * tc * o * (1 - o)  # h = o ⊙ tanh c(t)
    dc = dc + dh * o * (1 - tc**2)  # now the total ∇c(t) L
    da_i = dc * g * i * (1 - i)  # c(t) = f ⊙ c(t−1) + i ⊙ g
    da_f = dc * c_prev * (1 if slip == "forget sigmoid" else f * (1 - f))
    da_g = dc * i * (1 - g**2)
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)  # PyTorch's gate order: i, f, g, o
    dc_prev = dc if slip == "highway" else dc * f
    dp = {"U": x.T @ da, "W": h_prev.T @ da, "b": da.sum(axis=0)}
    return (da @ p["W"].T, dc_prev), da @ p["U"].T, dp, {"i": da_i, "f": da_f, "g": da_g, "o": da_o, "cell": dc}


tg.manual_seed(1)
lstm_model = bptt.RecurrentLM("lstm", input_size=4, hidden_size=3, output_size=4)
located = {}
for slip in (None, "forget sigmoid", "highway"):
    mine = functools.partial(unroll.backward, step_backward=functools.partial(my_lstm_step_backward, slip=slip))
    r = bptt.compare(lstm_model, x, y, backward=mine, fd_samples=4)
    bad = r.first_disagreement
    located[slip] = None if bad is None else (bad.quantity, bad.t, bad.gate)
    where = "none: every quantity agrees" if bad is None else f"first disagreement {bad.label} (t = {bad.t})"
    print(f"slip {slip!s:>14}: {where}; largest relative error {r.max_rel_error:.1e}")
assert located[None] is None, "the LSTM backward written out must agree"
assert located["forget sigmoid"] == ("dL/da", T, "f"), located
assert located["highway"] == ("dL/dc", T - 1, None), located

# %% [markdown]
# The forgotten $f(1 - f)$ shows at once, at $t = T$ and at gate f, not elsewhere: the three other
# gates of $t = T$ still agree. The highway slip cannot show at $t = T$ (nothing comes from $T + 1$): the
# first wrong quantity is $\nabla_{c(T-1)} L$, and every gate of step $T - 1$ goes wrong after it.
#
# ## 5. All the cells, gate by gate
#
# The library's own formulas for every cell it knows (`bptt/lstm.py`, `bptt/gru.py`; the fused cells of
# the engine use the same one-step derivation). The parameter table splits every weight into its gates'
# rows; the per-step table has one column per gate's pre-activation. This is what
# `tinygrad-seq check --model lstm` prints:

# %%
print(bptt.check_random("lstm", hidden=4, steps=3 if FAST else 5, seed=0))

# %%
cells = {"rnn": {}, "rnn (relu)": dict(nonlinearity="relu"), "lstm": {}, "gru": {},
         "lstm (peephole)": dict(peephole=True), "lstm (coupled)": dict(coupled=True)}
for seed, (name, options) in enumerate(cells.items()):
    r = bptt.check_random(name.split()[0], hidden=4, steps=4, seed=seed, fd_samples=4, **options)
    print(f"{name:>16}: agree to {r.max_rel_error:.1e}, finite differences to {r.fd_max_rel_error:.1e}")
    assert r.ok and r.max_rel_error < AGREE and r.fd_max_rel_error < 1e-6, f"{name}: {r.verdict}"

# %% [markdown]
# ## 6. Two stacked hidden layers
#
# The lecture's forward phase with two hidden layers, $h^{(1)}$ reading $x$ and $h^{(2)}$ reading $h^{(1)}$:
#
# $$h^{(1)}(t) = \tanh\big(b^{(1)} + W^{(1)\top} h^{(1)}(t-1) + U^{(1)\top} x(t)\big),\qquad
# h^{(2)}(t) = \tanh\big(b^{(2)} + W^{(2)\top} h^{(2)}(t-1) + U^{(2)\top} h^{(1)}(t)\big),\qquad
# o(t) = c + V^\top h^{(2)}(t).$$
#
# Backward, each $h^{(l)}(t)$ feeds two things: $h^{(l)}(t+1)$ along time, and what sits on top of it at
# the same $t$. For the top layer that is $o(t)$, as before; for $h^{(1)}(t)$ it is $a^{(2)}(t)$. So each
# layer runs the one-layer recursion, the top one first, and only the "direct" term changes:
#
# $$\nabla_{h^{(2)}(t)}L = W^{(2)} D^{(2)}(t+1)\,\nabla_{h^{(2)}(t+1)}L + V\,\nabla_{o(t)}L,\qquad
# \nabla_{h^{(1)}(t)}L = W^{(1)} D^{(1)}(t+1)\,\nabla_{h^{(1)}(t+1)}L + U^{(2)} D^{(2)}(t)\,\nabla_{h^{(2)}(t)}L$$
#
# with $D^{(l)}(t) = \mathrm{diag}(1 - h^{(l)}(t)^2)$, and $\nabla U^{(2)} = \sum_t h^{(1)}(t)\,
# \nabla_{a^{(2)}(t)}L^\top$: the input of layer 2 is $h^{(1)}$. `nn.RNN(num_layers=2)` is this network;
# its weights `weight_ih_l1` ... are $U^{(2)\top}$ ... In rows:


# %%
def my_two_layer_backward(cache, slip=False):
    """BPTT through h⁽¹⁾ and h⁽²⁾. slip=True forgets that h⁽¹⁾(t) also feeds h⁽²⁾(t) (no U⁽²⁾ term)."""
    p, (layer1, layer2) = cache.params, cache.layers
    T = len(cache.x)

    def through_time(layer, W, direct):
        """The one-layer recursion ∇h(t) = W D(t+1) ∇h(t+1) + direct(t); returns ∇h, ∇a, h(t−1)."""
        h = layer.h
        dh = np.zeros_like(h)
        dh[T - 1] = direct[T - 1]
        for t in reversed(range(T - 1)):
            dh[t] = (dh[t + 1] * (1 - h[t + 1] ** 2)) @ W.T + direct[t]
        return dh, dh * (1 - h**2), np.concatenate([layer.state0[0][None], h[:-1]])

    do = cache.yhat - np.eye(p["V"].shape[1])[cache.y]  # ∇o(t) L = ŷ(t) − y(t)
    dh2, da2, h2_prev = through_time(layer2, p["W2"], do @ p["V"].T)  # direct: V ∇o(t) L
    from_above = np.zeros_like(da2) if slip else da2 @ p["U2"].T  # direct: U⁽²⁾ ∇a⁽²⁾(t) L
    dh1, da1, h1_prev = through_time(layer1, p["W1"], from_above)

    sums = lambda a, b: np.einsum("tni,tnj->ij", a, b)  # noqa: E731  Σ_t a(t) b(t)ᵀ, summed over the batch
    grads = dict(c=do.sum(axis=(0, 1)), V=sums(layer2.h, do),
                 U2=sums(layer1.h, da2), W2=sums(h2_prev, da2), b2=da2.sum(axis=(0, 1)),
                 U1=sums(cache.x, da1), W1=sums(h1_prev, da1), b1=da1.sum(axis=(0, 1)))
    per_layer = [unroll.Gradients({}, dh, None, None, {"a": da}, da @ U.T, (da[0] @ W.T,))
                 for dh, da, U, W in ((dh1, da1, p["U1"], p["W1"]), (dh2, da2, p["U2"], p["W2"]))]
    return stacked.StackedGradients(grads, per_layer, do)


tg.manual_seed(2)
two_layers = bptt.RecurrentLM("rnn", input_size=4, hidden_size=3, output_size=4, num_layers=2)
print(two_layers)
report2 = bptt.compare(two_layers, x, y, backward=my_two_layer_backward)
print(report2)
assert report2.ok and report2.max_rel_error < AGREE, report2.verdict

# %% [markdown]
# The per-step table now has a column per layer; the rows run through layer 2 first, then layer 1,
# the order the backward pass computes them. The slip (forgetting the path from $h^{(1)}(t)$ up to
# $h^{(2)}(t)$, so nothing reaches layer 1 at all) is located in layer 1, at $t = T$:

# %%
slipped = bptt.compare(two_layers, x, y, backward=functools.partial(my_two_layer_backward, slip=True), fd_samples=0)
bad = slipped.first_disagreement
print(slipped.verdict)
assert (bad.quantity, bad.t, bad.layer) == ("dL/dh", T, 1), slipped.verdict
assert all(r.ok for r in slipped.rows if r.layer == 2), "layer 2 does not depend on the slip"

# %% [markdown]
# The library has the same two-layer formulas (`rnn.stacked_rnn_backward`, and `bptt.stacked` for any cell
# and any number of layers), so `compare` checks stacked LSTMs and GRUs too:

# %%
for seed, mode in enumerate(("rnn", "lstm", "gru")):
    for layers in (2, 3):
        r = bptt.check_random(mode, hidden=3, steps=3, seed=seed, num_layers=layers, fd_samples=4)
        print(f"{mode} × {layers} layers: agree to {r.max_rel_error:.1e} over {len(r.rows)} quantities")
        assert r.ok and r.max_rel_error < AGREE, r.verdict

# %% [markdown]
# The graph the engine differentiated, one box per time step and layer (`collapse="t=*"`; `nn.RNN` counts
# its steps from t = 0, its layers from l0). Each step of layer l0 sends its $h^{(1)}(t)$ two ways: to
# the right, into the next step of l0, and up, through l1's input projection (computed for all steps
# at once), into step t of l1. Those are the two terms of $\nabla_{h^{(1)}(t)}L$.

# %%
loss2 = two_layers.loss(tg.tensor(x), y)
graph = viz.draw(loss2, collapse="t=*", title="two stacked RNN layers, 'hell' → 'ello'")
viz.show(graph, OUT / "two_layer_rnn.svg")

# %% [markdown]
# ## 7. Why long-range gradients vanish or explode
#
# Each $\nabla_{h(t)}L$ is a sum of terms $(\partial h(T)/\partial h(t))^\top \nabla_{h(T)}L$, and
#
# $$\frac{\partial h(T)}{\partial h(t)} = \prod_{k=t}^{T-1} D(k+1)\,W^\top,\qquad
# \Big\|\frac{\partial h(T)}{\partial h(t)}\Big\| \le \prod_{k=t}^{T-1}\sigma_{\max}(D(k+1))\,\sigma_{\max}(W).$$
#
# With $\tanh$, $\sigma_{\max}(D) \le 1$, so $\sigma_{\max}(W) < 1$ forces the gradient to shrink
# geometrically with the gap $T - t$. The norms and the bound for a random RNN whose $W$ has spectral
# radius 1.2:

# %%
rng = np.random.default_rng(0)
T_long, H = 12, 6
q = dict(U=rng.standard_normal((3, H)), W=jacobian.with_spectral_radius(H, 1.2, rng), b=np.zeros(H),
         V=rng.standard_normal((H, 2)), c=np.zeros(2))
long_cache = rnn.rnn_forward(rng.standard_normal((T_long, 1, 3)), rng.integers(0, 2, (T_long, 1)), q)
norms, bound = jacobian.jacobian_norms(long_cache), jacobian.jacobian_bound(long_cache)
print("   t   ‖∂h(T)/∂h(t)‖     bound")
for t in range(0, T_long + 1, 2):
    print(f"{t:4d}   {norms[t]:12.3e}   {bound[t]:9.3e}")
assert np.all(norms <= bound * (1 + 1e-12)), "the bound ∏ σmax(D) σmax(W) must hold at every t"
assert norms[0] < 1e-2 * bound[0], "with tanh the bound is loose: saturation shrinks the gradient much more"
viz.show(plots.jacobian_norms(norms, bound), OUT / "jacobian_bound.png")

# %% [markdown]
# Without the nonlinearity the picture is exact. For $h(t) = W^\top h(t-1)$ with a symmetric $W$,
# written $W^\top = Q^\top \Lambda Q$, we get $h(t) = Q^\top \Lambda^t Q\, h(0)$: each eigen-direction
# is multiplied by $\lambda_i^t$. The gradient norms are exactly $\rho^{T-t}$, $\rho$ the spectral radius:

# %%
view = jacobian.eigen_view(jacobian.with_spectral_radius(4, 0.9, rng), rng.standard_normal(4), 10)
print("eigenvalues:", view.eigenvalues)
assert np.allclose(view.h, view.h_eigen, rtol=1e-12, atol=1e-12), "h(t) = Qᵀ Λᵗ Q h(0)"

sweep = jacobian.spectral_radius_sweep((0.5, 0.9, 1.0, 1.1, 1.5), H=8, T=30)
for rho, n in sweep.items():
    print(f"ρ = {rho:3.1f}: ‖∂h(30)/∂h(0)‖ = {n[0]:9.3e}   (ρ^30 = {rho**30:9.3e})")
    assert np.allclose(n, rho ** np.arange(30, -1, -1), rtol=1e-8), f"ρ = {rho}: the norms are not ρ^(T−t)"

fig, ax = plt.subplots(figsize=(6, 3.5))
for rho, n in sweep.items():
    ax.semilogy(np.arange(len(n))[::-1], n, label=f"ρ = {rho}")
ax.set_xlabel("gap T − t")
ax.set_ylabel("‖∂h(T)/∂h(t)‖₂")
ax.set_title("linear RNN: vanishing (ρ < 1) and exploding (ρ > 1)")
ax.legend()
ax.grid(True, which="both", alpha=0.3)
viz.show(fig, OUT / "spectral_radius_linear_rnn.png")

# %% [markdown]
# ## 8. A regularizer for gradient flow, used while training
#
# Pascanu, Mikolov & Bengio (2013) ask each step to pass the error back without shrinking it:
#
# $$\Omega = \sum_t \left(\frac{\|(\nabla_{h(t)}L)^\top\, \partial h(t)/\partial h(t-1)\|}
# {\|\nabla_{h(t)}L\|} - 1\right)^2 ,$$
#
# and train on $L + \lambda\Omega$. $\Omega$ contains gradients, so minimising it needs the gradient of
# a gradient: the engine's `create_graph=True`. First, the engine's $\Omega$ is the one the formulas give:

# %%
tg.manual_seed(1)
lm = bptt.RecurrentLM("rnn", 3, 6, 3)
xs, ys = rng.standard_normal((8, 4, 3)), rng.integers(0, 3, (8, 4))
omega, L = bptt.gradient_flow_regularizer(lm, xs, ys)
omega_np = bptt.regularizer.rnn_omega_numpy(rnn.rnn_forward(xs, ys, lecture_params(lm, "rnn")))
print(f"Ω (engine) = {omega.item():.12f}   Ω (numpy formulas) = {omega_np:.12f}")
assert abs(omega.item() - omega_np) < 1e-10 * omega_np

# %% [markdown]
# Its exact derivative is expensive: $\nabla_{h(t)}L$ itself depends on the weights, and differentiating
# through it is a third pass. Pascanu et al. use a cheap approximation: treat $\nabla_{h(t)}L$ as a
# constant (`constant_upstream=True`). Same $\Omega$, a different (surrogate) gradient; finite differences
# of $\Omega$ side with the exact one:

# %%
W_hh = lm.rnn.weight_hh_l0
grads = {}
for cheap in (False, True):
    lm.zero_grad()
    omega_c, _ = bptt.gradient_flow_regularizer(lm, xs, ys, constant_upstream=cheap)
    omega_c.backward()
    grads[cheap] = W_hh.grad.data.copy()
    assert abs(omega_c.item() - omega.item()) < 1e-12 * omega.item(), "the approximation changes ∇Ω, not Ω"
idx, eps = (1, 2), 1e-5
original = W_hh.data.copy()
values = []
for sign in (1, -1):
    W_hh.data = original.copy()
    W_hh.data[idx] += sign * eps
    values.append(bptt.gradient_flow_regularizer(lm, xs, ys)[0].item())
W_hh.data = original
numeric = (values[0] - values[1]) / (2 * eps)
cosine = np.sum(grads[False] * grads[True]) / np.linalg.norm(grads[False]) / np.linalg.norm(grads[True])
print(f"∂Ω/∂W_hh{list(idx)}: exact {grads[False][idx]:+.6f}, cheap {grads[True][idx]:+.6f}, "
      f"finite differences {numeric:+.6f};  cosine(exact, cheap) over all of W_hh = {cosine:.3f}")
assert abs(grads[False][idx] - numeric) < 1e-6 * max(1.0, abs(numeric)), "the exact ∇Ω must match finite differences"
assert np.linalg.norm(grads[True] - grads[False]) > 1e-3 * np.linalg.norm(grads[False]), "the cheap one is another"

# %% [markdown]
# Now the experiment. A task with one long dependency: the first input is one of two symbols, the next
# $T - 1$ are noise, and the loss is at the last step only: say which symbol came first (chance: 50%).
# A target of −100 adds no loss, as in `F.cross_entropy`. The network is a vanilla RNN with PyTorch's
# initialisation, whose $W$ has spectral radius about $1/\sqrt 3$, so $\|\partial h(T)/\partial h(1)\|$
# starts near $0.58^{T}$: the first symbol's influence is gone long before the loss. Three runs, same
# data, same steps of SGD with momentum and clipping: $L$ alone, $L + \lambda\Omega$ with the exact
# $\nabla\Omega$, and with the cheap one.

# %%
T_task = 15 if FAST else 25
train_steps = 60 if FAST else 200
H_task, batch, lam = 16, 32, 1.0


def first_symbol_task(rng, n):
    """x: (T, n, 3): the symbol (one-hot in channels 0-1) at t = 1, noise in channel 2 after; y: −100 but at T."""
    symbol = rng.integers(0, 2, n)
    x = np.zeros((T_task, n, 3))
    x[0, np.arange(n), symbol] = 1.0
    x[1:, :, 2] = rng.standard_normal((T_task - 1, n))
    y = np.full((T_task, n), -100)
    y[-1] = symbol
    return x, y


def reach(lm, x):
    """‖∂h(T)/∂h(1)‖₂ on one sequence: how much of step 1 the last step can still see."""
    cache = rnn.rnn_forward(x[:, :1], np.zeros((len(x), 1), dtype=int), lecture_params(lm, "rnn"))
    return jacobian.jacobian_norms(cache)[1]


def train_first_symbol(regularizer, seed):
    """SGD on L (regularizer=None) or on L + λΩ ('exact' or 'cheap'); returns the curves and final accuracy."""
    tg.manual_seed(seed)
    lm = bptt.RecurrentLM("rnn", 3, H_task, 2)
    opt = optim.SGD(lm.parameters(), lr=0.05, momentum=0.9)
    data, (x_test, y_test) = np.random.default_rng(seed), first_symbol_task(np.random.default_rng(10_000), 500)
    curve = {"step": [], "accuracy": [], "reach": []}
    for step in range(train_steps + 1):
        if step % 10 == 0 or step == train_steps:
            with tg.no_grad():
                accuracy = float((lm(tg.tensor(x_test)).data[-1].argmax(-1) == y_test[-1]).mean())
            for k, v in (("step", step), ("accuracy", accuracy), ("reach", reach(lm, x_test))):
                curve[k].append(v)
        if step == train_steps:
            return curve
        xb, yb = first_symbol_task(data, batch)
        if regularizer is None:
            objective = lm.loss(tg.tensor(xb), yb) / batch
        else:
            omega, L = bptt.gradient_flow_regularizer(lm, xb, yb, constant_upstream=regularizer == "cheap")
            objective = (L + lam * omega) / batch
        opt.zero_grad()
        objective.backward()
        optim.clip_grad_norm_(lm.parameters(), 1.0)
        opt.step()


runs, seconds = {}, {}
for name, regularizer in (("L", None), ("L + λΩ (exact ∇Ω)", "exact"), ("L + λΩ (cheap ∇Ω)", "cheap")):
    start = time.perf_counter()
    runs[name] = train_first_symbol(regularizer, seed=0)
    seconds[name] = time.perf_counter() - start
    print(f"{name:>18}: accuracy {runs[name]['accuracy'][-1]:.2f}, ‖∂h(T)/∂h(1)‖ = {runs[name]['reach'][-1]:.1e}"
          f"  ({seconds[name]:.0f} s)")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
for name, curve in runs.items():
    ax1.plot(curve["step"], curve["accuracy"], label=name)
    ax2.semilogy(curve["step"], curve["reach"], label=name)
ax1.set(xlabel="SGD step", ylabel="test accuracy", title=f"which symbol came first, T = {T_task}")
ax2.set(xlabel="SGD step", ylabel="‖∂h(T)/∂h(1)‖₂", title="how far back the gradient reaches")
for ax in (ax1, ax2):
    ax.grid(True, which="both", alpha=0.3)
ax1.legend()
viz.show(fig, OUT / "gradient_flow_regularizer.png")

plain, exact, cheap = (runs[k] for k in runs)
assert plain["accuracy"][-1] < 0.65, f"without Ω the RNN should stay near chance, got {plain['accuracy'][-1]:.2f}"
for curve in (exact, cheap):
    assert curve["accuracy"][-1] > 0.9, f"with Ω the RNN should learn the task, got {curve['accuracy'][-1]:.2f}"
    assert curve["reach"][-1] > 100 * plain["reach"][-1], (curve["reach"][-1], plain["reach"][-1])

# %% [markdown]
# Without $\Omega$ the loss has nothing to learn from: by the time the gradient of the last step reaches
# step 1 it is $10^{-4}$ of its size, buried under the noise of 14 or more steps of distractors, and the
# accuracy stays at chance. $\Omega$ pushes every one-step Jacobian to keep the norm of the error, the
# reach $\|\partial h(T)/\partial h(1)\|$ climbs to order 1 within a few dozen steps, and then the loss
# can teach the network to carry the symbol. The cheap gradient does the same job for less: it never
# builds the graph of the backward pass that gives $\nabla_{h(t)}L$ (compare the wall times above). Both
# cost several times a step on $L$ alone: $\Omega$ needs the gradients first, then their derivative.
# (This run uses seed 0; the lesson's margins were checked over seeds 0, 1 and 2.)
#
# ## 9. Truncated BPTT: a gradient that stops looking back
#
# Truncated BPTT backpropagates each chunk of $k$ steps only within the chunk. The gradient it
# gives is that of the full loss only when $k$ covers the sequence; here is how far off it is for
# smaller $k$ (same forward pass, the backward loop cut after $k$ steps):

# %%
T_tr = 24
model_tr = bptt.RecurrentLM("lstm", 3, 5, 3)
xt, yt = rng.standard_normal((T_tr, 2, 3)), rng.integers(0, 3, (T_tr, 2))
c_tr = unroll.forward(lstm.cell(), xt, yt, lecture_params(model_tr, "lstm"))
full = unroll.backward(c_tr).params
errors = {}
for k in (1, 2, 4, 8, 24):
    tr = truncated.truncated_backward(c_tr, k)
    errors[k] = np.linalg.norm(tr.params["W"] - full["W"]) / np.linalg.norm(full["W"])
    print(f"k = {k:2d}: relative difference of ∇W from full BPTT = {errors[k]:.2e}")
assert errors[T_tr] < 1e-12 and all(errors[k] > 1e-3 for k in (1, 2, 4, 8)), errors

# %% [markdown]
# ## 10. Real-time recurrent learning: the same gradient, forwards
#
# RTRL carries $S(t) = \partial h(t)/\partial\theta$ forward in time and never stores the past:
# $S(t) = D(t)\,[W^\top S(t-1) + \partial a(t)/\partial\theta]$. Same gradient as BPTT:

# %%
loss_fwd, g_fwd = rtrl.rnn_rtrl(x, y, p)
g_bwd = rnn.rnn_backward(cache).params
rel = {k: np.linalg.norm(g_fwd[k] - g_bwd[k]) / np.linalg.norm(g_bwd[k]) for k in p}
print("RTRL vs BPTT:", {k: f"{v:.1e}" for k, v in rel.items()})
assert abs(loss_fwd - cache.loss) < 1e-12 * cache.loss and max(rel.values()) < 1e-12, rel

# %% [markdown]
# But each step multiplies an H × H matrix by an H × P one, P ≈ H²: O(H⁴) per step, against BPTT's O(H²).
# The multiply-adds are counted from the formulas (the times depend on the machine; at small H Python's
# overhead hides the difference):

# %%
costs = rtrl.measure_cost((4, 8, 16) if FAST else (4, 8, 16, 32, 48), T=10, repeats=1 if FAST else 3)
print(costs)
ratios = [r.rtrl_flops / r.bptt_flops for r in costs.rows]
slope = np.log(ratios[-1] / ratios[0]) / np.log(costs.rows[-1].hidden / costs.rows[0].hidden)
print(f"RTRL's work / BPTT's grows as H^{slope:.2f}")
assert 1.7 < slope < 2.3, f"RTRL/BPTT work should grow as H² (O(H⁴) against O(H²)): {ratios}"
print(f"whole lesson: {time.perf_counter() - START:.0f} s")

# %% [markdown]
# ## What to try next
#
# * Section 4: plant a slip of your own in `my_lstm_step_backward` (use `g` where `i` belongs in `da_g`,
#   or drop `(1 - o)`), predict where `compare` will locate it, then run it.
# * Section 2: derive $\nabla_o L$ for the mean squared error $\tfrac12\|\hat y - y\|^2$ with $\hat y =
#   \mathrm{softmax}(o)$ and check it the same way: why does nothing cancel this time?
# * Section 6: write `my_two_layer_backward` for two stacked LSTM layers by calling `my_lstm_step_backward`
#   inside `unroll.through_time`, and check it with `bptt.check_random("lstm", num_layers=2)`'s model.
# * Section 8: try λ = 0.1 and λ = 10, or T = 40; where does the regularizer stop being enough?
#   (Pascanu et al. combine it with clipping for exactly this reason.)
# * From the command line: `tinygrad-seq check --model gru --hidden 16 --steps 10`.
