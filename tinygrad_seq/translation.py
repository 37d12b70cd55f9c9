"""Training and scoring the translators of ``nn.seq2seq_attention`` on the tasks of ``tinygrad_seq.tasks``.

    >>> task = ReverseTask(min_len=3, max_len=8)
    >>> train = task.dataset(2000, seed=0)
    >>> test = task.dataset(200, seed=1, exclude=train)
    >>> model = AttentionSeq2Seq(len(task.vocab), len(task.vocab), 16, 32, attention="additive")
    >>> train_translation(model, train, steps=300)     # teacher-forced cross-entropy, Adam
    >>> evaluate_translation(model, test)              # exact match of greedy decoding
"""

from __future__ import annotations

import time

import numpy as np

from . import functional as F
from .creation import default_rng
from .nn.seq2seq_attention import PAD
from .optim import Adam, clip_grad_norm_
from .tasks import exact_match

__all__ = ["train_translation", "evaluate_translation"]


def evaluate_translation(model, data, batch_size=256):
    """Exact-match accuracy of greedy decoding on a Seq2SeqData."""
    model.eval()
    predictions, targets = [], []
    for batch in data.batches(batch_size, shuffle=False):
        max_len = max(len(t) for _, t in batch.pairs) + 1
        predictions += model.greedy_decode(batch.src, batch.src_lengths, max_len)
        targets += [t for _, t in batch.pairs]
    model.train()
    return exact_match(predictions, targets)


def train_translation(model, data, steps=None, seconds=None, batch_size=32, lr=1e-2, clip=1.0, seed=0, log=None,
                      lr_schedule=None):
    """Adam on the teacher-forced cross-entropy, for ``steps`` updates or ``seconds`` of wall time.

    data: a Seq2SeqData, read in shuffled passes.  Returns a dict with the number of steps,
    the wall time and the mean loss of the last 20 steps.  ``log(step, loss)`` is called every 50 steps.
    ``lr_schedule(step)``, if given, is the factor of ``lr`` for update ``step`` (0, 1, ...): a warm-up,
    a decay to zero, ...; without it the rate stays ``lr``.
    """
    if steps is None and seconds is None:
        raise ValueError("train_translation: give steps or seconds (the budget)")
    opt = Adam(model.parameters(), lr=lr)
    rng = default_rng()
    start, step, losses, epoch = time.perf_counter(), 0, [], 0
    model.train()
    while True:
        for batch in data.batches(batch_size, seed=int(rng.integers(2**31)) + epoch):
            if lr_schedule is not None:
                for group in opt.param_groups:
                    group["lr"] = lr * lr_schedule(step)
            logits = model(batch.src, batch.src_lengths, batch.tgt_in)
            V = logits.shape[-1]
            loss = F.cross_entropy(logits.reshape(-1, V), batch.tgt_out.reshape(-1), ignore_index=PAD)
            opt.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), clip)
            opt.step()
            step += 1
            losses.append(loss.item())
            if log is not None and step % 50 == 0:
                log(step, float(np.mean(losses[-50:])))
            elapsed = time.perf_counter() - start
            if (steps is not None and step >= steps) or (seconds is not None and elapsed >= seconds):
                return {"steps": step, "seconds": elapsed, "loss": float(np.mean(losses[-20:]))}
        epoch += 1
