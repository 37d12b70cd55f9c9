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
# # The engine in twenty minutes
#
# Every gradient in this library, from the "hello" RNN to the Transformer, is computed by one small
# reverse-mode engine. This lesson opens it up. We build one step of the lecture's RNN,
#
# $$h(t) = \tanh\big(b + W^\top h(t-1) + U^\top x(t)\big),$$
#
# look at the graph it leaves behind, walk that graph backwards ourselves, and then go through every
# tool the engine gives a student of BPTT: reading $\partial L/\partial h(t)$, hooks, cutting the graph
# (truncated BPTT), second derivatives, gradient checks, anomaly detection, and the error messages.
#
# The code works on a batch of N sequences, one per row, so every product is transposed:
# $h(t) = \tanh(x(t)\,U + h(t-1)\,W + b)$ with $x(t)$ of shape (N, D), $U$ (D, H), $W$ (H, H), $b$ (H,)
# (as in `bptt_by_hand.py`; `bptt/notation.py` maps these to PyTorch's `weight_ih_l0`, `weight_hh_l0`).
#
# Every claim the lesson makes is checked by an `assert` next to it, so if the engine (or the lesson) is wrong,
# the lesson stops there. Run it as a script (`python tutorials/autograd_from_scratch.py`; its figure is written to
# `autograd_out/`) or open it as a notebook with jupytext (the figure shows inline).

# %%
import inspect
import os
import pathlib

import matplotlib.pyplot as plt
import numpy as np

import tinygrad_seq as tg
import viz
from tinygrad_seq import functional as F
from tinygrad_seq import nn

FAST = os.environ.get("TGS_FAST") == "1"  # this lesson is fast either way
SEED = int(os.environ.get("TGS_SEED", "0"))  # another seed draws other numbers: every assert below must still hold
OUT = pathlib.Path("autograd_out")
OUT.mkdir(exist_ok=True)
tg.set_default_dtype(np.float64)  # float64 throughout: gradient checks agree to ~1e-10 instead of ~1e-4
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. A tensor records how it was made
#
# A `Tensor` holds a numpy array in `.data`. When an op runs on a tensor that requires grad, the result
# also remembers the op (`.op`, the node `.grad_fn`) and the tensors it came from (`.parents`), plus the
# scope it was made in. Nothing else is needed to go backwards later.

# %%
rng = np.random.default_rng(SEED)
N, D, H = 2, 3, 4
U = tg.tensor(rng.standard_normal((D, H)), requires_grad=True, name="U")
W = tg.tensor(rng.standard_normal((H, H)), requires_grad=True, name="W")
b = tg.tensor(np.zeros(H), requires_grad=True, name="b")
x1 = tg.tensor(rng.standard_normal((N, D)), name="x(1)")  # data: no gradient wanted
h0 = tg.tensor(np.zeros((N, H)), name="h(0)")

with tg.scope("t=1"):
    a1 = x1 @ U + h0 @ W + b
    h1 = a1.tanh()

print(h1)
print("op:", h1.op, "| scope:", h1.scope, "| parents:", [p.op for p in h1.parents])


def show(t, depth=0):
    """Print the graph below t, one line per tensor: op (or name for a leaf) and shape."""
    label = t.op or f"leaf {t.name!r}"
    print("    " * depth + f"{label} {t.shape}")
    for p in t.parents:
        show(p, depth + 1)


show(h1)
assert h1.op == "tanh" and h1.scope == "t=1" and [p.op for p in h1.parents] == ["add"]
assert np.allclose(h1.data, np.tanh(x1.data @ U.data + h0.data @ W.data + b.data))

# %% [markdown]
# Only tensors that require grad appear as parents: `x(1)` and `h(0)` are constants of the ops that read
# them, so the graph ends at $U$, $W$ and $b$. The leaves of the graph are the parameters.
#
# ## 2. Backward is the graph, walked in reverse topological order
#
# For a scalar loss $L$, the chain rule says: the gradient of $L$ with respect to a tensor is the sum, over
# the ops that used it, of what each op sends back. So a tensor may send its own gradient backwards only
# once *all* its users have reported: we must visit the tensors in reverse topological order (every
# tensor after everything computed from it). Here is the whole algorithm, written with the engine's own
# rules (`grad_fn.backward`) and a short version of its broadcasting helper (section 5 says why it is needed):


# %%
def topological_order(root):
    """Every tensor root depends on, each after its parents (iterative depth-first search)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        t, parents_done = stack.pop()
        if parents_done:
            order.append(t)
        elif id(t) not in seen:
            seen.add(id(t))
            stack.append((t, True))
            stack.extend((p, False) for p in t.parents)
    return order


def unbroadcast(g, shape):
    """Sum g back to ``shape``: over the leading axes broadcasting added, and the axes where ``shape`` has 1."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def my_backward(loss):
    """{id(tensor): ∂loss/∂tensor} for every tensor of the graph, by one reverse sweep."""
    grads = {id(loss): np.ones_like(loss.data)}
    for t in reversed(topological_order(loss)):
        fn = t.grad_fn
        if fn is None:  # a leaf: its gradient is complete, nothing to propagate
            continue
        arrays = [a.data if isinstance(a, tg.Tensor) else a for a in fn.inputs]
        for a, ga in zip(fn.inputs, fn.backward(grads[id(t)], *arrays, t.data)):
            if isinstance(a, tg.Tensor) and a.requires_grad:
                ga = unbroadcast(ga, a.shape)
                grads[id(a)] = grads[id(a)] + ga if id(a) in grads else ga  # add: a may have several users
    return grads


L = (h1 * h1).sum()
mine = my_backward(L)
visit = list(reversed(topological_order(L)))
print("visit order:", [t.op or t.name for t in visit])
position = {id(t): i for i, t in enumerate(visit)}
assert all(position[id(p)] > position[id(t)] for t in visit for p in t.parents), "a tensor visited before a user"
assert {t.name for t in visit if t.grad_fn is None} == {"U", "W", "b"}, "the leaves should be the parameters"

L.backward()  # the engine
for p in (U, W, b):
    gap = np.abs(mine[id(p)] - p.grad.data).max()
    print(f"∂L/∂{p.name}: max |mine − engine| = {gap:.1e}")
    assert gap < 1e-12, f"my_backward and the engine disagree on ∂L/∂{p.name} by {gap:.1e}"

# %% [markdown]
# The engine (`autograd.run_backward`) does the same with a different bookkeeping: it counts how many ops
# use each tensor and visits a tensor when its count reaches zero (Kahn's algorithm). Both are explicit
# loops with no recursion, so an RNN unrolled over 100,000 steps does not hit Python's recursion limit.
# After the sweep, the engine frees what each op saved for backward unless `retain_graph=True`.
#
# ## 3. ops.py is the table of derivatives
#
# The `backward` we called is one short method per op in `tinygrad_seq/ops.py`. Each receives
# $g = \partial L/\partial z$ for the op's output $z$ and returns $g\,\partial z/\partial x$ for each input.
# Two rules we just used, found through the nodes they left in the graph: `Tanh` ($dz/dx = 1 - z^2$) and
# `MatMul` ($\partial L/\partial X = G Y^\top$, $\partial L/\partial Y = X^\top G$):

# %%
tanh_rule = type(h1.grad_fn)
matmul_rule = type(next(t for t in visit if t.op == "matmul").grad_fn)
for rule in (tanh_rule, matmul_rule):
    print(f"{rule.__module__}.{rule.__name__}:")
    print(inspect.getsource(rule.backward))
assert tanh_rule.__module__ == matmul_rule.__module__ == "tinygrad_seq.ops"

# %% [markdown]
# The rules use only arithmetic and a few helpers that accept numpy arrays *and* Tensors. That is what
# makes second derivatives work (section 9): the same line runs on Tensors and is recorded.
#
# A new primitive is a subclass of `tg.Function` with `op`, `forward` and `backward`; `.apply` runs it.
# Here is the softsign $z = x / (1 + |x|)$, with $dz/dx = 1/(1 + |x|)^2$:


# %%
class Softsign(tg.Function):
    op = "softsign"  # z = x / (1 + |x|),  dz/dx = 1 / (1 + |x|)²

    def forward(self, x):
        return x / (1 + np.abs(x))

    def backward(self, g, x, z):
        return (g / (1 + abs(x)) ** 2,)  # abs(): works on arrays and on Tensors


xs = tg.tensor([-2.0, 0.0, 3.0], requires_grad=True)
Softsign.apply(xs).sum().backward()
print("softsign'(x) =", xs.grad.data, "  expected", 1 / (1 + np.abs(xs.data)) ** 2)
assert np.allclose(xs.grad.data, [1 / 9, 1, 1 / 16])

# %% [markdown]
# ## 4. Gradients accumulate, and that is BPTT's sum over t
#
# When a tensor feeds several ops, the engine **adds** what each op sends back. In an unrolled RNN the same
# $W$ feeds every step, so
#
# $$\frac{\partial L}{\partial W} = \sum_t \frac{\partial L}{\partial W^{(t)}},$$
#
# where $W^{(t)}$ is "the copy of $W$ used at step $t$". Nothing in the engine knows about time: the
# sum over $t$ of BPTT is this one `+=`. To see it, unroll three steps twice: once sharing $W$, once with
# a separate copy per step, each holding the same values. (We start from a random $h(0)$: from $h(0) = 0$
# the copy used at step 1 would multiply a zero vector and get a zero gradient.)

# %%
T = 3
xs_seq = [tg.tensor(rng.standard_normal((N, D))) for _ in range(T)]
h_start = tg.tensor(rng.standard_normal((N, H)), name="h(0)")


def unroll(Ws, h=h_start):
    """Run T steps, step t using Ws[t]; the loss is the sum of squares of the last state."""
    for t, x_t in enumerate(xs_seq):
        with tg.scope(f"t={t + 1}"):
            h = (x_t @ U + h @ Ws[t] + b).tanh()
    return (h * h).sum()


W.grad = None
unroll([W] * T).backward()
copies = [tg.tensor(W.data, requires_grad=True, name=f"W({t + 1})") for t in range(T)]
unroll(copies).backward()
copy_norms = [np.linalg.norm(c.grad.data) for c in copies]
for c, n in zip(copies, copy_norms):
    print(f"‖∂L/∂{c.name}‖ = {n:.4f}")
gap = np.abs(W.grad.data - sum(c.grad.data for c in copies)).max()
print("shared W:  ‖∂L/∂W‖ =", f"{np.linalg.norm(W.grad.data):.4f};", f"max |∂L/∂W − Σ_t ∂L/∂W(t)| = {gap:.1e}")
assert gap < 1e-12, f"the gradient of a shared W should be the sum over the steps, off by {gap:.1e}"

# %% [markdown]
# The copies get different gradients (each step multiplies a different $h(t-1)$), and only their sum is the
# gradient of the shared $W$. Earlier copies reach the loss only through later steps; with this random $W$
# (spectral radius about 2) that need not make their gradients smaller, but with a contracting $W$ it does
# (section 6 measures the decay). The same adding also happens *across* calls to
# `backward()`: `.grad` keeps accumulating until you clear it, as in PyTorch. That is why every training
# loop starts with `opt.zero_grad()`:

# %%
W.grad = None
unroll([W] * T).backward()
once = W.grad.data.copy()
unroll([W] * T).backward()  # forgot to zero the gradient
print("after two backward() calls, W.grad / (one call's gradient) =", np.round(W.grad.data / once, 6).mean())
assert np.allclose(W.grad.data, 2 * once)

# %% [markdown]
# ## 5. Broadcasting is undone in one place
#
# In $x(t)U + h(t-1)W + b$, the bias $b$ of shape (H,) is added to an (N, H) matrix: numpy copies it
# to every row. The chain rule then *adds up* the copies' gradients, so $\partial L/\partial b$ is the
# gradient of the sum summed over the batch. No rule in ops.py handles this: `ops.Add` returns $g$ as is,
# and the engine calls one function, `autograd.unbroadcast`, which sums a gradient back to its input's shape.

# %%
b.grad = None
z = (x1 @ U + b).tanh()
z.retain_grad()  # keep ∂L/∂z (section 6)
(z * z).sum().backward()
g_pre = z.grad.data * (1 - z.data**2)  # ∂L/∂(x U + b), shape (N, H)
print("∂L/∂(xU + b) has shape", g_pre.shape, "; b has shape", b.shape)
print("b.grad              =", b.grad.data)
print("sum over the batch  =", g_pre.sum(axis=0))
print("unbroadcast(g, (1, H)) has shape", unbroadcast(g_pre, (1, H)).shape)
assert np.allclose(b.grad.data, g_pre.sum(axis=0)) and np.allclose(unbroadcast(g_pre, b.shape), b.grad.data)

# %% [markdown]
# ## 6. Reading ∂L/∂h(t) with retain_grad()
#
# By default only leaves keep `.grad`; intermediate gradients are dropped as the sweep passes them (they
# are large, and usually not needed). `retain_grad()` asks to keep one. Unroll the RNN over 12 steps with
# a loss on the last state only, and read $\|\partial L/\partial h(t)\|$ at every step: the vanishing
# gradient of the lecture, measured. We scale $W$ to spectral radius 0.8 so that the decay is clear.

# %%
T_long = 12
W_small = tg.tensor(0.8 * W.data / np.abs(np.linalg.eigvals(W.data)).max(), requires_grad=True, name="W")
x_long = [tg.tensor(rng.standard_normal((N, D))) for _ in range(T_long)]


def rnn_states(W, h=h0, xs=x_long):
    """[h(0), h(1), …, h(T)] for the lecture's RNN with weights U, W, b."""
    states = [h]
    for t, x_t in enumerate(xs):
        with tg.scope(f"t={t + 1}"):
            h = (x_t @ U + h @ W + b).tanh()
        h.name = f"h({t + 1})"
        states.append(h)
    return states


hs = rnn_states(W_small)
for h in hs[1:]:
    h.retain_grad()
L = (hs[-1] * hs[-1]).sum()
L.backward()
norms_retain = np.array([np.linalg.norm(h.grad.data) for h in hs[1:]])
for t in (12, 9, 6, 3, 1):
    print(f"‖∂L/∂h({t:2d})‖ = {norms_retain[t - 1]:.3e}")
assert norms_retain[0] < 1e-2 * norms_retain[-1], f"no vanishing: ‖∂L/∂h(1)‖ / ‖∂L/∂h(12)‖ = " \
    f"{norms_retain[0] / norms_retain[-1]:.1e}"

# %% [markdown]
# `tg.grad(L, [h(1), …])` computes the same numbers without touching `.grad` (as `torch.autograd.grad`);
# `viz.plots.hidden_gradient_norms` uses it to find the h(t) of any model by their names.

# %%
hs_again = rnn_states(W_small)
grads = tg.grad((hs_again[-1] * hs_again[-1]).sum(), hs_again[1:])
assert np.allclose([np.linalg.norm(g.data) for g in grads], norms_retain, rtol=1e-12)
assert hs_again[1].grad is None, "tg.grad should return the gradients, not store them"
#
# ## 7. Hooks: watch or change a gradient as it passes
#
# `h.register_hook(fn)` calls `fn(grad)` when the gradient of `h` is complete, *before* it is sent further
# back. Returning nothing just watches; returning a tensor replaces the gradient. A hook that returns zeros
# at step 6 stops everything from flowing into steps 1 … 5: a truncation of BPTT done from inside
# the backward pass.

# %%
seen = {}
hs = rnn_states(W_small)
for t, h in enumerate(hs[1:], start=1):
    h.register_hook(lambda g, t=t: seen.__setitem__(t, np.linalg.norm(g.data)))  # watch
hs[6].register_hook(lambda g: tg.zeros_like(g))  # replace: block the gradient at h(6)
W_small.grad = None
(hs[-1] * hs[-1]).sum().backward()
print("watched ‖∂L/∂h(t)‖, t = 12 … 1:", " ".join(f"{seen[t]:.1e}" for t in range(12, 0, -1)))

# %% [markdown]
# The watcher at $h(6)$ runs before the blocking hook (hooks run in the order they were registered) and
# still sees the true gradient; from $h(5)$ down everything is zero. The two curves side by side:

# %%
fig, ax = plt.subplots(figsize=(6, 3.4))
ts = np.arange(1, T_long + 1)
ax.semilogy(ts, norms_retain, "o-", label="retain_grad(): full BPTT")
blocked = np.array([seen[t] for t in ts])
ax.semilogy(ts[blocked > 0], blocked[blocked > 0], "s--", label="hook zeroes the gradient at h(6)")
ax.axvline(5.5, color="0.6", linewidth=0.8)
ax.text(3, norms_retain.max(), "with the hook, t ≤ 5:\nexactly 0 (off a log scale)", ha="center", va="top",
        fontsize=8, color="C1")
ax.set_xlabel("time step t")
ax.set_ylabel("‖∂L/∂h(t)‖")
ax.set_title("loss on h(12) only, W with spectral radius 0.8")
ax.legend(fontsize=8)
fig.tight_layout()
viz.show(fig, OUT / "autograd_hidden_grads.png")  # inline in a notebook, and written to the file
assert np.allclose(blocked[5:], norms_retain[5:]), "from h(12) down to h(6) the watcher sees the true gradient"
assert not blocked[:5].any(), f"the hook at h(6) should stop every gradient below it: {blocked[:5]}"

# %% [markdown]
# ## 8. no_grad() and detach(): truncated BPTT
#
# `with tg.no_grad():` runs ops without recording them (evaluation, optimizer updates): the results do not
# require grad. `h.detach()` returns the same values as a new leaf that is cut from the graph: gradients stop
# there. Truncated BPTT is exactly that: run a long sequence in chunks, carry the state forward, but detach
# it between chunks so each backward goes back at most one chunk.

# %%
with tg.no_grad():
    h_eval = rnn_states(W_small)[-1]
print("made under no_grad(): requires_grad =", h_eval.requires_grad, ", op =", h_eval.op)
assert not h_eval.requires_grad and h_eval.op is None and not h_eval.parents

W_small.grad = None
first_half = rnn_states(W_small, xs=x_long[:6])
second_half = rnn_states(W_small, h=first_half[-1].detach(), xs=x_long[6:])  # the cut
L_trunc = (second_half[-1] * second_half[-1]).sum()
L_trunc.backward()
g_trunc = W_small.grad.data.copy()

W_small.grad = None
full = rnn_states(W_small)
(full[-1] * full[-1]).sum().backward()
same_value = np.isclose(L_trunc.item(), (full[-1] * full[-1]).sum().item(), rtol=1e-12)
rel = np.linalg.norm(g_trunc - W_small.grad.data) / np.linalg.norm(W_small.grad.data)
print("same loss value:", same_value)
print(f"relative difference of ∂L/∂W, truncated vs full BPTT: {rel:.2e}")
assert same_value, "detach() must not change the forward values"
assert 1e-8 < rel < 0.1, f"truncation should change ∂L/∂W a little (radius 0.8, cut 6 steps back), changed {rel:.1e}"

W_small.grad = None
second_alone = rnn_states(W_small, h=tg.tensor(first_half[-1].data), xs=x_long[6:])  # h(6) as a constant
(second_alone[-1] * second_alone[-1]).sum().backward()
assert np.allclose(g_trunc, W_small.grad.data, rtol=1e-12), "behind the cut, nothing should reach W"

# %% [markdown]
# Same forward values, a slightly different gradient: the terms that reached back past the cut are gone.
# With spectral radius 0.8 those terms were already small, which is why truncation works well in practice
# and why it cannot learn dependencies longer than a chunk.
#
# ## 9. create_graph=True: the gradient is itself a graph
#
# With `create_graph=True` the engine runs the same rules on Tensors, so the gradient is recorded and can be
# differentiated again. For $y = \tanh x$: $y' = 1 - y^2$ and $y'' = -2y(1 - y^2)$.

# %%
x = tg.tensor([-1.0, 0.5, 2.0], requires_grad=True)
y = x.tanh()
(dy,) = tg.grad(y.sum(), x, create_graph=True)
(d2y,) = tg.grad(dy.sum(), x)
t_ = np.tanh(x.data)
print("first derivative  engine", dy.data, " formula", 1 - t_**2)
print("second derivative engine", d2y.data, " formula", -2 * t_ * (1 - t_**2))
assert np.allclose(dy.data, 1 - t_**2, rtol=1e-12), "tanh' = 1 − tanh²"
assert np.allclose(d2y.data, -2 * t_ * (1 - t_**2), rtol=1e-12), "tanh'' = −2 tanh (1 − tanh²)"

# %% [markdown]
# In the RNN this gives Hessian-vector products, and it is what the lecture's gradient-flow regularizer
# needs (a loss that contains $\partial L/\partial h(t)$; see `bptt.gradient_flow_regularizer`). A
# Hessian-vector product of the loss with respect to $W$, along a direction $v$, checked by finite
# differences of the gradient:

# %%
v = rng.standard_normal(W_small.shape)


def loss_of(Wt):
    return (rnn_states(Wt)[-1] ** 2).sum()


Wt = tg.tensor(W_small.data, requires_grad=True)
(gW,) = tg.grad(loss_of(Wt), Wt, create_graph=True)
(Hv,) = tg.grad((gW * tg.tensor(v)).sum(), Wt)


def grad_at(Wdata):
    Wp = tg.tensor(Wdata, requires_grad=True)
    return tg.grad(loss_of(Wp), Wp)[0].data


eps = 1e-6
fd = (grad_at(W_small.data + eps * v) - grad_at(W_small.data - eps * v)) / (2 * eps)
hv_error = np.linalg.norm(Hv.data - fd) / np.linalg.norm(fd)
print(f"‖Hv‖ = {np.linalg.norm(Hv.data):.4f};  relative error vs finite differences of ∇L: {hv_error:.1e}")
assert hv_error < 1e-6, f"Hessian-vector product off by {hv_error:.1e}"

# %% [markdown]
# ## 10. gradcheck: the engine against finite differences
#
# `tg.gradcheck(fn, inputs)` compares every gradient of `fn` with central differences
# $(f(x + \epsilon e_i) - f(x - \epsilon e_i)) / 2\epsilon$, in float64. A non-scalar output is reduced with a
# fixed *random* weighting, so a rule that mixes up two output entries (a transposition) cannot hide
# behind a plain sum. `tg.gradgradcheck` does the same for second derivatives. One RNN step:

# %%
def rnn_step(x_t, h, U, W, b):
    return (x_t @ U + h @ W + b).tanh()


tg.manual_seed(SEED)
inputs = [tg.randn(N, D), tg.randn(N, H, requires_grad=True), tg.randn(D, H, requires_grad=True),
          tg.randn(H, H, requires_grad=True), tg.randn(H, requires_grad=True)]
first, second = tg.gradcheck(rnn_step, inputs), tg.gradgradcheck(rnn_step, inputs)
print("gradcheck:", first, "  gradgradcheck:", second)
assert first and second

# %% [markdown]
# And what a failure looks like. Give softsign the derivative most people write first, $1/(1 + |x|)$
# (the square is missing):


# %%
class WrongSoftsign(Softsign):
    def backward(self, g, x, z):
        return (g / (1 + abs(x)),)


u = tg.tensor([0.5, -1.0, 2.0], requires_grad=True, name="u")
try:
    tg.gradcheck(lambda u: WrongSoftsign.apply(u), [u])
    report = None
except AssertionError as e:
    report = str(e)
print(report)
assert report is not None and "'u'" in report, "gradcheck should fail, naming the input u"

# %% [markdown]
# The report names the input and its worst element, with both numbers. (The output was weighted by a random
# number, so we do not see $1/3$ against $1/9$ directly, but their ratio is exactly $1 + |u| = 3$: the wrong
# rule is off by the factor $1 + |u|$ everywhere.)

# %%
u.grad = None
WrongSoftsign.apply(u).sum().backward()
wrong = u.grad.data
u.grad = None
Softsign.apply(u).sum().backward()
print("wrong rule / right rule =", wrong / u.grad.data, "  1 + |u| =", 1 + np.abs(u.data))
assert np.allclose(wrong / u.grad.data, 1 + np.abs(u.data))
#
# ## 11. detect_anomaly(): where did the first NaN come from?
#
# A NaN spreads through everything computed after it, so by the time the loss is NaN the cause is far
# away. Inside `with tg.detect_anomaly():` every op checks its output, and every backward rule its
# gradients, and the first NaN or Inf raises an error naming the op and the scope it ran in (modules and
# time steps open scopes, so the scope says where in the unrolled network it happened).
#
# A forward example: the log of a probability that came out negative, at step 3.

# %%
def anomaly(fn):
    """The message of the FloatingPointError that detect_anomaly() raises inside fn, or None."""
    with tg.detect_anomaly(), np.errstate(divide="ignore", invalid="ignore"):
        try:
            fn()
        except FloatingPointError as e:
            print("FloatingPointError:", e)
            return str(e)


def negative_log():
    with tg.scope("RNN"), tg.scope("t=3"), tg.scope("loss"):
        p = -(hs[3] * hs[3]).sum(axis=1)  # a "probability" with a sign slip: below 0
        return -p.log()


message = anomaly(negative_log)
assert message is not None and "log" in message and "RNN/t=3/loss" in message, message

# %% [markdown]
# A backward example, more treacherous because the forward pass is fine: the norm $\|h\| = \sqrt{\sum h^2}$
# of a state that is exactly zero (h(0) is!) has the value 0, but its derivative $h/\|h\|$ is 0/0: the rule
# of `ops.Sqrt`, $g/(2z)$, divides by $z = 0$.

# %%
h_zero = tg.tensor(np.zeros((N, H)), requires_grad=True, name="h(0)")


def norm_of_zero():
    with tg.scope("regularizer"):
        norms = (h_zero * h_zero).sum(axis=1).sqrt()  # one norm per sequence of the batch
    print("forward: ‖h(0)‖ per sequence =", norms.data)
    norms.sum().backward()


message = anomaly(norm_of_zero)
assert message is not None and "backward of sqrt" in message and "regularizer" in message, message

# %% [markdown]
# ## 12. Mistakes get a clear message
#
# The commonest bugs in sequence code are shape bugs (time-major against batch-major, a transposed
# weight, the wrong input size). The engine checks shapes where it knows them, and its messages say what,
# where and with which shapes. A few, each caught and printed:

# %%
def attempt(what, fn, *expected):
    """Run fn, print the error it raises, and check that the message contains each of ``expected``."""
    try:
        fn()
    except (ValueError, RuntimeError, TypeError) as e:
        print(f"{what}\n    {type(e).__name__}: {e}\n")
        missing = [word for word in expected if word not in str(e)]
        assert not missing, f"the message should say {missing}: {e}"
        return
    raise AssertionError(f"no error for: {what}")


with tg.scope("RNN"), tg.scope("t=4"):
    attempt("x(t) U with U stored the other way round, (H, D) as PyTorch's weight_ih, instead of (D, H):",
            lambda: x1 @ tg.randn(H, D), "matmul in RNN/t=4", f"{(N, D)}", f"{(H, D)}")

rnn = nn.RNN(input_size=D, hidden_size=H)
attempt("an nn.RNN fed batch-major (N, T, D') data with the wrong feature size:",
        lambda: rnn(tg.randn(N, 5, D + 2)), f"input_size={D}", f"{(N, 5, D + 2)}")
attempt("cross_entropy with one target per sequence instead of one per step:",
        lambda: F.cross_entropy(tg.randn(6, 4), np.array([0, 1])), "cross_entropy", "(6,)", "(2,)")
attempt("backward() on a non-scalar (the per-step losses, not their sum):",
        lambda: (hs[-1] * 2).backward(), "scalar", f"{(N, H)}")

L = (rnn_states(W_small)[-1] ** 2).sum()
L.backward()
attempt("a second backward() through the same graph:", lambda: L.backward(), "second time", "retain_graph=True")


def add_in_place():
    s = h0.tanh() + W_small.sum()  # a tensor that requires grad
    y = (s * s).sum()  # the backward of s * s needs s
    s.data += 1  # a write through .data is counted by the version counter (s = s + 1 would be a new tensor)
    y.backward()


attempt("changing in place a tensor that backward still needs:", add_in_place, "modified in place")

# %% [markdown]
# ## Summary
#
# * A tensor made by an op remembers the op and its inputs; `backward()` visits them in reverse topological
#   order and applies one rule per op from `ops.py`.
# * The rules' results are **added** into each input's gradient: that is the sum over $t$ of BPTT for a
#   weight shared by all steps, and the reason to `zero_grad()` between steps.
# * `retain_grad()`, `tg.grad` and hooks read (or change) $\partial L/\partial h(t)$; `no_grad()` and
#   `detach()` cut the graph, as truncated BPTT does; `create_graph=True` differentiates gradients.
# * `gradcheck`, `detect_anomaly` and the error messages exist so that a wrong number never passes silently.
#
# ## Exercises
#
# 1. Write `Softplus` ($z = \log(1 + e^x)$, $dz/dx = \sigma(x)$) as a `tg.Function`, gradcheck it, and
#    gradgradcheck it. Does your backward work with `create_graph=True`? (Use only operators and the helpers
#    at the top of `ops.py`.)
# 2. In section 6, set the spectral radius of $W$ to 1.5. How do the norms of $\partial L/\partial h(t)$
#    behave now? Why do they not simply grow like $1.5^{12-t}$? (Hint: $\tanh'$.)
# 3. Use a hook on every $h(t)$ that clips the gradient's norm to 1 (per-step clipping) and compare
#    $\partial L/\partial W$ with that of `optim.clip_grad_norm_`, which clips the total.
