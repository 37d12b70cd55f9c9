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
# # Long-term dependencies, hands on
#
# A recurrent network shares one $W$ across time. The lecture shows what that costs: whatever reaches step
# $T$ from step $t$ is multiplied by (a Jacobian involving) $W$ once per step in between, so it shrinks or
# grows geometrically with the gap $T - t$. This lesson measures that, then tries the lecture's remedies:
#
# 1. the RNN design patterns, in one short tour (where long dependencies come from);
# 2. the eigenvalues of $W$ and $h(t) = (W^\top)^t h(0)$: vanishing for $\rho(W) < 1$, exploding for $\rho(W) > 1$;
# 3. $\|\partial L/\partial h(t)\|$ in the RNN, the LSTM and the GRU;
# 4. gradient clipping, on a network whose gradients explode;
# 5. the echo state network: do not learn $W$ at all, choose its spectral radius;
# 6. leaky units, skip connections through time and the clockwork RNN, on a memory task.
#
# Notation as in the lecture, one sequence in column vectors:
# $a(t) = b + W^\top h(t-1) + U^\top x(t)$, $h(t) = \tanh a(t)$, $o(t) = c + V^\top h(t)$.
# (PyTorch's `weight_hh_l0` is $W^\top$; `bptt/notation.py` holds the full mapping.)
#
# Every claim below is checked by an `assert` where it is made; the stochastic ones with a margin that holds over
# seeds (`TGS_SEED=1` runs the lesson on other random numbers). Run it as a script
# (`python tutorials/long_term_dependencies.py`, under half a minute; `TGS_FAST=1` for a quick pass with smaller
# experiments; figures are written to `ltd_out/`) or open it as a notebook with jupytext (figures show inline).

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # tiny matrices: threads only get in each other's way

import pathlib  # noqa: E402
import time  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinygrad_seq as tg  # noqa: E402
import viz  # noqa: E402
from tinygrad_seq import functional as F  # noqa: E402
from tinygrad_seq import nn, optim  # noqa: E402
from tinygrad_seq.bptt import jacobian, rnn  # noqa: E402
from tinygrad_seq.nn.patterns import sequence_cross_entropy  # noqa: E402
from viz import plots  # noqa: E402

FAST = os.environ.get("TGS_FAST") == "1"
SEED = int(os.environ.get("TGS_SEED", "0"))  # another seed draws other numbers: every assert below must still hold
OUT = pathlib.Path("ltd_out")
OUT.mkdir(exist_ok=True)
np.set_printoptions(precision=3, suppress=True, linewidth=110)
START = time.time()

# %% [markdown]
# ## 1. The design patterns, in one short tour
#
# `tinygrad_seq.nn.patterns` writes each of the lecture's patterns as a few lines around an `nn.RNN`,
# `nn.LSTM` or `nn.GRU`. All take time-major input, (T, B, features), or token ids (T, B):

# %%
tg.manual_seed(SEED)
rng = np.random.default_rng(SEED)
T, B, D, V = 7, 3, 5, 10
x = tg.randn(T, B, D)
tokens = rng.integers(3, V, (T, B))  # ids 0, 1, 2 are kept for PAD, BOS, EOS

many_to_one = nn.SequenceClassifier(D, 16, num_classes=4)  # o = V h(T) + c: one label per sequence
one_to_many = nn.OneToMany(D, 16, output_size=3)  # the same x at every step, as in captioning
tagger = nn.SequenceTagger(V, 8, 16, num_tags=4)  # o(t) = V h(t) + c: one tag per token
bi_tagger = nn.BidirectionalTagger(V, 8, 16, num_tags=4)  # o(t) = V [h→(t); h←(t)] + c
seq2seq = nn.Seq2Seq(V, V, embedding_dim=8, hidden_size=16)  # encoder → state C → decoder

shapes = {
    "many-to-one": (x.shape, many_to_one(x).shape),
    "one-to-many": ((B, D), one_to_many(tg.randn(B, D), steps=6).shape),
    "many-to-many": (tokens.shape, tagger(tokens).shape),
    "bidirectional": (tokens.shape, bi_tagger(tokens).shape),
}
for pattern, (shape_in, shape_out) in shapes.items():
    print(f"{pattern:14s} {shape_in} → {shape_out}")
tgt_in = np.vstack([np.full((1, B), 1), rng.integers(3, V, (4, B))])  # BOS, then 4 target tokens
lengths = np.array([7, 5, 3])
print("seq2seq        source", tokens.shape, "+ target", tgt_in.shape, "→ logits",
      seq2seq(tokens, lengths, tgt_in).shape)
print("               greedy decoding (untrained):", seq2seq.greedy_decode(tokens, lengths, max_len=4))
assert [out for _, out in shapes.values()] == [(B, 4), (6, B, 3), (T, B, 4), (T, B, 4)]
assert seq2seq(tokens, lengths, tgt_in).shape == (5, B, V)

# %% [markdown]
# Each pattern sets how far information must travel. In the many-to-one classifier the loss sits at the
# end, so the gradient reaches $x(1)$ only through $T$ steps of the recurrence; the encoder–decoder must
# carry the whole source through one state. The bidirectional tagger is the pattern that *shortens* paths:
# $o(t)$ sees the future through $h^\leftarrow(t)$ directly.
#
# A small experiment makes that concrete. Tag each token with the **next** token (the last one with an
# "end" tag). A left-to-right tagger cannot know $x(t+1)$ at step $t$; a bidirectional one can.


# %%
def next_token_batch(batch, rng, T=8, n=6):
    x = rng.integers(0, n, (T, batch))
    y = np.vstack([x[1:], np.full((1, batch), n)])  # tag n = "end of sequence"
    return x, y


def train_tagger(bidirectional, steps, seed=0):
    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = nn.SequenceTagger(6, 8, 16, num_tags=7, rnn="GRU", bidirectional=bidirectional, cell="fused")
    opt = optim.Adam(model.parameters(), lr=0.03)
    for _ in range(steps):
        xb, yb = next_token_batch(32, rng)
        loss = sequence_cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    xb, yb = next_token_batch(500, np.random.default_rng(100 + seed))
    with tg.no_grad():
        return (model(xb).data.argmax(-1) == yb).mean()


tag_accuracy = {}
for bidirectional in (False, True):
    tag_accuracy[bidirectional] = acc = train_tagger(bidirectional, steps=60 if FAST else 150, seed=SEED)
    print(f"{'bidirectional' if bidirectional else 'left to right'}: held-out tag accuracy {acc:.3f}")
blind = 7 / 8 / 6 + 1 / 8
print(f"(a tagger that cannot see the future: 7/8 · 1/6 + 1/8 = {blind:.3f})")
assert tag_accuracy[True] > 0.95, f"the bidirectional tagger should read the next token: {tag_accuracy[True]:.3f}"
assert tag_accuracy[False] < blind + 0.05, f"left to right cannot beat guessing the future: {tag_accuracy[False]:.3f}"

# %% [markdown]
# ## 2. The eigenvalues of W
#
# Drop the nonlinearity and the input: $h(t) = W^\top h(t-1)$, so $h(t) = (W^\top)^t h(0)$. For a symmetric
# $W$ with eigendecomposition $W^\top = Q^\top \Lambda Q$ ($Q$ orthogonal, rows the eigenvectors),
#
# $$h(t) = Q^\top \Lambda^t Q\, h(0):$$
#
# the component of $h(0)$ along eigenvector $i$ is multiplied by $\lambda_i^t$. It dies out if
# $|\lambda_i| < 1$ and explodes if $|\lambda_i| > 1$; after a while only the largest $|\lambda|$, the
# spectral radius $\rho(W)$, matters. `bptt.jacobian.eigen_view` runs the recurrence both ways:

# %%
h0 = rng.standard_normal(6)
for rho in (0.9, 1.1):
    view = jacobian.eigen_view(jacobian.with_spectral_radius(6, rho, rng), h0, T=200)
    norms = np.linalg.norm(view.h, axis=1)
    print(f"ρ = {rho}: eigenvalues {np.sort(view.eigenvalues)}")
    print(f"        iterating = Qᵀ Λᵗ Q h(0): {np.allclose(view.h, view.h_eigen)};   ‖h(t)‖ at t = 0, 10, 40, 200:",
          " ".join(f"{norms[t]:.2e}" for t in (0, 10, 40, 200)), f" (at most ρ^200 ‖h(0)‖ = {rho**200 * norms[0]:.2e})")
    powers = rho ** np.arange(201)
    assert np.allclose(view.h, view.h_eigen), "iterating and the eigendecomposition should give the same h(t)"
    assert np.all(norms <= powers * norms[0] * (1 + 1e-9)), "‖h(t)‖ ≤ ρᵗ ‖h(0)‖ for a symmetric W"
    top = np.argmax(np.abs(view.eigenvalues))  # the component along the top eigenvector is multiplied by ±ρᵗ
    assert np.allclose(np.abs(view.components[:, top]), powers * np.abs(view.components[0, top]))
    growth = norms[200] / norms[0]
    if rho < 1:
        assert growth < 1e-6, f"ρ = {rho}: h(t) should die out, ‖h(200)‖/‖h(0)‖ = {growth:.1e}"
    else:
        assert growth > 100, f"ρ = {rho}: h(t) should explode, ‖h(200)‖/‖h(0)‖ = {growth:.1e}"

# %% [markdown]
# The same powers multiply the gradients: $\partial h(T)/\partial h(t) = (W^\top)^{T-t}$ for the linear
# RNN, so $\|\partial h(T)/\partial h(t)\| = \rho^{T-t}$ for a symmetric $W$. A figure of both sides, for
# non-symmetric random matrices too (left: the eigenvalues against the unit circle; right: $\|h(t)\|$):

# %%
fig = plots.spectral_radius(rhos=(0.9, 1.0, 1.1), H=16, T=40, seed=SEED)
viz.show(fig, OUT / "ltd_spectral_radius.png")
W_sym = jacobian.with_spectral_radius(6, 0.9, SEED)
for k in (1, 10, 30):  # the Jacobian of k linear steps is (Wᵀ)ᵏ, of norm ρᵏ for a symmetric W
    assert np.isclose(np.linalg.norm(np.linalg.matrix_power(W_sym.T, k), 2), 0.9**k)

# %% [markdown]
# Where does a freshly made `nn.RNN` sit? PyTorch's (and our) default draws every entry of `weight_hh_l0`
# from $U(-1/\sqrt{H}, 1/\sqrt{H})$, variance $1/(3H)$. By the circular law the eigenvalues of such a matrix
# fill a disc of radius about $\sqrt{H \cdot 1/(3H)} = 0.58$, whatever $H$ (small matrices scatter around it):

# %%
for H in (16, 64, 256):
    tg.manual_seed(SEED)
    W_default = nn.RNN(4, H).weight_hh_l0.data.T  # the lecture's W
    radius = np.abs(np.linalg.eigvals(W_default)).max()
    print(f"nn.RNN(4, {H:3d}): spectral radius of W = {radius:.3f}")
    assert radius < 1, f"a default nn.RNN({H}) should start inside the unit circle, ρ = {radius:.3f}"
fig = plots.eigenvalues(W_default, title=f"default nn.RNN(4, {H}): eigenvalues of W")
viz.show(fig, OUT / "ltd_eigenvalues_default_rnn.png")
assert abs(radius - np.sqrt(1 / 3)) < 0.1, f"for H = 256 the circular law predicts ρ ≈ 0.58, measured {radius:.3f}"

# %% [markdown]
# Inside the unit circle: a default-initialised vanilla RNN starts in the vanishing regime.
#
# With the $\tanh$ back in, $\partial h(t+1)/\partial h(t) = D(t+1) W^\top$ with $D = \mathrm{diag}(1 - h^2)$,
# and $\|\partial h(T)/\partial h(t)\| \le \prod_{k=t}^{T-1} \sigma_{\max}(D(k+1))\,\sigma_{\max}(W)$. Since
# $\tanh' \le 1$, saturation only shrinks the product further. `jacobian.jacobian_norms` computes the exact
# norms of a run and `jacobian_bound` the bound:

# %%
H, T_j = 8, 30
p = dict(U=rng.standard_normal((3, H)), W=jacobian.with_spectral_radius(H, 1.2, rng, symmetric=False),
         b=np.zeros(H), V=np.zeros((H, 2)), c=np.zeros(2))
cache = rnn.rnn_forward(rng.standard_normal((T_j, 1, 3)), rng.integers(0, 2, (T_j, 1)), p)
norms, bound = jacobian.jacobian_norms(cache), jacobian.jacobian_bound(cache)
print("ρ(W) = 1.2, σmax(W) =", f"{np.linalg.norm(p['W'], 2):.2f}")
for t in (29, 25, 20, 10, 0):
    print(f"‖∂h({T_j})/∂h({t:2d})‖ = {norms[t]:.2e}    bound {bound[t]:.2e}")
fig = plots.jacobian_norms(norms, bound, title="tanh RNN, ρ(W) = 1.2: ‖∂h(30)/∂h(t)‖ and the bound")
viz.show(fig, OUT / "ltd_jacobian_bound.png")
assert np.all(norms <= bound * (1 + 1e-9)), "the Jacobian norm can never exceed the bound"
assert norms[0] < 1e-2 < 1 < bound[0], f"ρ = 1.2 and yet ‖∂h(30)/∂h(0)‖ = {norms[0]:.1e}: saturation makes it vanish"

# %% [markdown]
# Even with $\rho(W) = 1.2 > 1$ the tanh RNN's Jacobian decays here: the inputs drive the units into
# saturation, where $1 - h^2$ is small. The bound is far above the truth: it says when gradients *must*
# vanish ($\sigma_{\max}(W) < 1$), not how fast they do.
#
# ## 3. ‖∂L/∂h(t)‖ in the RNN, the LSTM and the GRU
#
# Now the real modules. A loss on the last step only, $L = \|V^\top h(T)\|^2$, so every $\partial L/\partial h(t)$
# for $t < T$ arrives through the recurrence alone. `viz.plots.hidden_gradient_norms` finds the tensors named
# `h` in each time step's scope (`RNN/l0/t=17/…`) and asks the engine for $\partial L/\partial h(t)$ at each.

# %%
T_g, H = (30, 32) if FAST else (60, 32)
x_g = tg.tensor(rng.standard_normal((T_g, 1, 4)))
curves, decay = {}, {}
for kind in ("RNN", "LSTM", "GRU"):
    tg.manual_seed(SEED)
    layer, readout = getattr(nn, kind)(4, H), nn.Linear(H, 1)
    out, _ = layer(x_g)
    L = (readout(out[-1]) ** 2).sum()
    _, g = plots.hidden_gradient_norms(L)
    ts = np.arange(1, len(g) + 1)  # h(1) … h(T), as the lecture numbers them (the nn scopes count from 0)
    curves[kind] = ts, g
    decay[kind] = (g[0] / g[-1]) ** (1 / (T_g - 1))
    print(f"{kind:4s}  ‖∂L/∂h(t)‖ at t = T, T−10, T−20: " + "  ".join(f"{g[-1 - k]:.1e}" for k in (0, 10, 20))
          + f"    decay per step ≈ {decay[kind]:.3f}")
fig = plots.gradient_flow(curves)
viz.show(fig, OUT / "ltd_gradient_flow_rnn_lstm_gru.png")
for kind, (ts, g) in curves.items():
    assert len(ts) == T_g and g[0] < 1e-3 * g[-1], f"{kind}: no vanishing gradient, ‖∂L/∂h(1)‖/‖∂L/∂h(T)‖ = " \
        f"{g[0] / g[-1]:.1e}"

# %% [markdown]
# All three decay geometrically at initialisation, and at much the same rate (between 0.45 and 0.7 per step
# over the seeds we tried; which one is slowest depends on the draw). In the LSTM the path through the cell,
# $c(t) = f \odot c(t-1) + \ldots$, multiplies by the forget gate $f$ instead of by $W^\top$ and $\tanh'$; in
# the GRU, $h(t) = (1 - z) \odot n + z \odot h(t-1)$ passes $h(t-1)$ on scaled by $z$. At initialisation both
# gates sit near $\sigma(0) = 0.5$, so these paths lose about as much per step as the plain recurrence. The
# difference is that the gates are *learned*: training can open the path to $f, z \approx 1$, which the vanilla
# RNN cannot do.

# %%
assert all(0.4 < rate < 0.75 for rate in decay.values()), f"decay per step at initialisation: {decay}"

# %% [markdown]
# Gradients of $10^{-7}$ invite the question whether they are real, round-off, or a bug. A gradient check
# answers it: along a random unit direction $v$ of all the weights, the derivative autodiff gives,
# $\langle \nabla_\theta L, v\rangle$, must match the finite difference
# $(L(\theta + \epsilon v) - L(\theta - \epsilon v)) / 2\epsilon$ (two forward passes, in float64):


# %%
def along_random_direction(loss_of, params, eps=1e-6):
    """(autodiff, finite differences) of the derivative of ``loss_of()`` along a random unit direction of ``params``."""
    rng = np.random.default_rng(SEED)
    directions = [rng.standard_normal(p.shape) for p in params]
    length = np.sqrt(sum((v**2).sum() for v in directions))
    directions = [v / length for v in directions]
    for p in params:
        p.grad = None
    loss_of().backward()
    autodiff = sum((p.grad.data * v).sum() for p, v in zip(params, directions))

    def moved(step):
        with tg.no_grad():
            for p, v in zip(params, directions):
                p.data += step * v
            value = loss_of().item()
            for p, v in zip(params, directions):
                p.data -= step * v
        return value

    return autodiff, (moved(eps) - moved(-eps)) / (2 * eps)


x_g64 = tg.tensor(x_g.data.astype(np.float64))
for kind in ("RNN", "LSTM", "GRU"):
    tg.manual_seed(SEED)
    layer, readout = getattr(nn, kind)(4, H).to(np.float64), nn.Linear(H, 1).to(np.float64)
    auto, fd = along_random_direction(lambda layer=layer, readout=readout: (readout(layer(x_g64)[0][-1]) ** 2).sum(),
                                      list(layer.parameters()) + list(readout.parameters()))
    print(f"{kind:4s}  along v: autodiff {auto:+.8e}   finite differences {fd:+.8e}")
    assert abs(auto - fd) < 1e-6 * max(abs(fd), 1e-3), f"{kind}: autodiff and finite differences disagree"

# %% [markdown]
# ## 4. Exploding gradients and clipping
#
# The other side: with $\rho(W)$ well above 1 and units not saturated, gradients grow geometrically. Here is
# the gradient norm of a loss at initialisation, as we scale `weight_hh_l0` of an `nn.RNN` to a chosen
# spectral radius (task: output $x(t-2)$ at every step, a mean squared error). How much it grows depends on the
# draw of $W$ (some draws saturate the units), so we take the median over five initialisations:

# %%
H, T_c, DELAY = 32, 30, 2


def delay_batch(batch, rng):
    """x (T, B, 1) Gaussian; target y(t) = x(t − 2): a short memory, learnable by a small RNN."""
    xb = rng.standard_normal((T_c, batch, 1)).astype(np.float32)  # the default dtype, as the weights
    yb = np.zeros_like(xb)
    yb[DELAY:] = xb[:-DELAY]
    return tg.tensor(xb), tg.tensor(yb)


class DelayNet(nn.Module):
    def __init__(self, rho):
        super().__init__()
        self.rnn, self.readout = nn.RNN(1, H, cell="fused"), nn.Linear(H, 1)
        with tg.no_grad():
            W = self.rnn.weight_hh_l0.data
            self.rnn.weight_hh_l0.data = (W * (rho / np.abs(np.linalg.eigvals(W)).max())).astype(W.dtype)

    def forward(self, x):
        return self.readout(self.rnn(x)[0])


xb, yb = delay_batch(64, np.random.default_rng(SEED))
grad_norm = {}
for rho in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0):
    norms = []
    for k in range(5):
        tg.manual_seed(SEED + k)
        net = DelayNet(rho)
        F.mse_loss(net(xb), yb).backward()
        norms.append(optim.clip_grad_norm_(net.parameters(), np.inf).item())
    grad_norm[rho] = np.median(norms)
    print(f"ρ(W) = {rho:3.1f}: ‖∇θ L‖ = {grad_norm[rho]:10.3e}   (from {min(norms):.2e} to {max(norms):.2e})")
assert grad_norm[0.5] < grad_norm[1.0] and grad_norm[3.0] > 10 * grad_norm[1.0], f"no explosion: {grad_norm}"

# %% [markdown]
# (`clip_grad_norm_` returns the norm *before* clipping; with `max_norm = inf` it only measures.) The large
# norms are true derivatives, not a numerical accident: the same check along a random direction, for one
# $\rho = 2.5$ network,

# %%
tg.manual_seed(SEED)
net = DelayNet(2.5).to(np.float64)
xb64, yb64 = tg.tensor(xb.data[:, :8].astype(np.float64)), tg.tensor(yb.data[:, :8].astype(np.float64))
auto, fd = along_random_direction(lambda: F.mse_loss(net(xb64), yb64), list(net.parameters()))
print(f"ρ = 2.5, along v: autodiff {auto:+.8e}   finite differences {fd:+.8e}")
assert abs(auto - fd) < 1e-5 * abs(fd), "autodiff and finite differences disagree"

# %% [markdown]
# Where the gradient explodes, its *direction* may still be useful but its *length* is not: one plain SGD step
# $\theta \leftarrow \theta - \epsilon g$ throws the parameters far from where the gradient was measured
# (Pascanu, Mikolov & Bengio 2013 picture it as a cliff in the loss landscape). Clipping keeps the direction
# and caps the length at $v$:
#
# $$\text{if } \|g\| > v: \quad g \leftarrow \frac{v\, g}{\|g\|}.$$
#
# For the $\rho = 2.5$ network, compare the length of one SGD step at learning rate $\epsilon = 0.2$ with the
# size of the parameters themselves:

# %%
RHO, LR, CLIP = 2.5, 0.2, 1.0
tg.manual_seed(SEED)
net = DelayNet(RHO)
F.mse_loss(net(xb), yb).backward()
g_norm = optim.clip_grad_norm_(net.parameters(), CLIP).item()
theta_norm = np.sqrt(sum((p.data.astype(np.float64) ** 2).sum() for p in net.parameters()))
print(f"‖θ‖ = {theta_norm:.2f};  ‖g‖ = {g_norm:.1f}")
print(f"unclipped step: ε‖g‖ = {LR * g_norm:.2f}, {LR * g_norm / theta_norm:.1f} times ‖θ‖")
print(f"clipped step:   ε v  = {LR * CLIP:.2f}, {LR * CLIP / theta_norm:.2f} times ‖θ‖")
clipped_norm = np.sqrt(sum((p.grad.data.astype(np.float64) ** 2).sum() for p in net.parameters()))
assert np.isclose(clipped_norm, min(g_norm, CLIP), rtol=1e-4), f"after clipping ‖g‖ = {clipped_norm:.4f}, not v"

# %% [markdown]
# Now train with plain SGD ($\epsilon = 0.2$) from that start, once as is and once with `clip_grad_norm_`
# between `backward()` and `step()`:


# %%
def train_delay(clip, steps, seed=0):
    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = DelayNet(RHO)
    opt = optim.SGD(net.parameters(), lr=LR)
    losses, norms = [], []
    with np.errstate(all="ignore"):  # the unclipped run overflows: we want to see it, not be warned
        for _ in range(steps):
            xb, yb = delay_batch(32, rng)
            loss = F.mse_loss(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            norms.append(optim.clip_grad_norm_(net.parameters(), clip).item())  # the norm before clipping
            opt.step()
            losses.append(loss.item())
            if not np.isfinite(losses[-1]):
                break
    return np.array(losses), np.array(norms)


STEPS_C = 40 if FAST else 150
runs = {"no clipping": train_delay(np.inf, STEPS_C, SEED), f"clipped at v = {CLIP:g}": train_delay(CLIP, STEPS_C, SEED)}
for name, (losses, norms) in runs.items():
    finite = np.isfinite(losses)
    end = f"first non-finite loss at step {np.argmin(finite) + 1}" if not finite.all() else \
        f"mean loss of the last 10 steps {losses[-10:].mean():.3g}"
    print(f"{name:16s} loss at step 1: {losses[0]:.3f}; {end};  largest ‖g‖ {np.nanmax(norms):.2e}")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
for name, (losses, norms) in runs.items():
    ax1.semilogy(np.arange(1, len(losses) + 1), losses, label=name)
    ax2.semilogy(np.arange(1, len(norms) + 1), norms, label=name)
ax1.set_ylim(0.1, 30)  # the unclipped loss leaves the picture upwards, on its way to overflow
ax1.set_xlabel("SGD step")
ax1.set_ylabel("training loss (MSE)")
ax2.set_xlabel("SGD step")
ax2.set_ylabel("‖g‖ before clipping")
ax1.legend(fontsize=8)
fig.suptitle(f"RNN with ρ(W) = {RHO} at the start, SGD with ε = {LR}")
fig.tight_layout()
viz.show(fig, OUT / "ltd_clipping_training.png")
unclipped, clipped = (losses for losses, _ in runs.values())
with np.errstate(all="ignore"):
    exploded = not np.isfinite(unclipped).all() or unclipped.max() > 1e6 * unclipped[0]
assert exploded, f"without clipping the loss should explode, its largest value was {unclipped.max():.2e}"
assert len(clipped) == STEPS_C and np.isfinite(clipped).all(), "with clipping every loss should stay finite"
assert clipped[-10:].mean() < clipped[0], f"clipped, the loss should fall: {clipped[0]:.3f}, {clipped[-10:].mean():.3f}"

# %% [markdown]
# Without clipping, the first steps are so long that the weights leave the region where the gradient was
# measured; the gradients there are larger still, the next steps longer, and the loss explodes (to $10^{30}$
# and beyond, or to infinity, depending on the draw). With
# clipping the same optimizer, learning rate and start train normally. Clipping does not make the gradient
# *right* (it is the exploding one, shortened); it makes one bad step cheap. It does nothing for vanishing
# gradients: those need a different architecture, the subject of the rest of this lesson.
#
# ## 5. Echo state networks: choose W instead of learning it
#
# If learning $W$ through long products is the problem, do not learn it. An echo state network (Jaeger 2001)
# draws a large random reservoir $W$, rescales it to a chosen spectral radius, and trains only the linear
# readout $y(t) = V^\top h(t) + c$. That readout is a linear regression on the states, solved in closed form
# (ridge regression, `fit_ridge`) or by gradient descent (`fit_gradient_descent`).
#
# The spectral radius sets the reservoir's memory. With $\rho < 1$ the reservoir forgets where it started
# (the *echo state property*): two different $h(0)$, driven by the same input, end in the same state.

# %%
N_RES = 100
u_probe = tg.tensor(rng.uniform(-0.5, 0.5, (200, 1, 1)))
for rho in (0.9, 1.5):
    tg.manual_seed(SEED)
    esn = nn.EchoStateNetwork(1, N_RES, 1, spectral_radius=rho, input_scaling=0.5)
    with tg.no_grad():
        starts = [tg.tensor(r.uniform(-1, 1, (1, 1, N_RES))) for r in (np.random.default_rng(SEED + 1),
                                                                       np.random.default_rng(SEED + 2))]
        (s1, _), (s2, _) = (esn.reservoir(u_probe, hx=h) for h in starts)
    gap = np.linalg.norm(s1.data[:, 0] - s2.data[:, 0], axis=1)
    print(f"ρ = {rho}: ‖h_a(t) − h_b(t)‖ at t = 1, 50, 100, 200: " + "  ".join(f"{gap[t - 1]:.1e}" for t in
                                                                               (1, 50, 100, 200)))
    if rho < 1:
        assert gap[-1] < 1e-6 * gap[0], f"ρ = {rho}: the two starts should be forgotten, gap {gap[-1]:.1e}"
    else:
        assert gap[-1] > 0.1 * gap[0], f"ρ = {rho}: the start should not be forgotten, gap {gap[-1]:.1e}"

# %% [markdown]
# A memory task: the input $u(t)$ is uniform noise, and output $k$ must reproduce $u(t - k)$, for
# $k = 1 \ldots 40$. For each delay, $r^2(k)$ is the squared correlation between the readout and $u(t-k)$ on
# held-out data; their sum is Jaeger's *memory capacity*, at most the number of units. We fit the readout by
# ridge regression for several spectral radii:

# %%
K = 40
T_TRAIN, T_TEST, WASHOUT = (800, 400, 50) if FAST else (2000, 1000, 100)
u_all = rng.uniform(-0.5, 0.5, (T_TRAIN + T_TEST, 1, 1))
targets = np.zeros((len(u_all), 1, K))
for k in range(1, K + 1):
    targets[k:, 0, k - 1] = u_all[:-k, 0, 0]  # output k − 1 is u(t − k)


def memory_curve(esn):
    """r²(k), k = 1 … K, on the held-out part (the reservoir runs on from the training part, no restart)."""
    with tg.no_grad():
        y, _ = esn(tg.tensor(u_all))
    pred, true = y.data[T_TRAIN:, 0], targets[T_TRAIN:, 0]
    return np.array([np.corrcoef(pred[:, k], true[:, k])[0, 1] ** 2 for k in range(K)])


memory = {}
for rho in (0.3, 0.6, 0.9, 0.99, 1.2):
    tg.manual_seed(SEED)
    esn = nn.EchoStateNetwork(1, N_RES, K, spectral_radius=rho, input_scaling=0.5)
    esn.fit_ridge(u_all[:T_TRAIN], targets[:T_TRAIN], washout=WASHOUT, ridge=1e-8)
    memory[rho] = memory_curve(esn)
    r2 = memory[rho]
    print(f"ρ = {rho:4}: memory capacity {r2.sum():5.1f};  r²(k) at k = 1, 5, 10, 20, 30: {r2[[0, 4, 9, 19, 29]]}")

fig, ax = plt.subplots(figsize=(6, 3.6))
for rho, r2 in memory.items():
    ax.plot(np.arange(1, K + 1), r2, label=f"ρ = {rho}  (MC = {r2.sum():.1f})")
ax.set_xlabel("delay k")
ax.set_ylabel("r²: readout vs u(t − k)")
ax.set_title(f"echo state network, {N_RES} units: how far back it remembers")
ax.legend(fontsize=8)
fig.tight_layout()
viz.show(fig, OUT / "ltd_esn_memory.png")
capacity = {rho: r2.sum() for rho, r2 in memory.items()}
best = max(capacity, key=capacity.get)
assert best in (0.9, 0.99), f"the memory capacity should peak just below ρ = 1, not at {best}: {capacity}"
assert capacity[best] > capacity[0.3] + 5, f"no clear peak: {capacity}"
assert all(mc <= N_RES for mc in capacity.values())

# %% [markdown]
# Memory grows as $\rho$ approaches 1, where the reservoir's slowest eigen-directions decay most slowly, and
# falls again beyond it, where the reservoir's own dynamics drown the input. The closed form is the exact
# minimiser of the readout's (regularised) squared error. Gradient descent through the engine heads for the same
# minimiser, but the reservoir's states are strongly correlated, so the least-squares problem is badly
# conditioned and gradient descent crawls along its flat directions:

# %%
tg.manual_seed(SEED)
esn = nn.EchoStateNetwork(1, N_RES, K, spectral_radius=0.9, input_scaling=0.5)
mse_gd = esn.fit_gradient_descent(u_all[:T_TRAIN], targets[:T_TRAIN], washout=WASHOUT, steps=100 if FAST else 500)
mc_gd = memory_curve(esn).sum()
mse_ridge = esn.fit_ridge(u_all[:T_TRAIN], targets[:T_TRAIN], washout=WASHOUT, ridge=1e-8)
mc_ridge = memory_curve(esn).sum()
print(f"readout by gradient descent: training MSE {mse_gd:.2e}, memory capacity {mc_gd:.1f}")
print(f"readout by ridge regression: training MSE {mse_ridge:.2e}, memory capacity {mc_ridge:.1f}")
with tg.no_grad():
    states = esn.reservoir(tg.tensor(u_all[:T_TRAIN]))[0].data[WASHOUT:, 0].astype(np.float64)
curvatures = np.linalg.eigvalsh(np.cov(states.T))
print(f"condition number of the states' covariance: {curvatures[-1] / curvatures[0]:.1e}")
assert mse_ridge < mse_gd and mc_gd < mc_ridge, "gradient descent should not yet have reached the closed form"
assert curvatures[-1] / curvatures[0] > 1e4, "the states' covariance should be badly conditioned"

# %% [markdown]
# ## 6. Leaky units, skip connections through time, the clockwork RNN
#
# The lecture's other remedies change the recurrence so that some path through time multiplies by
# something close to the identity, or skips steps altogether:
#
# * **leaky units** (`nn.LeakyRNN`): $h(t) = (1 - \alpha) \odot h(t-1) + \alpha \odot \tanh(a(t))$, so
#   $\partial h(t)/\partial h(t-1) = (1 - \alpha) I + \alpha\, D(t) W^\top$. With $\alpha = 0.1$ a unit keeps
#   90% of its value per step, a time constant of about $1/\alpha = 10$ steps;
# * **skip connections through time** (`nn.TimeSkipRNN`): $a(t)$ also reads $h(t - d)$ through its own
#   weights, so a gradient from step $T$ reaches step $t$ after about $(T - t)/d$ multiplications instead of $T - t$;
# * **the clockwork RNN** (`nn.ClockworkRNN`): the units form modules that update only every $T_k$ steps
#   (periods 1, 2, 4, 8 here) and copy their value in between, an identity Jacobian.
#
# At initialisation, on sequences of 40 steps with a loss at the end only, the gradient reaching $h(1)$:

# %%
H_V = 16
MAKERS = {
    "RNN": lambda: nn.RNN(2, H_V, cell="fused"),
    "LeakyRNN α=0.1": lambda: nn.LeakyRNN(2, H_V, alpha=0.1),
    "TimeSkipRNN d=8": lambda: nn.TimeSkipRNN(2, H_V, skip=8),
    "ClockworkRNN": lambda: nn.ClockworkRNN(2, H_V, periods=(1, 2, 4, 8)),
    "LSTM": lambda: nn.LSTM(2, H_V, cell="fused"),
}


def recall_batch(T, batch, rng):
    """Channel 0 holds a bit ±1 at t = 1 (row 0) and zeros after; channel 1 is noise throughout. Target: the bit."""
    bits = rng.integers(0, 2, batch)
    xb = np.zeros((T, batch, 2), np.float32)
    xb[0, :, 0] = 2 * bits - 1
    xb[:, :, 1] = rng.standard_normal((T, batch))
    return tg.tensor(xb), bits


class Recall(nn.Module):
    """Many-to-one: a recurrent layer, then a linear classifier on the last state."""

    def __init__(self, layer):
        super().__init__()
        self.layer, self.readout = layer, nn.Linear(H_V, 2)

    def forward(self, xb):
        out, _ = self.layer(xb)
        return self.readout(out[-1])


xr, yr = recall_batch(40, 16, np.random.default_rng(SEED))
flow, reach = {}, {}
for name, make in list(MAKERS.items())[:4]:
    tg.manual_seed(SEED)
    model = Recall(make())
    _, g = plots.hidden_gradient_norms(F.cross_entropy(model(xr), yr))
    flow[name] = np.arange(1, len(g) + 1), g  # steps 1 … T
    reach[name] = g[0] / g[-1]
    print(f"{name:16s} ‖∂L/∂h(1)‖ / ‖∂L/∂h({len(g)})‖ = {reach[name]:.1e}")
fig = plots.gradient_flow(flow, title=f"‖∂L/∂h(t)‖ at initialisation, loss at t = {len(g)} only")
viz.show(fig, OUT / "ltd_gradient_flow_variants.png")
for name in list(reach)[1:]:
    assert reach[name] > 1e3 * reach["RNN"], f"{name} should carry the gradient much further back: {reach}"

# %% [markdown]
# Now the test that matters: can training *use* that path? The task above is a pure memory task: the
# answer is the bit seen at $t = 1$, read out at $t = T$ after $T - 1$ steps of noise. Each model trains
# with Adam (learning rate 0.01, batches of 32) until the mean loss of its last 10 batches falls below 0.05,
# or a step budget runs out; then we measure its accuracy on 500 new sequences (chance: 50%). Every model has
# 16 units; the LSTM, with its default initialisation, is there for reference.


# %%
def train_recall(make, T, seed, max_steps):
    """(steps used, held-out accuracy) for one model on the recall task with delay T − 1."""
    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Recall(make())
    opt = optim.Adam(model.parameters(), lr=0.01)
    recent, used = [], max_steps
    for step in range(1, max_steps + 1):
        xb, yb = recall_batch(T, 32, rng)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        recent = (recent + [loss.item()])[-10:]
        if len(recent) == 10 and np.mean(recent) < 0.05:  # solved: stop early
            used = step
            break
    xb, yb = recall_batch(T, 500, np.random.default_rng(1000 + seed))
    with tg.no_grad():
        return used, float((model(xb).data.argmax(-1) == yb).mean())


LENGTHS, SEEDS, MAX_STEPS = ((40,), 1, 150) if FAST else ((10, 40), 3, 300)
models = dict(list(MAKERS.items())[:4]) if FAST else MAKERS
results = {}
print(f"steps used / held-out accuracy, {SEEDS} seed(s) each, at most {MAX_STEPS} steps")
for T in LENGTHS:
    for name, make in models.items():
        t0 = time.time()
        results[T, name] = [train_recall(make, T, seed, MAX_STEPS) for seed in range(SEED, SEED + SEEDS)]
        cells = "   ".join(f"{st:3d} / {acc:.2f}" for st, acc in results[T, name])
        print(f"T = {T:2d}  {name:16s} {cells}    ({time.time() - t0:.1f} s)")

# %% [markdown]
# What the full run measured (without `TGS_FAST`, which trains only the delay 39 and one seed; the numbers
# printed above are the record, and they move a little with the seeds):
#
# * With a short delay every model learns the task.
# * With the longer delay the plain RNN and the default LSTM almost never learn it in the budget (over the
#   9 seeds we tried, the plain RNN did once, the LSTM never): the gradient
#   that would teach them to keep the bit is the product of 39 Jacobians, and it is lost among the gradients
#   of the noise. The LSTM *can* learn this (its forget gate can open to $f \approx 1$), but starting from
#   $f \approx 0.5$ it first has to discover that, through the same vanishing product.
# * The leaky RNN, the skip RNN and the clockwork RNN learn it every time, within a few dozen steps (at most
#   about 100): each has a path
#   through time that loses little per step **from the start**, so the gradient arrives and training
#   only has to use it. The price is flexibility: a fixed $\alpha$ or fixed periods set the time scales in
#   advance, where a gated unit learns them.

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.4))
names = list(models)
width = 0.8 / len(LENGTHS)
for i, T in enumerate(LENGTHS):
    accs = [np.mean([acc for _, acc in results[T, n]]) for n in names]
    ax.bar(np.arange(len(names)) + (i - (len(LENGTHS) - 1) / 2) * width, accs, width, label=f"T = {T}")
ax.axhline(0.5, color="0.5", linestyle=":", linewidth=1, label="chance")
ax.set_xticks(range(len(names)), names, rotation=15, fontsize=8)
ax.set_ylabel("held-out accuracy")
ax.set_ylim(0, 1.25)
ax.set_title(f"recall the bit from t = 1 at t = T (≤ {MAX_STEPS} Adam steps)")
ax.legend(fontsize=8, loc="upper center", ncol=len(LENGTHS) + 1)
fig.tight_layout()
viz.show(fig, OUT / "ltd_recall.png")

longest = max(LENGTHS)
accuracy = {key: [acc for _, acc in runs] for key, runs in results.items()}
steps_used = {key: sum(steps for steps, _ in runs) for key, runs in results.items()}
for name in ("LeakyRNN α=0.1", "TimeSkipRNN d=8", "ClockworkRNN"):
    assert min(accuracy[longest, name]) > 0.95, f"{name} should learn delay {longest - 1}: {accuracy[longest, name]}"
    assert steps_used[longest, name] < steps_used[longest, "RNN"], f"{name} should learn faster than the plain RNN"
if not FAST:
    for name in ("RNN", "LSTM"):
        failed = sum(acc < 0.75 for acc in accuracy[longest, name])
        assert failed >= SEEDS - 1, f"{name} should fail delay {longest - 1} on most seeds: {accuracy[longest, name]}"
    assert all(min(accuracy[10, name]) > 0.9 for name in models), f"all should learn the short delay: {accuracy}"
print(f"total time {time.time() - START:.0f} s")

# %% [markdown]
# ## Summary
#
# * Through $T - t$ steps, a signal or a gradient is multiplied by $T - t$ Jacobians $D(k) W^\top$. In the
#   linear case that is $(W^\top)^{T-t}$: $\rho(W) < 1$ vanishes, $\rho(W) > 1$ explodes. A default `nn.RNN`
#   starts at $\rho \approx 0.6$.
# * Exploding gradients are handled by clipping the norm, $g \leftarrow v g/\|g\|$: cheap and effective.
# * Vanishing gradients need a better path through time: a reservoir whose memory is set by its spectral
#   radius (ESN), units that leak slowly, connections that skip steps, modules that tick slowly, or gates
#   that learn when to keep and when to forget (LSTM, GRU; the lecture's next section).
#
# ## Exercises
#
# 1. Give the LSTM a forget-gate bias of 1 (add 1 to the f block of `bias_hh_l0`, rows H to 2H, as
#    Jozefowicz et al. 2015 suggest) and rerun the recall task at T = 20 and T = 40. Compute
#    $\sigma(1)^{T}$ and $\sigma(0)^{T}$: what do they say about the cell's memory at initialisation?
# 2. Rerun section 6 with T = 80 and T = 160. Which remedy runs out first? Relate your answer to α, d and
#    the longest clock period.
# 3. Train `nn.LeakyRNN(..., learn_alpha=True)` starting from α = 0.5. Does it learn a small α on the
#    recall task? Print `layer.leak()` after training.
# 4. Sweep the spectral radius of the ESN more finely between 0.8 and 1.1, and the input scaling from 0.1 to 2.
#    Where is the memory capacity largest? Why does a large input scaling hurt?
# 5. Repeat section 4 with `optim.Adam` instead of SGD and no clipping. Adam divides by a running
#    gradient norm: is that already a form of clipping?
