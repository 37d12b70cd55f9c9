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
# # Attention over an image: show, attend and tell
#
# A captioning model reads an image and writes a sentence about it. The first ones (Vinyals et al. 2015)
# squeezed the image into one vector and handed it to an LSTM that wrote the words, the same bottleneck
# as the encoder–decoder without attention. Xu et al. (2015), "Show, attend and tell", keep a *grid* of
# feature vectors, one per place of the image, and let the LSTM look at the grid before each word:
# when it writes "circle" it should be looking at the circle. This lesson:
#
# 1. makes a small data set of images of coloured shapes with their captions, where we know which object
#    each word is about;
# 2. turns an image into a grid of annotation vectors a(1 … L) without any convolution;
# 3. writes the captioning decoder's equations and draws its unrolled graph;
# 4. trains it with soft attention and without attention on the same budget, and measures both the
#    captions and whether the attention of each word falls on the object it names;
# 5. draws the attention of every word over the image;
# 6. trains hard attention, which looks at one sampled place, with REINFORCE, and compares.
#
# Know first: the attention lesson (`tutorials/attention.py`: scores, soft and hard attention, REINFORCE
# with a baseline) and the LSTM (`nn.LSTMCell`).
#
# Run it as a script (`python tutorials/image_attention.py`, about a minute; `TGS_FAST=1` for a quick pass
# on a smaller grid) or open it as a notebook with jupytext. Figures go to `image_attention_out/`.

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
from tinygrad_seq.captions import (  # noqa: E402
    COLOURS,
    ShapesTask,
    attention_accuracy,
    evaluate_captioning,
    train_captioning,
)
from viz import plots  # noqa: E402

FAST = os.environ.get("TGS_FAST") == "1"
OUT = pathlib.Path("image_attention_out")
OUT.mkdir(exist_ok=True)
np.set_printoptions(precision=3, suppress=True, linewidth=120)
START = time.perf_counter()
# The seed of the models' initial weights and batch order (`TGS_SEED=k` runs another); the margins
# asserted below held for the seeds listed where they are asserted.
SEED = int(os.environ.get("TGS_SEED", "0"))

# %% [markdown]
# ## 1. The data: shapes on a grid, captioned from left to right
#
# `tinygrad_seq.captions.ShapesTask` draws, with numpy, 2–3 shapes (square, circle, triangle) in three
# colours on a grid of cells, one shape per column, a little shifted and dimmed at random, with noise. The
# caption names the shapes from left to right, colour then shape. Each word of a caption belongs to one
# object, and the task remembers its cell: that is the *true alignment* we will hold the attention to.
# (In fast mode the grid is 3 × 3 and there are always 2 shapes.)

# %%
GRID = 3 if FAST else 4
task = ShapesTask(grid_size=GRID, max_objects=2 if FAST else 3)
train = task.dataset(1500 if FAST else 3000, seed=0)
test = task.dataset(200 if FAST else 300, seed=1)
L_cells, c = GRID * GRID, task.cell_size
print(f"{len(train)} training and {len(test)} test images of {task.image_size} × {task.image_size} pixels, "
      f"{GRID} × {GRID} cells; vocabulary {task.vocab.itos}")


def show_image(ax, image, title=None):
    ax.imshow(np.clip(image.transpose(1, 2, 0), 0, 1), interpolation="nearest")
    for k in range(1, GRID):  # the cell borders: the places the decoder can look at
        ax.axhline(k * c - 0.5, color="white", lw=0.4, alpha=0.4)
        ax.axvline(k * c - 0.5, color="white", lw=0.4, alpha=0.4)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


fig = Figure(figsize=(10, 5.2), layout="constrained")
for i, ax in enumerate(fig.subplots(2, 4).flat):
    words = task.vocab.decode(train.captions[i]).split()
    show_image(ax, train.images[i], " ".join(words[:2]) + "\n" + " ".join(words[2:]))
    for k in range(0, len(words), 2):  # every object is lit, in its own colour, in the cell of its words
        row, col = divmod(train.cells[i][k], GRID)
        cell = train.images[i][:, row * c:(row + 1) * c, col * c:(col + 1) * c]
        assert cell[COLOURS[words[k]]].max() > 0.5, f"image {i}: no {words[k]} in cell {train.cells[i][k]}"
viz.show(fig, OUT / "shapes.png")

# %% [markdown]
# ## 2. A grid of features, without convolution
#
# Xu et al. took the annotation vectors from a layer of a convolutional network trained on ImageNet: 14 × 14
# places, 512 features each. Our images are simple enough for a much smaller encoder. `nn.PatchEncoder`
# cuts the image into its cells and maps the pixels x(i) of each to D features, adding a learned code P(i)
# of the place (as a Vision Transformer's patch embedding does):
#
#     a(i) = tanh(W_e x(i) + b_e + P(i)),   i = 1 … L
#
# Annotation a(i) sees patch i and nothing else: the check below changes the pixels of one cell and finds
# that only its own annotation moves. Whatever a(i) knows about other places, the decoder must find by
# looking there.

# %%
tg.manual_seed(SEED)
encoder = nn.PatchEncoder(in_channels=3, patch_size=c, feature_size=64, grid_size=GRID)
images = train.images[:2]
with tg.no_grad():
    a = encoder(images).data
    changed = images.copy()
    changed[:, :, :c, c:2 * c] += 0.5  # the second cell of the top row
    a_changed = encoder(changed).data
moved = np.abs(a_changed - a).max(-1)  # (N, L): how far each annotation moved
print("annotations:", a.shape, "  moved by the change, per cell:", moved[0].round(2))
assert moved[:, 1].min() > 0.1 and np.all(np.delete(moved, 1, axis=1) == 0), f"a(i) sees patch i alone: {moved}"

# %% [markdown]
# ## 3. The decoder: an LSTM that looks before each word
#
# `nn.CaptionDecoder` (inside `nn.ShowAttendTell`) writes word y(t) from its state h(t−1), the word before,
# and a context ẑ(t) taken from the grid:
#
#     h(0) = tanh(W_h ā + b_h),  c(0) = tanh(W_c ā + b_c)          ā = mean of the a(i): a first glance at it all
#     e(t, i) = v_aᵀ tanh(W_a h(t−1) + U_a a(i) + b_a)              how much place i matters for the next word
#     α(t, ·) = softmax(e(t, ·))                                    the attention: L weights that sum to 1
#     ẑ(t) = Σ_i α(t, i) a(i)                                       soft attention: the expected annotation
#     h(t), c(t) = LSTM([E y(t−1); ẑ(t)], (h(t−1), c(t−1)))
#     o(t) = L_o tanh(E y(t−1) + L_h h(t) + L_z ẑ(t)) + b_o,   ŷ(t) = softmax(o(t))
#
# The last line is Xu et al.'s "deep output": the word is read from the state, the context and the previous
# word together. Without attention (`attention=None`) ẑ(t) = ā at every step: the same sizes, one fixed
# summary of the image, the bottleneck of the first captioning models.
#
# Every stage runs in a named scope, so the unrolled graph, drawn with each stage collapsed to a box, is
# the figure of the paper: the encoder and the initial state at the bottom, then per step attention → LSTM
# → deep output, the LSTM's state passed on to the next step (blue arrows).

# %%
tg.manual_seed(SEED)
small = nn.ShowAttendTell(len(task.vocab), patch_size=c, grid_size=GRID, feature_size=8, embedding_dim=4,
                          hidden_size=8, attention_dim=4).name_parameters()
batch = train.batch([0])
image = tg.tensor(batch.images, name="image", requires_grad=True)  # a gradient only so that viz traces the pixels in
logits = small(image, batch.tgt_in[:3])  # the first two words and their successors
loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.tgt_out[:3].reshape(-1))
loss.name = "L"
print("logits", logits.shape, " attention", small.last_alignment.shape, " each row sums to",
      small.last_alignment.sum(-1).round(6))
assert np.allclose(small.last_alignment.sum(-1), 1), "every step's attention should sum to 1"
graph = viz.draw(loss, collapse=["encoder", "init_state", "keys", "attention", "lstm", "deep_output"],
                 title="show, attend and tell: three steps of the decoder")
steps_drawn = {n.path for n in graph.graph.nodes.values() if n.kind == "scope" and n.title == "attention"}
assert len(steps_drawn) == 3, f"one attention box per step: {sorted(steps_drawn)}"
viz.show(graph, OUT / "decoder_graph.svg")

# %% [markdown]
# ## 4. Soft attention against no attention, on the same budget
#
# Both models have the same sizes (D = 64 features per place, an LSTM of 64 units, words of 16 dimensions)
# and get the same data, Adam steps of 32 images and learning-rate schedule (a cosine decay to zero). Three
# numbers for each, on unseen images:
#
# * **exact**: the share of greedy captions entirely right;
# * **words**: the share of caption words right at their position;
# * **on object**: teacher forced on the true caption, the share of words whose largest attention weight is
#   on the cell of the object the word names. Chance, for a model that looks at one of the image's objects
#   at random, is the mean of 1 / (number of objects) over the words, printed below.

# %%
steps = 300 if FAST else 1000


def cosine(step):
    return 0.5 * (1 + math.cos(math.pi * step / steps))


def build(attention):
    return nn.ShowAttendTell(len(task.vocab), patch_size=c, grid_size=GRID, feature_size=64, hidden_size=64,
                             attention=attention)


def run(attention, credit="word"):
    tg.manual_seed(SEED)
    model = build(attention)
    curve = []
    stats = train_captioning(model, train, steps=steps, lr=1e-2, lr_schedule=cosine, credit=credit,
                             log=lambda step, loss: curve.append((step, loss)))
    scores = evaluate_captioning(model, test)
    on_object = attention_accuracy(model, test) if attention else (float("nan"), float("nan"))
    return dict(model=model, curve=curve, on_object=on_object[0], mass=on_object[1], **scores, **stats)


chance = float(np.mean([1 / (len(words) // 2) for words in test.captions for _ in words]))
print(f"{steps} steps of 32 images; chance of looking at the named object: {chance:.2f} "
      f"(one of the objects at random), {1 / L_cells:.2f} (one of the {L_cells} cells at random)\n")
header = f"{'model':<28} {'time s':>7} {'loss':>6} {'exact':>6} {'words':>6} {'on object':>10} {'α there':>8}"
print(header)


def report(label, r):
    looked = f"{'-':>10} {'-':>8}" if math.isnan(r["on_object"]) else f"{r['on_object']:>10.2f} {r['mass']:>8.2f}"
    print(f"{label:<28} {r['seconds']:>7.1f} {r['loss']:>6.3f} {r['exact']:>6.2f} {r['words']:>6.2f} {looked}")


runs = {}
for key, label in (("soft", "soft attention"), (None, "no attention")):
    runs[key] = run(key)
    report(label, runs[key])

# %% [markdown]
# Soft attention writes nearly every caption right, and its largest weight is on the named object for
# nearly every word, far above chance. Without attention the LSTM has to read every object, its colour,
# its shape and its place from one mean vector; it learns the grammar (colour, shape, colour, shape) and
# little else. Over seeds 0, 1, 2: soft 0.99 exact with 0.94–0.98 of the words on their object, no
# attention 0.10–0.21 (fast mode: soft 0.99–1.00 and 0.98–1.00, no attention 0.11–0.38).

# %%
soft, none = runs["soft"], runs[None]
assert soft["exact"] > 0.9 and soft["exact"] > none["exact"] + 0.5, (
    f"soft attention ({soft['exact']:.2f}) should caption far better than no attention ({none['exact']:.2f})")
assert soft["words"] > none["words"] + 0.3, f"words right: soft {soft['words']:.2f}, none {none['words']:.2f}"
assert soft["on_object"] > 0.8 and soft["on_object"] > chance + 0.3, (
    f"the attention of a word should fall on its object: {soft['on_object']:.2f} (chance {chance:.2f})")

# %% [markdown]
# ## 5. Where each word looked
#
# The model captions test images greedily, and for each word we draw its attention α(t, ·) over the image
# (brighter = more weight; the number is the weight on the brightest cell). The last panel is the step
# that wrote EOS. In our full-size run the shape words looked sharply at their object (weights 0.8–1.0),
# while the colour word of the second and third objects often spread its weight between the object just
# named and the next one (0.4): the LSTM already knows part of the answer from where it looked before.
# Hard attention (section 6) cannot spread: each word gets exactly one place.

# %%
def attention_figure(model, images, title):
    """One row per image: the image with its greedy caption, then each word's attention over the image."""
    model.eval()
    captions = model.greedy_decode(images, max_len=8)
    alpha = model.last_alignment  # (N, steps, L), from the greedy run
    model.train()
    cols = 1 + max(len(words) for words in captions) + 1
    fig = Figure(figsize=(1.7 * cols, 2.1 * len(images)), layout="constrained")
    axes = fig.subplots(len(images), cols, squeeze=False)
    size = task.image_size
    for n, words in enumerate(captions):
        text = [task.vocab.itos[w] for w in words]
        show_image(axes[n, 0], images[n], "\n".join(" ".join(text[k:k + 2]) for k in range(0, len(text), 2)))
        for t in range(cols - 1):
            ax = axes[n, t + 1]
            if t > len(words):
                ax.axis("off")
                continue
            show_image(ax, images[n] * 0.6)
            heat = alpha[n, t].reshape(GRID, GRID)
            ax.imshow(heat, cmap="magma", alpha=0.6, vmin=0, vmax=1, extent=(-0.5, size - 0.5, size - 0.5, -0.5),
                      interpolation="nearest")
            word = task.vocab.itos[words[t]] if t < len(words) else "<eos>"
            ax.set_title(f"{word}  ({heat.max():.2f})", fontsize=8)
    fig.suptitle(title)
    return fig


viz.show(attention_figure(soft["model"], test.images[:3], "soft attention: where each word looked"),
         OUT / "soft_attention.png")

# %% [markdown]
# ## 6. Hard attention, trained with REINFORCE
#
# Hard attention looks at **one** place: s(t) ~ Categorical(α(t, ·)) and ẑ(t) = a(s(t)). A sample has no
# derivative, so the score's weights W_a, U_a, v_a get no gradient from the loss. They learn from REINFORCE
# (`nn.attention.reinforce_loss`): the surrogate (cost − b) log α(t, s(t)) makes a place that led to a
# low cost more likely, one that led to a high cost less, with a moving-average baseline b to cut the
# variance. `train_captioning` adds it to the loss when the model samples; everything else (the LSTM, the
# output, the encoder through a(s)) still learns by backpropagation. Which cost to charge a place with:
#
# * `credit="caption"`: −log p(whole caption), Xu et al.'s choice; every place of a caption shares it;
# * `credit="word"`: −log p(word t), the word written with that place. One word's cost is much less noisy
#   than the caption's; the price is a bias, since a place also affects the later words through h(t).
#
# Before training, the most likely place of hard attention lands on the named object only by the luck of
# the initial scores (0.10–0.29 of the words over the seeds we tried).

# %%
tg.manual_seed(SEED)
untrained = attention_accuracy(build("hard"), test)[0]
for credit in ("word", "caption"):
    runs[f"hard-{credit}"] = run("hard", credit)
print(header)
for key, label in (("soft", "soft attention"), (None, "no attention"), ("hard-word", "hard, credit per word"),
                   ("hard-caption", "hard, credit per caption")):
    report(label, runs[key])
print(f"hard attention before training: {untrained:.2f} of the words on their object")

fig = plots.training_curves({label: tuple(zip(*runs[key]["curve"])) for key, label in (
    ("soft", "soft attention"), (None, "no attention"), ("hard-word", "hard, REINFORCE per word"),
    ("hard-caption", "hard, REINFORCE per caption"))},
    ylabel="cross-entropy per word (mean of 50 steps)", title="captioning: training loss")
fig.axes[0].set_yscale("log")
viz.show(fig, OUT / "training_curves.png")
viz.show(attention_figure(runs["hard-word"]["model"], test.images[:3],
                          "hard attention (REINFORCE per word): the place each word looked at (eval: most likely)"),
         OUT / "hard_attention.png")

# %% [markdown]
# On this budget hard attention captions worse than soft attention, and it depends much more on the seed:
# the score's gradient is a noisy estimate from one sample per step, where soft attention gets the exact
# gradient of the expectation. The credit matters as much: charged with the whole caption's cost, a place
# learns far less than when charged with its own word's. Over seeds 0, 1, 2 at full size, hard attention
# with credit per word reached 0.21–0.89 exact with 0.33–0.90 of the words on their object; with credit per
# caption 0.16–0.20 exact and 0.00–0.40 on the object (one seed never learned to look at the objects at
# all). Fast mode: 0.27–0.39 exact and 0.31–0.50 on the object per word, 0.11–0.23 and 0.00–0.35 per
# caption. Xu et al. needed more than a baseline to make hard attention work: an entropy bonus, and half of
# the time the expected context instead of a sample (exercises 4 and 5).

# %%
hard, hard_caption = runs["hard-word"], runs["hard-caption"]
assert hard["on_object"] > 2 / L_cells, f"hard attention on the named object: {hard['on_object']:.2f}"
assert hard["words"] > none["words"] + 0.05, (
    f"looking at one place should beat no attention: words {hard['words']:.2f} vs {none['words']:.2f}")
assert hard["on_object"] > hard_caption["on_object"] + 0.1, (
    f"credit per word should teach the attention more than credit per caption: "
    f"{hard['on_object']:.2f} vs {hard_caption['on_object']:.2f}")
assert hard["words"] > hard_caption["words"] + 0.05, (
    f"... and better captions: words {hard['words']:.2f} vs {hard_caption['words']:.2f}")
assert soft["exact"] >= hard["exact"] and soft["words"] >= hard["words"], (
    f"on this budget soft attention should caption at least as well as hard: {soft['exact']:.2f}, {hard['exact']:.2f}")

print(f"lesson ran in {time.perf_counter() - START:.0f} s")

# %% [markdown]
# ## What to try
#
# 1. **Positions.** Build the models with `position=False`: the annotations then say what is in a cell but
#    not where. Can soft attention still caption from left to right? What does its attention map show?
# 2. **Doubly stochastic attention.** Xu et al. add λ Σ_i (1 − Σ_t α(t, i))² to the loss, which pushes the
#    decoder to look at every place once over the caption. Add it (the weights α are the second output of
#    `model.decoder.attention`) and compare the attention maps.
# 3. **More objects, more places.** `ShapesTask(grid_size=5, max_objects=4)`: how do the three models'
#    numbers change? Which breaks first?
# 4. **A better baseline for REINFORCE.** Replace the moving average by the cost of the model's own most
#    likely places (a "self-critical" baseline, Rennie et al. 2017). Does hard attention catch up with soft?
# 5. **Exploration.** Add an entropy bonus −λ H(α(t, ·)) to hard attention's objective (Xu et al. do). What
#    happens to the attention accuracy for λ = 0.001, 0.01, 0.1?
# 6. **Relative positions in the caption.** Change `ShapesTask.caption` to say "red square left of blue
#    circle": which words should attend to which objects now, and does the model agree?
