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
# computes: per parameter, per time step, and (for the LSTM and GRU) per gate. Then we break it on
# purpose and watch the check point at the line we broke. Last, we look at *why* long-range gradients
# vanish or explode, and at two alternatives: truncated BPTT and real-time recurrent learning.
#
# Run it as a script (`python tutorials/bptt_by_hand.py`, or quickly with `TGS_FAST=1`) or open it
# as a notebook with jupytext.

# %%
import os

import numpy as np

import tinygrad_seq as tg
from tinygrad_seq import bptt
from tinygrad_seq.bptt import jacobian, lstm, notation, rnn, rtrl, truncated, unroll

FAST = os.environ.get("TGS_FAST") == "1"
tg.set_default_dtype(np.float64)  # gradient checks want float64: agreement to ~1e-15 instead of ~1e-7
np.set_printoptions(precision=4, suppress=True)

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

tg.manual_seed(0)
model = bptt.RecurrentLM("rnn", input_size=4, hidden_size=3, output_size=4)  # an nn.RNN and an nn.Linear
print(model)
print("engine's loss L =", model.loss(tg.tensor(x), y).item())

# %% [markdown]
# The same weights in the lecture's names, and the forward pass in numpy:


# %%
def lecture_params(model, kind):
    """U, W, b, V, c (float64 copies) from a RecurrentLM's nn.RNN/LSTM/GRU and its Linear readout."""
    rnn_weights = {k: v.data for k, v in model.rnn.named_parameters()}
    readout_weights = {k: v.data for k, v in model.readout.named_parameters()}
    return notation.from_pytorch(rnn_weights, readout_weights, kind)


p = lecture_params(model, "rnn")
print({k: v.shape for k, v in p.items()})
cache = rnn.rnn_forward(x, y, p)
print("numpy's loss  L =", cache.loss)

# %% [markdown]
# ## 2. The backward pass, one formula per line
#
# The chain rule, organised by time. The loss at step $t$ reaches $o(t)$ only; $h(t)$ feeds both
# $o(t)$ and $h(t+1)$, so its gradient has two terms, and the recursion runs from $T$ down:
#
# $$\nabla_{o(t)}L = \hat y(t) - \mathbf{1}_{y(t)},\qquad \nabla_{h(T)}L = V\,\nabla_{o(T)}L,$$
# $$\nabla_{h(t)}L = W\,\mathrm{diag}\big(1-h(t+1)^2\big)\,\nabla_{h(t+1)}L + V\,\nabla_{o(t)}L .$$
#
# The weights are shared by every step, so their gradients are sums over $t$. Here it is, written by
# hand (in rows, so each product is transposed):


# %%
def my_rnn_backward(cache):
    p, x, h = cache.params, cache.x, cache.h  # h[t-1] is h(t)
    U, W, V = p["U"], p["W"], p["V"]
    T = len(x)
    h_prev = np.concatenate([cache.state0[0][None], h[:-1]])  # h(t−1)

    do = cache.yhat - np.eye(V.shape[1])[cache.y]  # ∇o(t) L = ŷ(t) − y(t)
    dh = np.zeros_like(h)
    dh[T - 1] = do[T - 1] @ V.T  # ∇h(T) L = V ∇o(T) L
    for t in reversed(range(T - 1)):
        dh[t] = (dh[t + 1] * (1 - h[t + 1] ** 2)) @ W.T + do[t] @ V.T
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

# %% [markdown]
# Every relative error is at the level of float64 round-off (~1e-16): the derivation is right.
# The report is also data (`report.rows`, `report.records()`), so you can plot or assert on it:

# %%
print(report.ok, f"{report.max_rel_error:.1e}", report.records()[3])

# %% [markdown]
# ## 3. A classic mistake, located
#
# Forget that $\tanh' = 1 - \tanh^2$ in the recursion, i.e. write
# $\nabla_{h(t)}L = W\,\nabla_{h(t+1)}L + V\,\nabla_{o(t)}L$:


# %%
def wrong_rnn_backward(cache):
    right = my_rnn_backward(cache)
    p, h = cache.params, cache.h
    T = len(h)
    dh = right.dh.copy()
    for t in reversed(range(T - 1)):
        dh[t] = dh[t + 1] @ p["W"].T + right.do[t] @ p["V"].T  # the (1 − h(t+1)²) factor is gone
    da = dh * (1 - h**2)
    h_prev = np.concatenate([cache.state0[0][None], h[:-1]])
    grads = dict(right.params, b=da.sum(axis=(0, 1)), W=np.einsum("tni,tnj->ij", h_prev, da),
                 U=np.einsum("tnd,tnj->dj", cache.x, da))
    return unroll.Gradients(grads, dh, None, right.do, {"a": da}, right.dx, right.dstate0)


report = bptt.compare(model, x, y, backward=wrong_rnn_backward)
print(report)

# %% [markdown]
# The rows are in the order the backward pass computes them. Everything at $t = T = 4$ agrees; the
# first disagreement is $\nabla_{h(3)}L$: the first quantity that uses the broken line. The finite
# differences side with autodiff, so it is the formula that is wrong, not the engine.

# %%
bad = report.first_disagreement
print("first disagreement:", bad.label, "at t =", bad.t)

# %% [markdown]
# ## 4. LSTM and GRU, gate by gate
#
# The same check for the gated cells (their formulas are in `bptt/lstm.py` and `bptt/gru.py`, and the
# fused cells of `nn/fused.py` use the same one-step derivation). The parameter table splits every
# weight into its gates' rows; the per-step table has one column per gate's pre-activation.
# This is what `tinygrad-seq check --model lstm` prints:

# %%
print(bptt.check_random("lstm", hidden=4, steps=3 if FAST else 5, seed=0))

# %%
print(bptt.check_random("gru", hidden=4, steps=3, seed=1, fd_samples=4).verdict)
print(bptt.check_random("lstm", hidden=4, steps=3, seed=2, peephole=True, fd_samples=4).verdict)

# %% [markdown]
# ## 5. Why long-range gradients vanish or explode
#
# Each $\nabla_{h(t)}L$ is a sum of terms $(\partial h(T)/\partial h(t))^\top \nabla_{h(T)}L$, and
#
# $$\frac{\partial h(T)}{\partial h(t)} = \prod_{k=t}^{T-1} D(k+1)\,W^\top,\qquad
# \Big\|\frac{\partial h(T)}{\partial h(t)}\Big\| \le \prod_{k=t}^{T-1}\sigma_{\max}(D(k+1))\,\sigma_{\max}(W).$$
#
# With $\tanh$, $\sigma_{\max}(D) \le 1$, so $\sigma_{\max}(W) < 1$ forces the gradient to shrink
# geometrically with the gap $T - t$. Here are the norms and the bound for a random RNN:

# %%
rng = np.random.default_rng(0)
T_long = 12
H = 6
q = dict(U=rng.standard_normal((3, H)), W=jacobian.with_spectral_radius(H, 1.2, rng), b=np.zeros(H),
         V=rng.standard_normal((H, 2)), c=np.zeros(2))
long_cache = rnn.rnn_forward(rng.standard_normal((T_long, 1, 3)), rng.integers(0, 2, (T_long, 1)), q)
norms, bound = jacobian.jacobian_norms(long_cache), jacobian.jacobian_bound(long_cache)
print("   t   ‖∂h(T)/∂h(t)‖     bound")
for t in range(0, T_long + 1, 2):
    print(f"{t:4d}   {norms[t]:12.3e}   {bound[t]:9.3e}")

# %% [markdown]
# Without the nonlinearity the picture is exact. For $h(t) = W^\top h(t-1)$ with a symmetric $W$,
# written $W^\top = Q^\top \Lambda Q$, we get $h(t) = Q^\top \Lambda^t Q\, h(0)$: each eigen-direction
# is multiplied by $\lambda_i^t$. The gradient norms are exactly $\rho^{T-t}$, $\rho$ the spectral radius:

# %%
view = jacobian.eigen_view(jacobian.with_spectral_radius(4, 0.9, rng), rng.standard_normal(4), 10)
print("eigenvalues:", view.eigenvalues)
print("h(t) by iterating = Qᵀ Λᵗ Q h(0):", np.allclose(view.h, view.h_eigen))

sweep = jacobian.spectral_radius_sweep((0.5, 0.9, 1.0, 1.1, 1.5), H=8, T=30)
for rho, n in sweep.items():
    print(f"ρ = {rho:3.1f}: ‖∂h(30)/∂h(0)‖ = {n[0]:9.3e}   (ρ^30 = {rho**30:9.3e})")

# %%
try:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for rho, n in sweep.items():
        ax.semilogy(np.arange(len(n))[::-1], n, label=f"ρ = {rho}")
    ax.set_xlabel("gap T − t")
    ax.set_ylabel("‖∂h(T)/∂h(t)‖₂")
    ax.set_title("linear RNN: vanishing (ρ < 1) and exploding (ρ > 1)")
    ax.legend()
    fig.tight_layout()
    fig.savefig("spectral_radius_linear_rnn.png", dpi=110)
    plt.close(fig)
except ImportError:
    print("(matplotlib is not installed: no plot)")

# %% [markdown]
# ## 6. A regularizer for gradient flow
#
# Pascanu, Mikolov & Bengio (2013) ask each step to pass the error back without shrinking it:
#
# $$\Omega = \sum_t \left(\frac{\|(\nabla_{h(t)}L)^\top\, \partial h(t)/\partial h(t-1)\|}
# {\|\nabla_{h(t)}L\|} - 1\right)^2 .$$
#
# $\Omega$ contains gradients, so minimising it needs the gradient of a gradient: the engine's
# `create_graph=True`. A few steps of gradient descent on $\Omega$ alone, starting from a recurrent
# matrix that makes gradients vanish:

# %%
tg.manual_seed(1)
lm = bptt.RecurrentLM("rnn", 3, 6, 3)
with tg.no_grad():
    lm.rnn.weight_hh_l0.data = 0.3 * lm.rnn.weight_hh_l0.data
xs, ys = rng.standard_normal((8, 4, 3)), rng.integers(0, 3, (8, 4))
for step in range(4 if FAST else 16):
    omega, L = bptt.gradient_flow_regularizer(lm, xs, ys)
    lm.zero_grad()
    omega.backward()
    with tg.no_grad():
        for w in lm.rnn.parameters():
            w.data = w.data - 0.05 * w.grad.data
    if step % 3 == 0:
        reach = jacobian.jacobian_norms(unroll.forward(rnn.cell(), xs, ys, lecture_params(lm, "rnn")))[0]
        print(f"step {step:2d}   Ω = {omega.item():7.4f}   ‖∂h(8)/∂h(0)‖ = {reach:.2e}")

# %% [markdown]
# ## 7. Truncated BPTT: a gradient that stops looking back
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
for k in (1, 2, 4, 8, 24):
    tr = truncated.truncated_backward(c_tr, k)
    err = np.linalg.norm(tr.params["W"] - full["W"]) / np.linalg.norm(full["W"])
    print(f"k = {k:2d}: relative difference of ∇W from full BPTT = {err:.2e}")

# %% [markdown]
# ## 8. Real-time recurrent learning: the same gradient, forwards
#
# RTRL carries $S(t) = \partial h(t)/\partial\theta$ forward in time and never stores the past:
# $S(t) = D(t)\,[W^\top S(t-1) + \partial a(t)/\partial\theta]$. Same gradient as BPTT:

# %%
loss_fwd, g_fwd = rtrl.rnn_rtrl(x, y, p)
g_bwd = rnn.rnn_backward(cache).params
print("RTRL vs BPTT:", {k: f"{np.linalg.norm(g_fwd[k] - g_bwd[k]) / np.linalg.norm(g_bwd[k]):.1e}" for k in p})

# %% [markdown]
# But each step multiplies an H × H matrix by an H × P one, P ≈ H²: O(H⁴) per step, against BPTT's O(H²).

# %%
print(rtrl.measure_cost((4, 8, 16) if FAST else (4, 8, 16, 32, 48), T=10, repeats=1 if FAST else 3))

# %% [markdown]
# ## What to try next
#
# * Write `my_lstm_step_backward` from the equations in `bptt/lstm.py` and check it with
#   `bptt.compare(model, x, y, backward=functools.partial(unroll.backward, step_backward=...))`.
# * From the command line: `tinygrad-seq check --model gru --hidden 16 --steps 10`.
