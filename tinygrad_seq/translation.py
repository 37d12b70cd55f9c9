"""Training and scoring the translators of ``nn.seq2seq_attention`` on the tasks of ``tinygrad_seq.tasks``.

    >>> task = ReverseTask(min_len=3, max_len=8)
    >>> train = task.dataset(2000, seed=0)
    >>> test = task.dataset(200, seed=1, exclude=train)
    >>> model = AttentionSeq2Seq(len(task.vocab), len(task.vocab), 16, 32, attention="additive")
    >>> train_translation(model, train, steps=300)     # teacher-forced cross-entropy, Adam
    >>> evaluate_translation(model, test)              # exact match of greedy decoding
"""

from __future__ import annotations

from . import functional as F
from .nn.seq2seq_attention import PAD
from .tasks import exact_match
from .train import train_for

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


def train_translation(model, data, steps=None, seconds=None, batch_size=32, lr=1e-2, clip=1.0, log=None,
                      lr_schedule=None):
    """Adam on the teacher-forced cross-entropy, for ``steps`` updates or ``seconds`` of wall time.

    data: a Seq2SeqData, read in shuffled passes drawn from ``tg.default_rng()`` (``tg.manual_seed``
    makes a run repeatable).  Returns a dict with the number of steps,
    the wall time and the mean loss of the last 20 steps.  ``log(step, loss)`` is called every 50 steps.
    ``lr_schedule(step)``, if given, is the factor of ``lr`` for update ``step`` (0, 1, ...): a warm-up,
    a decay to zero, ...; without it the rate stays ``lr``.
    """
    def objective(batch):
        logits = model(batch.src, batch.src_lengths, batch.tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.tgt_out.reshape(-1), ignore_index=PAD)
        return loss, loss

    return train_for(model, data, objective, steps, seconds, batch_size, lr, clip, log, lr_schedule,
                     who="train_translation")
