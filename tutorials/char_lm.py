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
# bits per character, sample from it, and save and resume it exactly.
#
# Run it as a script (`python tutorials/char_lm.py`, or in a few seconds with `TGS_FAST=1`) or open it
# as a notebook with jupytext.

# %%
import math
import os
import tempfile

import numpy as np

import tinygrad_seq as tg
from tinygrad_seq import optim
from tinygrad_seq.data import StreamBatches, Vocab, default_corpus, split_tail
from tinygrad_seq.lm import CharLM, hello_example, sample
from tinygrad_seq.train import TrainConfig, Trainer, tbptt_windows

FAST = os.environ.get("TGS_FAST") == "1"
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

tg.manual_seed(0)
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

# %% [markdown]
# The probabilities of the trained model, one row per input step. The third and fourth rows both read
# an "l" and disagree completely: that is the hidden state at work.

# %%
probs = tg.functional.softmax(model(x)[0], -1).data[0]
print("        " + "      ".join(vocab.itos))
for ch, row in zip("hell", probs):
    print(f"  {ch} →  {row}")

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
    for w in tbptt_windows(16, k1, k2):
        row = "".join("■" if w.loss_start <= t < w.stop else "·" if w.start <= t < w.stop else " " for t in range(16))
        print(f"   |{row}|   run {w.start:2d}..{w.stop - 1:2d}, loss on {w.loss_start:2d}..{w.stop - 1:2d}, "
              f"hand the state at {w.carry} to the next window")

# %% [markdown]
# ## 4. Training an LSTM
#
# `Trainer` puts it together: one TBPTT window per step, Adam, gradient-norm clipping (the lecture's
# g ← v·g/‖g‖ when ‖g‖ > v) and evaluation on the held-out tail.
#
# We report **bits per character**: the cross-entropy in base 2. Guessing uniformly among the
# characters costs log₂ V bits; the frequencies of single letters alone bring that to about 4.5 bits;
# everything below is the model using context.

# %%
steps = 30 if FAST else 400
config = TrainConfig(model="lstm", hidden_size=128, batch_size=32, seq_len=64, lr=5e-3, clip=5.0,
                     steps=steps, eval_every=steps // 3 if FAST else 100, seed=0)
trainer = Trainer(config, text)
print(f"uniform guessing: {math.log2(len(vocab)):.2f} bits per character")
counts = np.bincount(train_ids, minlength=len(vocab)) / len(train_ids)
unigram = -np.sum(np.bincount(val_ids, minlength=len(vocab)) / len(val_ids) * np.log2(np.maximum(counts, 1e-12)))
print(f"letter frequencies only: {unigram:.2f} bits per character")


def show(info):
    if info["step"] % (10 if FAST else 50) == 0:
        print(f"step {info['step']:4d}  loss {info['loss']:.3f}  ({info['bpc']:.2f} bpc)  "
              f"|g| {info['grad_norm']:.2f}  {info['chars_per_sec']:,.0f} chars/s")


result = trainer.run(on_step=show, on_eval=lambda r: print(f"    held-out: {r['bpc']:.3f} bits per character"))
print(f"{result['steps']} steps in {result['seconds']:.0f} s")

# %% [markdown]
# ## 5. Sampling
#
# To generate, feed the model a prime, draw the next character from ŷ, feed that back in, repeat.
# The temperature τ divides the logits before the softmax: τ < 1 sharpens the distribution (safer,
# more repetitive), τ > 1 flattens it (more surprising, more mistakes). Top-k keeps only the k most
# likely characters. A `seed` makes a draw repeatable.

# %%
for temperature, top_k in [(0.5, None), (1.0, None), (1.0, 5)]:
    out = sample(trainer.model, trainer.vocab, length=120 if not FAST else 40, prime="The ",
                 temperature=temperature, top_k=top_k, seed=0)
    print(f"--- temperature {temperature}, top_k {top_k}\nThe {out}\n")

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
