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
# # A character-level language model, end to end
#
# A recurrent network reads a text one character at a time and, at every step, predicts the next
# character. That one idea covers most of the lecture: the unrolled graph, backpropagation through
# time, truncation, gated units, and what "the hidden state summarises the past" means in practice.
#
# We go from the lecture's four-letter toy ("hello") to an LSTM trained on a real text, measure it in
# bits per character, sample from it, and save and resume it exactly. Each claim is checked by an `assert`
# where it is made.
#
# Run it as a script (`python tutorials/char_lm.py`, under half a minute, or in a few seconds with `TGS_FAST=1`;
# the training curve is written to `char_lm_out/`) or open it as a notebook with jupytext (it shows inline).

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: a second BLAS thread only gets in the way

import math  # noqa: E402
import pathlib  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402

import tinygrad_seq as tg  # noqa: E402
import viz  # noqa: E402
from tinygrad_seq import optim  # noqa: E402
from tinygrad_seq.data import StreamBatches, Vocab, default_corpus, split_tail  # noqa: E402
from tinygrad_seq.lm import CharLM, hello_example, sample  # noqa: E402
from tinygrad_seq.train import TrainConfig, Trainer, tbptt_windows  # noqa: E402

FAST = os.environ.get("TGS_FAST") == "1"
SEED = int(os.environ.get("TGS_SEED", "0"))  # another seed draws other numbers: every assert below must still hold
OUT = pathlib.Path("char_lm_out")
OUT.mkdir(exist_ok=True)
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 1. The lecture's "hello"
#
# Vocabulary [h, e, l, o]; each character enters as a one-hot vector x(t). Reading "hell" the model must
# output "ello": at each step ŷ(t) = softmax(V h(t) + c) should put its mass on the next letter.
#
#     h(t) = tanh(W h(t−1) + U x(t) + b)        o(t) = V h(t) + c        ŷ(t) = softmax(o(t))
#
# The interesting step is the third: after "hel" the next letter is "l", after "hell" it is "o". The
# input is "l" both times, so only the hidden state, which remembers how many l's went by, can tell
# the two cases apart. A model without memory could at best say "l or o, fifty-fifty".

# %%
vocab, x, y = hello_example()
print("vocabulary:", vocab.itos, " inputs:", x.tolist(), " targets:", y.tolist())

tg.manual_seed(SEED)
model = CharLM(len(vocab), hidden_size=3, model="rnn")  # one-hot input, a vanilla RNN with 3 units
print(model)
opt = optim.Adam(model.parameters(), lr=0.1)
for step in range(301):
    opt.zero_grad()
    loss, _ = model.loss(x, y)  # mean cross-entropy over the 4 predictions, in nats
    loss.backward()
    opt.step()
    if step % 100 == 0:
        logits, _ = model(x)
        guess = vocab.decode(logits.data[0].argmax(-1))
        print(f"step {step:3d}   loss {loss.item():.4f}   predicts {guess!r}")
assert guess == "ello", f"after training, reading 'hell' the model predicts {guess!r}"

# %% [markdown]
# The probabilities of the trained model, one row per input step. The third and fourth rows both read
# an "l" and disagree completely: that is the hidden state at work.

# %%
probs = tg.functional.softmax(model(x)[0], -1).data[0]
print("        " + "      ".join(vocab.itos))
for ch, row in zip("hell", probs):
    print(f"  {ch} →  {row}")
p_next = probs[np.arange(4), y[0]]  # the probability given to the right next letter at each step
assert p_next.min() > 0.9, f"the probabilities of the right letters are {p_next}"

# %% [markdown]
# How good is that? A model without memory sees "l" at steps 3 and 4 and must give both the same answer;
# the best it can do is ½ for "l" and ½ for "o", a loss of $\log 2$ at both steps and 0 at the other two:
# $\tfrac{1}{4}(\log 2 + \log 2) = 0.347$ nats on average. Everything below is memory.

# %%
memoryless = 2 * math.log(2) / 4
print(f"trained loss {loss.item():.4f} nats; the best loss without memory {memoryless:.4f}")
assert loss.item() < memoryless / 10, f"loss {loss.item():.4f}: the hidden state is not used"

# %% [markdown]
# These models (and the Trainer's below) run each step as one *fused* op, whose backward is the analytic
# one-step formula of BPTT rather than the chain rule over a dozen small ops. Before trusting a training curve,
# check that backward against finite differences: `tg.gradcheck` perturbs every weight in turn (in float64)
# and compares. One vanilla RNN, one LSTM and one GRU on "hello":

# %%
for kind in ("rnn", "lstm", "gru"):
    tg.manual_seed(SEED)
    check = CharLM(len(vocab), hidden_size=3, model=kind).to(np.float64)
    weights = list(check.parameters())
    assert tg.gradcheck(lambda *_, model=check: model.loss(x, y)[0], weights)  # a failure raises, with a report
    print(f"{kind}: all {sum(w.data.size for w in weights)} weights pass gradcheck")

# %% [markdown]
# ## 2. A real text, as parallel streams
#
# The default corpus is the Python reference text that ships with every CPython (`pydoc_data.topics`,
# the text behind `help("if")`), so nothing needs downloading. Any text file works instead
# (`tinygrad_seq.data.load_text(path)`).
#
# We hold out the last 10% to measure the model on text it never trained on. The rest is cut into
# B contiguous **streams**; a batch is the next T characters of every stream. Row b of one batch
# continues row b of the batch before, so the hidden state left at the end of a batch is the right
# state to start the next: the model can carry memory across batch boundaries.

# %%
text = default_corpus()
vocab = Vocab.from_text(text)
ids = vocab.encode(text)
train_ids, val_ids = split_tail(ids, 0.1)
print(f"{len(text):,} characters, {len(vocab)} distinct; {len(train_ids):,} for training, {len(val_ids):,} held out")

batches = StreamBatches(train_ids, batch_size=4, seq_len=24)
for k in range(2):
    xb, yb = batches[k]
    print(f"batch {k}, stream 0 reads {vocab.decode(xb[0])!r}\n{'':18}predicts {vocab.decode(yb[0])!r}")
(x0, y0), (x1, y1) = batches[0], batches[1]
assert (x0[:, 1:] == y0[:, :-1]).all(), "the target of each step is the next input"
assert (x1[:, 0] == y0[:, -1]).all(), "row b of batch 1 continues row b of batch 0"

# %% [markdown]
# ## 3. Truncated backpropagation through time
#
# Backpropagating through all 400,000 characters is out of the question. Truncated BPTT keeps the
# state flowing forward but cuts the graph (`detach()`) between updates. Williams & Peng's general
# form BPTT(k2; k1): every k1 steps, update with the loss of those k1 steps, backpropagated through
# the last k2 ≥ k1 steps. With k1 = k2 the windows sit side by side (the usual choice); with k2 > k1
# they overlap, and gradients reach further back than one batch.

# %%
for k1, k2 in [(4, 4), (4, 6)]:
    print(f"k1 = {k1}, k2 = {k2}")
    windows = tbptt_windows(16, k1, k2)
    for w in windows:
        row = "".join("■" if w.loss_start <= t < w.stop else "·" if w.start <= t < w.stop else " " for t in range(16))
        print(f"   |{row}|   run {w.start:2d}..{w.stop - 1:2d}, loss on {w.loss_start:2d}..{w.stop - 1:2d}, "
              f"hand the state at {w.carry} to the next window")
    counted = [t for w in windows for t in range(w.loss_start, w.stop)]
    assert counted == list(range(16)), "every step's loss is counted exactly once"
    assert all(w.stop - w.loss_start == k1 and w.stop - w.start == min(k2, w.stop) for w in windows)
    assert all(a.carry == b.start for a, b in zip(windows, windows[1:])), "each window starts where the state is"

# %% [markdown]
# ## 4. Training an LSTM
#
# `Trainer` puts it together: one TBPTT window per step, Adam, gradient-norm clipping (the lecture's
# g ← v·g/‖g‖ when ‖g‖ > v) and evaluation on the held-out tail.
#
# We report **bits per character**: the cross-entropy in base 2. Guessing uniformly among the
# characters costs log₂ V bits; the frequencies of single letters alone bring that to about 4.5 bits;
# everything below is the model using context.

# (In fast mode a smaller LSTM trains for fewer, shorter steps.)

# %%
steps, hidden, seq_len, lr = (60, 64, 32, 2e-2) if FAST else (400, 128, 64, 5e-3)
config = TrainConfig(model="lstm", hidden_size=hidden, batch_size=32, seq_len=seq_len, lr=lr, clip=5.0,
                     steps=steps, eval_every=steps // 3 if FAST else 100, seed=SEED)
trainer = Trainer(config, text)
uniform = math.log2(len(vocab))
print(f"uniform guessing: {uniform:.2f} bits per character")
counts = np.bincount(train_ids, minlength=len(vocab)) / len(train_ids)
unigram = -np.sum(np.bincount(val_ids, minlength=len(vocab)) / len(val_ids) * np.log2(np.maximum(counts, 1e-12)))
print(f"letter frequencies only: {unigram:.2f} bits per character")


def report(info):
    if info["step"] % (10 if FAST else 50) == 0:
        print(f"step {info['step']:4d}  loss {info['loss']:.3f}  ({info['bpc']:.2f} bpc)  "
              f"|g| {info['grad_norm']:.2f}  {info['chars_per_sec']:,.0f} chars/s")


result = trainer.run(on_step=report, on_eval=lambda r: print(f"    held-out: {r['bpc']:.3f} bits per character"))
print(f"{result['steps']} steps in {result['seconds']:.0f} s")

# %% [markdown]
# The training loss per step (a single window of 32 streams, so it is noisy) and the held-out loss, in bits per
# character, with the two baselines:

# %%
history = trainer.history
curves = {"training window": (np.arange(1, trainer.step + 1), history["train_loss"]),
          "held-out": (history["eval_step"], history["eval_loss"])}
fig = viz.plots.training_curves(curves, bits_per_character=True, smooth=10,
                                title=f"LSTM({hidden}) on the Python reference text")
ax = fig.axes[0]
for level, what in ((uniform, "uniform guessing"), (unigram, "letter frequencies")):
    ax.axhline(level, color="0.6", linestyle=":", linewidth=1)
    ax.text(ax.get_xlim()[1], level, what, ha="right", va="bottom", fontsize=8, color="0.4")
viz.show(fig, OUT / "char_lm_training.png")
held_out = result["eval"]["bpc"]
assert history["eval_loss"][-1] < history["eval_loss"][0], "the held-out loss should fall during training"
assert held_out < unigram - (0.8 if FAST else 1.5), \
    f"held-out {held_out:.2f} bpc: not clearly below the {unigram:.2f} of letter frequencies, so no context is used"

# %% [markdown]
# ## 5. Sampling
#
# To generate, feed the model a prime, draw the next character from ŷ, feed that back in, repeat.
# The temperature τ divides the logits before the softmax: τ < 1 sharpens the distribution (safer,
# more repetitive), τ > 1 flattens it (more surprising, more mistakes). Top-k keeps only the k most
# likely characters. A `seed` makes a draw repeatable.

# %%
samples = {}
for temperature, top_k in [(0.5, None), (1.0, None), (1.0, 5)]:
    out = sample(trainer.model, trainer.vocab, length=120 if not FAST else 40, prime="The ",
                 temperature=temperature, top_k=top_k, seed=SEED)
    samples[temperature, top_k] = out
    print(f"--- temperature {temperature}, top_k {top_k}\nThe {out}\n")
assert sample(trainer.model, trainer.vocab, length=40, prime="The ", seed=SEED) == samples[1.0, None][:40], \
    "the same seed should draw the same text"

# %% [markdown]
# Two checks of what the knobs do. Reading each sample back through the model: the characters drawn with top-k
# are each among the model's 5 most likely at their step, and the text drawn at τ = 0.5 is more likely under
# the model (fewer bits per character) than the text drawn at τ = 1.

# %%
def read_back(text):
    """(bits per character the model gives ``text`` after "The ", rank of each character among its predictions)."""
    ids = trainer.vocab.encode("The " + text)
    with tg.no_grad():
        logits, _ = trainer.model(ids[None, :-1])
    logp = tg.functional.log_softmax(logits, -1).data[0, 3:]  # the predictions of the generated characters
    chosen = ids[4:]
    rank = (logp > logp[np.arange(len(chosen)), chosen][:, None]).sum(-1)
    return -logp[np.arange(len(chosen)), chosen].mean() / math.log(2), rank


bits = {key: read_back(out)[0] for key, out in samples.items()}
print("bits per character of each sample under the model:", {k: round(float(v), 2) for k, v in bits.items()})
assert read_back(samples[1.0, 5])[1].max() < 5, "a top-5 sample drew a character outside the top 5"
assert bits[0.5, None] < bits[1.0, None], "a lower temperature should draw more likely text"

# %% [markdown]
# ## 6. Checkpoints and exact resumption
#
# A checkpoint is a plain `.npz` (no pickles: loading one never runs code), written atomically (a crash
# mid-save leaves the previous checkpoint whole). It holds the weights, the optimizer's moments, the
# step, the hidden state being carried, and the random generator's state, so a resumed run continues
# with exactly the numbers the uninterrupted run would have produced. Let us check that.

# %%
small = TrainConfig(hidden_size=32, batch_size=8, seq_len=32, steps=10, eval_every=10)
straight = Trainer(small, text)
straight.run()

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "run.npz")
    first = Trainer(small, text)
    first.run(steps=5, checkpoint_path=path)
    resumed = Trainer.resume(path, text)
    resumed.run()

print("uninterrupted:", np.round(straight.history["train_loss"], 6))
print("resumed:      ", np.round(resumed.history["train_loss"], 6))
print("identical:", straight.history["train_loss"] == resumed.history["train_loss"])
assert straight.history["train_loss"] == resumed.history["train_loss"], "resuming changed the numbers"
assert all(np.array_equal(a.data, b.data) for a, b in zip(straight.model.parameters(), resumed.model.parameters()))

# %% [markdown]
# ## Exercises
#
# 1. Train the "hello" model with `hidden_size=1`. Can it still count the l's? What is the best loss
#    a model without any memory could reach on "hello"? (Hint: the third step.)
# 2. Replace `model="lstm"` by `"rnn"` and `"gru"` with the same budget. Which learns fastest here?
# 3. Try `TrainConfig(tbptt=128)` (k2 = 128 with k1 = seq_len = 64). Does looking further back help
#    within the same number of steps? What does it cost per step, and why?
# 4. Set `clip=None` and a larger learning rate, and print `info["grad_norm"]`: watch for the spikes
#    that clipping is there to absorb.
