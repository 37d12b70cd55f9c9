"""Training recurrent models: truncated backpropagation through time, and a resumable char-LM trainer.

Truncated BPTT
--------------
Full BPTT on a long text would unroll the network over every character and
keep the whole graph in memory.  Truncated BPTT reads the text in pieces,
carries the hidden state forward from piece to piece (so the model still
*sees* the whole history), but cuts the graph between pieces with
``detach()`` (so gradients flow back a bounded number of steps).

Williams & Peng (1990) give the general form, BPTT(k2; k1) (their h; h'):
every k1 steps, backpropagate the errors of those last k1 steps through the
last k2 ≥ k1 steps.  Update j looks at the time window

    loss on [loss_start, stop) = [j·k1, (j+1)·k1)      the k1 newest steps
    run on  [start, stop) = [j·k1 − (k2 − k1), stop)    k2 steps, clipped at 0
    carry = the next window's start                     (the end of the sequence, for the last window)

(When k1 does not divide the length, the last window is cut short at the end and
keeps its k2 − k1 steps of look-back, so k1 = k2 always gives windows side by side.)

    k1 = k2 = 3:   |■■■|■■■|■■■|            windows side by side: the usual "chunked" TBPTT
    k1 = 2, k2 = 4:  ··■■          · = steps gradients flow through but whose loss is not counted
                       ··■■        ■ = steps whose loss is counted
                         ··■■

The window is run forward from the (detached) state saved at its start; the
state at ``carry``, detached, is where the next window starts.  When k2 > k1
the overlap of two windows is computed twice, once in each: the price of
looking further back than one step of reading.  With k1 = k2 = T (the whole
sequence) there is one window and the gradient is exactly full BPTT
(tests/test_train.py checks this and the general case against PyTorch).

    tbptt_windows      the windows of a sequence of a given length
    tbptt_step         forward over one window from a state: (loss, state for the next window)
    truncated_bptt     all windows of a sequence, with or without optimizer updates in between
    detach_state       cut a (possibly nested) state from the graph

The char-LM trainer
-------------------
``Trainer`` drives a ``CharLM`` over a text: contiguous streams (data.py), one
TBPTT window per step, gradient clipping, evaluation on a held-out tail,
progress callbacks, and checkpoints from which a run resumes *exactly* (the
same losses as if it had never stopped): the checkpoint holds the weights,
the optimizer's moments, the step, the carried hidden state and the state of
the random generator (dropout), and the data order is a function of the step.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import numpy as np

from . import optim
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .creation import cat, default_rng, manual_seed
from .data import StreamBatches, TextFileError, Vocab, split_tail
from .functional import cross_entropy
from .lm import MODELS, CharLM, charlm_of_config, evaluate
from .tensor import Tensor

__all__ = [
    "Window", "tbptt_windows", "tbptt_step", "truncated_bptt", "detach_state",
    "train_for", "TrainConfig", "Trainer", "OPTIMIZERS",
]


# --------------------------------------------------------------------------- truncated BPTT


def detach_state(state):
    """The same state cut from the graph: a Tensor, a tuple/list of them (LSTM's (h, c)), or None."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    raise TypeError(f"detach_state: expected a Tensor, a tuple of Tensors or None, got {type(state).__name__}")


class Window(NamedTuple):
    """One TBPTT update: run [start, stop), count the loss on [loss_start, stop), carry the state at ``carry``."""

    start: int
    carry: int
    loss_start: int
    stop: int


def tbptt_windows(length: int, k1: int, k2: int | None = None) -> list[Window]:
    """The windows of BPTT(k2; k1) over a sequence of ``length`` steps (k2 defaults to k1).

    >>> tbptt_windows(7, 2, 3)
    [Window(start=0, carry=1, loss_start=0, stop=2), Window(start=1, carry=3, loss_start=2, stop=4),
     Window(start=3, carry=5, loss_start=4, stop=6), Window(start=5, carry=7, loss_start=6, stop=7)]
    """
    k2 = k1 if k2 is None else k2
    for name, k in (("k1", k1), ("k2", k2), ("length", length)):
        if not isinstance(k, (int, np.integer)) or k <= 0:
            raise ValueError(f"tbptt: {name} must be a positive whole number, got {k!r}")
    if k2 < k1:
        raise ValueError(f"tbptt: k2 (steps backpropagated, {k2}) must be >= k1 (steps between updates, {k1})")
    loss_starts = list(range(0, length, k1))
    stops = [min(a + k1, length) for a in loss_starts]
    starts = [max(a - (k2 - k1), 0) for a in loss_starts]  # k2 − k1 steps of look-back before the counted ones
    carries = starts[1:] + [length]  # the state each window hands on: where the next one starts (or the end)
    return [Window(int(s), int(c), int(a), int(b)) for s, c, a, b in zip(starts, carries, loss_starts, stops)]


def _time_slice(x, a, b, time_dim):
    return x[(slice(None),) * time_dim + (slice(a, b),)]


def tbptt_step(forward, loss_fn, inputs, targets, state, window: Window, time_dim: int = 1):
    """Run one window forward from ``state`` (already detached); return ``(loss, next_state)``.

    forward(inputs[..., a:b, ...], state) -> (outputs, state)   a model run on steps [a, b)
    loss_fn(outputs, targets) -> scalar Tensor                  on the steps [loss_start, stop)

    ``inputs``/``targets`` hold the whole sequence along ``time_dim`` (numpy
    arrays or Tensors).  The window is run in segments cut at ``carry`` and
    ``loss_start``; the state at ``carry`` is detached and returned for the
    next window.  The caller calls ``loss.backward()``.
    """
    cuts = sorted({window.start, window.carry, window.loss_start, window.stop})
    next_state = detach_state(state) if window.carry == window.start else None
    counted = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        out, state = forward(_time_slice(inputs, a, b, time_dim), state)
        if a >= window.loss_start:
            counted.append(out)
        if b == window.carry:
            next_state = detach_state(state)
    out = counted[0] if len(counted) == 1 else cat(counted, time_dim)
    loss = loss_fn(out, _time_slice(targets, window.loss_start, window.stop, time_dim))
    return loss, next_state


def truncated_bptt(forward, loss_fn, inputs, targets, k1: int, k2: int | None = None, state=None,
                   time_dim: int = 1, optimizer=None, clip_norm: float | None = None):
    """BPTT(k2; k1) over a whole sequence; returns ``(losses, state)``.

    ``state`` is the detached state at the end of the sequence.

    With an ``optimizer``, each window is one update (zero_grad, backward,
    optional ``clip_grad_norm_``, step).  Without one, the gradients of all
    windows add up in ``.grad``: with k1 = k2 = length that is exactly the full
    BPTT gradient; with k2 ≥ k1·⌈length/k1⌉ (= length when k1 divides it) it is
    too, every window then reaching back to the start, which is how the tests
    check the windows.
    """
    length = inputs.shape[time_dim]
    losses = []
    params = None
    if optimizer is not None:
        params = [p for g in optimizer.param_groups for p in g["params"]]
    for w in tbptt_windows(length, k1, k2):
        if optimizer is not None:
            optimizer.zero_grad()
        loss, next_state = tbptt_step(forward, loss_fn, inputs, targets, state, w, time_dim)
        loss.backward()
        if optimizer is not None:
            if clip_norm:
                optim.clip_grad_norm_(params, clip_norm)
            optimizer.step()
        losses.append(float(loss.data))
        state = next_state
    return losses, state


# --------------------------------------------------------------------------- a budget of steps or seconds


def train_for(model, data, objective, steps=None, seconds=None, batch_size=32, lr=1e-2, clip=1.0, log=None,
              lr_schedule=None, who="train_for"):
    """Adam on ``objective(batch)`` over shuffled passes of ``data``, for ``steps`` updates or ``seconds``.

    The loop of the translation and captioning tasks.  ``data.batches(batch_size, seed=...)`` gives one
    shuffled pass (a new seed each pass, from ``tg.default_rng()``); ``objective(batch)`` returns
    ``(loss, minimised)``: the cross-entropy to report and what backward runs on (the same tensor, or the
    loss plus a REINFORCE surrogate).  Gradients are clipped to norm ``clip``; ``lr_schedule(step)`` scales
    ``lr`` for update ``step`` (0, 1, ...); ``log(step, loss)`` is called every 50 steps.  Returns
    {"steps", "seconds", "loss"}, the loss averaged over the last 20 steps.
    """
    if steps is None and seconds is None:
        raise ValueError(f"{who}: give steps or seconds (the budget)")
    opt = optim.Adam(model.parameters(), lr=lr)
    rng = default_rng()
    start, step, losses, epoch = time.perf_counter(), 0, [], 0
    model.train()
    while True:
        for batch in data.batches(batch_size, seed=int(rng.integers(2**31)) + epoch):
            if lr_schedule is not None:
                for group in opt.param_groups:
                    group["lr"] = lr * lr_schedule(step)
            loss, minimised = objective(batch)
            opt.zero_grad()
            minimised.backward()
            optim.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            step += 1
            losses.append(loss.item())
            if log is not None and step % 50 == 0:
                log(step, float(np.mean(losses[-50:])))
            elapsed = time.perf_counter() - start
            if (steps is not None and step >= steps) or (seconds is not None and elapsed >= seconds):
                return {"steps": step, "seconds": elapsed, "loss": float(np.mean(losses[-20:]))}
        epoch += 1


# --------------------------------------------------------------------------- the char-LM trainer

OPTIMIZERS = {
    "sgd": lambda params, c: optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay),
    "adam": lambda params, c: optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay),
    "adamw": lambda params, c: optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay),
    "rmsprop": lambda params, c: optim.RMSprop(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay),
    "adagrad": lambda params, c: optim.Adagrad(params, lr=c.lr, weight_decay=c.weight_decay),
}

# settings that may change between a run and its resumption (they do not change what a step computes)
RESUMABLE_CHANGES = ("steps", "eval_every", "checkpoint_every")


@dataclass
class TrainConfig:
    """Everything that defines a char-LM training run (saved in its checkpoints).

    ``tbptt`` is k2, the steps backpropagated; k1 = ``seq_len`` characters are
    read per step.  ``tbptt=None`` means k2 = k1 = seq_len (chunked TBPTT).
    ``embedding_dim=None`` feeds one-hot characters, as in the lecture.
    """

    model: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    embedding_dim: int | None = None
    dropout: float = 0.0
    cell: str = "sequence"  # one graph node per layer: the fastest; "fused"/"composite" for pictures, 2nd order
    grad_checkpoint_every: int | None = None  # cell="sequence": recompute k-step segments in backward (less memory)
    dtype: str = "float32"
    batch_size: int = 32
    seq_len: int = 64
    tbptt: int | None = None
    optimizer: str = "adam"
    lr: float = 5e-3
    momentum: float = 0.0
    weight_decay: float = 0.0
    clip: float | None = 5.0
    steps: int = 1000
    eval_every: int = 100
    eval_batch_size: int = 16
    eval_seq_len: int = 128
    val_fraction: float = 0.1
    checkpoint_every: int | None = None
    seed: int = 0

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` with a one-line message for a nonsensical setting; return self."""
        def positive(name, allow_none=False):
            v = getattr(self, name)
            if v is None and allow_none:
                return
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{name} must be a positive whole number, got {v!r}")

        for name in ("hidden_size", "num_layers", "batch_size", "seq_len", "steps", "eval_every",
                     "eval_batch_size", "eval_seq_len"):
            positive(name)
        for name in ("embedding_dim", "tbptt", "checkpoint_every", "grad_checkpoint_every"):
            positive(name, allow_none=True)
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(sorted(MODELS))}, got {self.model!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(sorted(OPTIMIZERS))}, got {self.optimizer!r}")
        if self.tbptt is not None and self.tbptt < self.seq_len:
            raise ValueError(f"tbptt ({self.tbptt} steps backpropagated) must be >= seq_len ({self.seq_len})")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite positive number, got {self.lr!r}")
        if self.clip is not None and not (math.isfinite(self.clip) and self.clip > 0):
            raise ValueError(f"clip must be a finite positive number or None, got {self.clip!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        if self.momentum < 0 or self.weight_decay < 0:
            raise ValueError("momentum and weight_decay must be >= 0")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must lie in (0, 1), got {self.val_fraction!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.cell not in ("fused", "composite", "sequence"):
            raise ValueError(f"cell must be 'fused', 'composite' or 'sequence', got {self.cell!r}")
        if self.grad_checkpoint_every is not None and self.cell != "sequence":
            raise ValueError(f"grad_checkpoint_every needs cell='sequence', got cell={self.cell!r}")
        return self

    @property
    def k2(self) -> int:
        return self.seq_len if self.tbptt is None else self.tbptt


def _text_id(text):
    return {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "chars": len(text)}


class Trainer:
    """Train a ``CharLM`` on a text with truncated BPTT; evaluate, checkpoint and resume exactly.

        trainer = Trainer(TrainConfig(hidden_size=128, steps=2000), text)
        trainer.run(on_step=print_progress, checkpoint_path="run.npz")
        trainer = Trainer.resume("run.npz", text, steps=4000)     # later: carry on where it stopped

    One step reads ``seq_len`` new characters in each of ``batch_size``
    streams of the training text (the head; the tail is held out), runs the
    TBPTT window (see the module docstring), clips the gradient norm to
    ``clip`` and updates.  After the last window of the streams the state is
    reset and the next epoch starts from the beginning.

    Attributes: ``step`` (updates done), ``history`` (``train_loss`` per step,
    ``eval_step``/``eval_loss`` per evaluation), ``model``, ``optimizer``,
    ``vocab``, ``train_ids``, ``val_ids``, ``state`` (carried hidden state).
    """

    def __init__(self, config: TrainConfig, text: str, vocab: Vocab | None = None):
        self.config = config.validate()
        if not text:
            raise TextFileError("the text is empty")
        self.text_id = _text_id(text)
        self.vocab = vocab or Vocab.from_text(text)
        ids = self.vocab.encode(text)
        self.train_ids, self.val_ids = split_tail(ids, config.val_fraction)
        self.batches = StreamBatches(self.train_ids, config.batch_size, config.seq_len)
        self.windows = tbptt_windows(len(self.batches) * config.seq_len, config.seq_len, config.k2)
        manual_seed(config.seed)  # the same seed gives the same initial weights and dropout masks
        self.model = CharLM(len(self.vocab), config.hidden_size, config.num_layers, config.model,
                            config.embedding_dim, config.dropout, config.cell,
                            grad_checkpoint_every=config.grad_checkpoint_every).to(config.dtype)
        self.model.name_parameters()
        self.optimizer = OPTIMIZERS[config.optimizer](self.model.parameters(), config)
        self.step = 0
        self.state = None
        self.history = {"train_loss": [], "eval_step": [], "eval_loss": []}
        self.stop_reason = None

    # ---- one step ----
    @property
    def epoch(self) -> int:
        return self.step // len(self.windows)

    def train_step(self) -> dict:
        """One TBPTT update; returns ``{"step", "loss", "bpc", "grad_norm", "chars"}``."""
        c = self.config
        j = self.step % len(self.windows)
        if j == 0:
            self.state = None  # a new epoch: the streams start again from their beginnings
        w = self.windows[j]
        streams = self.batches.streams
        inputs, targets = streams[:, :-1], streams[:, 1:]
        self.model.train()
        self.optimizer.zero_grad()
        loss, self.state = tbptt_step(self._forward, self._loss, inputs, targets, self.state, w)
        loss.backward()
        norm = optim.clip_grad_norm_(self.model.parameters(), c.clip) if c.clip else None
        self.optimizer.step()
        self.step += 1
        value = float(loss.data)
        self.history["train_loss"].append(value)
        return {"step": self.step, "loss": value, "bpc": value / math.log(2),
                "grad_norm": None if norm is None else float(norm), "chars": c.batch_size * (w.stop - w.loss_start)}

    def _forward(self, x, state):
        return self.model(x, state)

    def _loss(self, logits, y):
        return cross_entropy(logits.reshape(-1, self.model.vocab_size), y.reshape(-1))

    def evaluate(self) -> dict:
        """Loss, bits per character and perplexity on the held-out tail (recorded in ``history``)."""
        result = evaluate(self.model, self.val_ids, self.config.eval_batch_size, self.config.eval_seq_len)
        if not self.history["eval_step"] or self.history["eval_step"][-1] != self.step:
            self.history["eval_step"].append(self.step)
            self.history["eval_loss"].append(result["loss"])
        result["step"] = self.step
        return result

    # ---- the loop ----
    def run(self, steps: int | None = None, *, on_step=None, on_eval=None, should_stop=None,
            checkpoint_path=None, checkpoint_every: int | None = None, time_limit: float | None = None) -> dict:
        """Train until ``steps`` updates in total have been done (default ``config.steps``).

        on_step(info)     after every step: info from ``train_step`` plus ``elapsed`` and ``chars_per_sec``
        on_eval(result)   after every evaluation (every ``eval_every`` steps and at the end)
        should_stop()     asked between steps; True ends the run early (e.g. set by a Ctrl-C handler)
        checkpoint_path   saved every ``checkpoint_every`` steps (default config.checkpoint_every) and at the end
        time_limit        seconds of training after which the run ends (a demo's bounded budget)

        The loop only stops *between* steps, so the final checkpoint is always
        consistent.  Returns ``{"steps", "stopped", "seconds", "eval"}``; ``stopped`` is
        "done", "time limit" or "interrupted".
        """
        total = self.config.steps if steps is None else steps
        every = checkpoint_every or self.config.checkpoint_every
        t0 = time.perf_counter()
        chars = 0
        reason = "done"
        last_eval = None
        while self.step < total:
            if should_stop is not None and should_stop():
                reason = "interrupted"
                break
            if time_limit is not None and time.perf_counter() - t0 >= time_limit:
                reason = "time limit"
                break
            info = self.train_step()
            chars += info["chars"]
            elapsed = time.perf_counter() - t0
            info.update(elapsed=elapsed, chars_per_sec=chars / max(elapsed, 1e-9))
            if on_step is not None:
                on_step(info)
            if self.step % self.config.eval_every == 0:
                last_eval = self.evaluate()
                if on_eval is not None:
                    on_eval(last_eval)
            if checkpoint_path is not None and every and self.step % every == 0:
                self.save(checkpoint_path)
        if reason != "interrupted" and (last_eval is None or last_eval["step"] != self.step):
            last_eval = self.evaluate()  # (skipped after a Ctrl-C: stop quickly, the checkpoint is what matters)
            if on_eval is not None:
                on_eval(last_eval)
        if checkpoint_path is not None:
            self.save(checkpoint_path)
        self.stop_reason = reason
        return {"steps": self.step, "stopped": reason, "seconds": time.perf_counter() - t0, "eval": last_eval}

    # ---- checkpoints ----
    def save(self, path) -> None:
        """Write an atomic checkpoint from which ``Trainer.resume`` continues exactly."""
        state = self.state
        if isinstance(state, Tensor):
            state = [state]
        save_checkpoint(
            path, model=self.model, optimizer=self.optimizer, vocab=self.vocab, step=self.step,
            config={"charlm": self.model.config, "run": asdict(self.config), "text": self.text_id},
            rng=default_rng(),
            extra={
                "state": None if state is None else [s.data for s in state],
                "history": {k: np.array(v) for k, v in self.history.items()},
            },
        )

    @classmethod
    def resume(cls, path, text: str, config: TrainConfig | None = None, **changes) -> Trainer:
        """Rebuild a trainer from a checkpoint of a run on ``text`` and restore it exactly.

        ``config`` (e.g. built from command-line arguments) must agree with the
        saved one except for ``steps``, ``eval_every`` and ``checkpoint_every``;
        ``changes`` sets those (``steps=4000`` to train further).  A checkpoint
        of another model, run or text raises ``CheckpointError``.
        """
        ckpt = load_checkpoint(path, expect=charlm_of_config)
        saved = ckpt.config.get("run")
        if not isinstance(saved, dict) or "charlm" not in ckpt.config or ckpt.vocab is None:
            raise CheckpointError(f"checkpoint {ckpt.path!r} was not written by a char-LM Trainer")
        known = {f.name for f in fields(TrainConfig)}
        try:
            saved_config = TrainConfig(**{k: v for k, v in saved.items() if k in known})
        except TypeError as e:
            raise CheckpointError(f"checkpoint {ckpt.path!r} has an unreadable run configuration: {e}") from None
        if config is not None:
            want = {k: v for k, v in asdict(config).items() if k not in RESUMABLE_CHANGES}
            diffs = [f"{k} {saved.get(k)!r} in the checkpoint, {v!r} here"
                     for k, v in want.items() if saved.get(k) != v]
            if diffs:
                raise CheckpointError(f"checkpoint {ckpt.path!r} is of another model or run: " + "; ".join(diffs))
            for k in RESUMABLE_CHANGES:
                setattr(saved_config, k, getattr(config, k))
        for k, v in changes.items():
            if k not in RESUMABLE_CHANGES:
                raise TypeError(f"Trainer.resume: only {', '.join(RESUMABLE_CHANGES)} may change, not {k!r}")
            setattr(saved_config, k, v)
        if _text_id(text) != ckpt.config.get("text"):
            raise CheckpointError(
                f"checkpoint {ckpt.path!r} was trained on another text ({ckpt.config.get('text', {}).get('chars')} "
                f"characters, a different sha256); resume with the same text"
            )
        trainer = cls(saved_config, text, vocab=ckpt.vocab)
        ckpt.restore(trainer.model, trainer.optimizer, rng=default_rng())
        trainer.step = ckpt.step
        state = ckpt.extra.get("state")
        if state is not None:
            tensors = [Tensor(np.asarray(s)) for s in state]
            trainer.state = tensors[0] if len(tensors) == 1 else tuple(tensors)
        history = ckpt.extra.get("history", {})
        trainer.history = {k: [float(x) if k != "eval_step" else int(x) for x in np.asarray(history.get(k, []))]
                           for k in trainer.history}
        return trainer
