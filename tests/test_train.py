"""Truncated BPTT (windows, equivalence with full BPTT, truncated gradients vs PyTorch) and the resumable Trainer."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_seq as tg
from tinygrad_seq import nn, optim
from tinygrad_seq.checkpoint import CheckpointError, load_checkpoint
from tinygrad_seq.data import TextFileError, default_corpus
from tinygrad_seq.nn.rnn import LSTM
from tinygrad_seq.train import TrainConfig, Trainer, detach_state, tbptt_windows, truncated_bptt

# --------------------------------------------------------------------------- windows


@given(length=st.integers(1, 60), k1=st.integers(1, 12), extra=st.integers(0, 12))
def test_windows_partition_the_loss_and_chain_their_states(length, k1, extra):
    k2 = k1 + extra
    ws = tbptt_windows(length, k1, k2)
    assert ws[0].start == 0 and ws[-1].stop == length
    counted = [t for w in ws for t in range(w.loss_start, w.stop)]
    assert counted == list(range(length)), "every step's loss is counted exactly once"
    for w in ws:
        assert w.start <= w.carry <= w.stop and w.start <= w.loss_start < w.stop
        assert w.stop - w.start <= k2 and w.stop - w.loss_start <= k1
        # gradients reach k2 steps back unless the sequence starts sooner
        assert w.stop - w.start == min(k2 - k1 + (w.stop - w.loss_start), w.stop)
    for a, b in zip(ws, ws[1:]):
        assert a.carry == b.start, "each window starts where the previous one left its state"
        assert b.loss_start == a.stop


def test_window_arguments_are_checked():
    with pytest.raises(ValueError, match="k2 .* must be >= k1"):
        tbptt_windows(10, 4, 2)
    with pytest.raises(ValueError, match="k1 must be a positive"):
        tbptt_windows(10, 0)


def test_detach_state():
    h = tg.Tensor(np.ones(2), requires_grad=True) * 2
    c = tg.Tensor(np.ones(2), requires_grad=True) * 3
    dh, dc = detach_state((h, c))
    assert not dh.requires_grad and dh.is_leaf and np.all(dc.data == 3)
    assert detach_state(None) is None


# --------------------------------------------------------------------------- equivalences (float64)

B, T, D, H, C = 3, 10, 4, 5, 6


def _setup():
    rng = np.random.default_rng(3)
    lstm = LSTM(D, H, batch_first=True, cell="fused").double()
    head = nn.Linear(H, C).double()
    x = rng.standard_normal((B, T, D))
    w = rng.standard_normal((B, T, C))  # a fixed non-uniform weighting of the outputs
    h0 = (tg.Tensor(rng.standard_normal((1, B, H))), tg.Tensor(rng.standard_normal((1, B, H))))
    return lstm, head, x, w, h0


def _ours(lstm, head):
    def forward(x, state):
        out, state = lstm(tg.Tensor(x), state)
        return head(out), state

    def loss_fn(out, w):
        return ((out + 1) ** 2 * tg.Tensor(w)).sum()

    return forward, loss_fn


def _grads(*modules):
    return {f"{i}.{k}": p.grad.data.copy() for i, m in enumerate(modules) for k, p in m.named_parameters()}


def _torch_copy(lstm, head):
    tl = torch.nn.LSTM(D, H, batch_first=True).double()
    th = torch.nn.Linear(H, C).double()
    tl.load_state_dict({k: torch.tensor(v) for k, v in lstm.state_dict().items()})
    th.load_state_dict({k: torch.tensor(v) for k, v in head.state_dict().items()})
    return tl, th


def test_k_equal_to_T_is_full_bptt(float64):
    lstm, head, x, w, h0 = _setup()
    forward, loss_fn = _ours(lstm, head)
    out, _ = forward(x, h0)
    loss_fn(out, w).backward()
    full = _grads(lstm, head)
    lstm.zero_grad(), head.zero_grad()
    losses, _ = truncated_bptt(forward, loss_fn, x, w, k1=T, k2=T, state=h0)
    assert len(losses) == 1
    for k, g in _grads(lstm, head).items():
        np.testing.assert_array_equal(g, full[k], err_msg=k)


@pytest.mark.parametrize("k1", [1, 3, 4])
def test_look_back_to_the_start_is_full_bptt_for_any_k1(float64, k1):
    """k2 − k1 >= T: every window reaches back to t = 0, so the summed gradients are the full BPTT gradient."""
    lstm, head, x, w, h0 = _setup()
    forward, loss_fn = _ours(lstm, head)
    out, _ = forward(x, h0)
    loss_fn(out, w).backward()
    full = _grads(lstm, head)
    lstm.zero_grad(), head.zero_grad()
    truncated_bptt(forward, loss_fn, x, w, k1=k1, k2=T + k1, state=h0)
    for k, g in _grads(lstm, head).items():
        np.testing.assert_allclose(g, full[k], rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("k1,k2", [(3, 3), (1, 1), (2, 5), (3, 4), (4, 9)])
def test_truncated_gradient_matches_pytorch_reference(float64, k1, k2):
    """Reference built independently in PyTorch: for each update, the exact state at the window's start
    from a full forward pass, detached; forward over the window; the loss of its k1 newest steps."""
    lstm, head, x, w, h0 = _setup()
    tl, th = _torch_copy(lstm, head)
    xt, wt = torch.tensor(x), torch.tensor(w)
    h0t = tuple(torch.tensor(s.data) for s in h0)
    with torch.no_grad():
        states = [h0t]
        for t in range(T):  # the state after each step of an uninterrupted pass
            _, s = tl(xt[:, t:t + 1], states[-1])
            states.append(s)
    ref_losses = []
    for j in range(math.ceil(T / k1)):
        loss_start, stop = j * k1, min((j + 1) * k1, T)
        start = max(loss_start - (k2 - k1), 0)
        out, _ = tl(xt[:, start:stop], tuple(s.clone() for s in states[start]))
        y = th(out)[:, loss_start - start:]
        loss = ((y + 1) ** 2 * wt[:, loss_start:stop]).sum()
        loss.backward()
        ref_losses.append(loss.item())

    forward, loss_fn = _ours(lstm, head)
    losses, _ = truncated_bptt(forward, loss_fn, x, w, k1=k1, k2=k2, state=h0)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-12)
    theirs = {f"0.{k}": p.grad.numpy() for k, p in tl.named_parameters()}
    theirs.update({f"1.{k}": p.grad.numpy() for k, p in th.named_parameters()})
    for k, g in _grads(lstm, head).items():
        np.testing.assert_allclose(g, theirs[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_chunked_training_matches_the_usual_pytorch_loop(float64):
    """With updates in between: the classic loop (carry the state, detach it, step) gives the same losses."""
    lstm, head, x, w, h0 = _setup()
    tl, th = _torch_copy(lstm, head)
    params_t = list(tl.parameters()) + list(th.parameters())
    opt_t = torch.optim.SGD(params_t, lr=0.01, momentum=0.9)
    state = tuple(torch.tensor(s.data) for s in h0)
    ref = []
    for a in range(0, T, 4):
        opt_t.zero_grad()
        out, state = tl(torch.tensor(x[:, a:a + 4]), state)
        loss = ((th(out) + 1) ** 2 * torch.tensor(w[:, a:a + 4])).sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params_t, 2.0)
        opt_t.step()
        state = tuple(s.detach() for s in state)
        ref.append(loss.item())

    forward, loss_fn = _ours(lstm, head)
    opt = optim.SGD([*lstm.parameters(), *head.parameters()], lr=0.01, momentum=0.9)
    losses, final = truncated_bptt(forward, loss_fn, x, w, k1=4, state=h0, optimizer=opt, clip_norm=2.0)
    np.testing.assert_allclose(losses, ref, rtol=1e-10)
    np.testing.assert_allclose(final[0].data, state[0].numpy(), rtol=1e-10)
    assert not final[0].requires_grad


# --------------------------------------------------------------------------- the trainer

TEXT = default_corpus()[:600]
SMALL = dict(hidden_size=12, num_layers=2, dropout=0.2, batch_size=4, seq_len=8, tbptt=12, steps=24,
             eval_every=5, eval_batch_size=2, eval_seq_len=16, lr=0.01)


def test_trainer_learns_and_records_history():
    trainer = Trainer(TrainConfig(**{**SMALL, "dropout": 0.0, "num_layers": 1, "steps": 40}), TEXT)
    seen = []
    result = trainer.run(on_step=seen.append)
    assert result["stopped"] == "done" and trainer.step == 40 == len(seen)
    assert seen[-1]["chars_per_sec"] > 0 and seen[0]["chars"] == 4 * 8
    losses = trainer.history["train_loss"]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.5
    assert trainer.history["eval_step"] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert result["eval"]["bpc"] == pytest.approx(result["eval"]["loss"] / math.log(2))
    assert result["eval"]["bpc"] < math.log2(len(trainer.vocab))


@pytest.mark.parametrize("model", ["lstm", "gru"])
def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path, model):
    """12 steps, checkpoint, a fresh process state, 12 more: the same numbers as 24 in one go
    (with dropout, two layers, k2 > k1 and an epoch boundary crossed after the checkpoint)."""
    config = TrainConfig(**{**SMALL, "model": model})
    full = Trainer(config, TEXT)
    full.run()
    assert full.step > len(full.windows) > 12, "the run should cross an epoch boundary after the checkpoint"

    first = Trainer(config, TEXT)
    first.run(steps=12, checkpoint_path=tmp_path / "ckpt.npz")
    tg.manual_seed(12345)  # whatever happened in between must not matter
    tg.randn(10)
    resumed = Trainer.resume(tmp_path / "ckpt.npz", TEXT)
    assert resumed.step == 12
    resumed.run()
    assert resumed.history["train_loss"] == full.history["train_loss"]
    evals = dict(zip(resumed.history["eval_step"], resumed.history["eval_loss"]))
    assert evals.pop(12) > 0  # the interrupted run also evaluated where it stopped
    assert evals == dict(zip(full.history["eval_step"], full.history["eval_loss"]))
    for (k, a), b in zip(resumed.model.state_dict().items(), full.model.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)


def test_stop_between_steps_leaves_a_consistent_checkpoint(tmp_path):
    path = tmp_path / "run.npz"
    trainer = Trainer(TrainConfig(**SMALL), TEXT)
    calls = []
    result = trainer.run(should_stop=lambda: len(calls) >= 3, on_step=calls.append, checkpoint_path=path,
                         checkpoint_every=2)
    assert result["stopped"] == "interrupted" and trainer.step == 3
    ckpt = load_checkpoint(path)
    assert ckpt.step == 3
    np.testing.assert_array_equal(ckpt.model["rnn.weight_hh_l0"], trainer.model.rnn.weight_hh_l0.data)


def test_time_limit():
    trainer = Trainer(TrainConfig(**SMALL), TEXT)
    result = trainer.run(steps=10_000, time_limit=0.5)
    assert result["stopped"] == "time limit" and 0 < trainer.step < 10_000
    assert result["eval"]["step"] == trainer.step


def test_resume_refuses_another_model_run_or_text(tmp_path):
    path = tmp_path / "run.npz"
    trainer = Trainer(TrainConfig(**SMALL), TEXT)
    trainer.run(steps=2, checkpoint_path=path)
    with pytest.raises(CheckpointError, match="hidden_size 12 in the checkpoint, 16 here"):
        Trainer.resume(path, TEXT, TrainConfig(**{**SMALL, "hidden_size": 16}))
    with pytest.raises(CheckpointError, match="model 'lstm' in the checkpoint, 'gru' here"):
        Trainer.resume(path, TEXT, TrainConfig(**{**SMALL, "model": "gru"}))
    with pytest.raises(CheckpointError, match="another text"):
        Trainer.resume(path, TEXT[:-1] + "!", TrainConfig(**SMALL))
    resumed = Trainer.resume(path, TEXT, TrainConfig(**{**SMALL, "steps": 50, "eval_every": 7}))
    assert resumed.config.steps == 50 and resumed.config.eval_every == 7 and resumed.step == 2
    other = tmp_path / "other.npz"
    from tinygrad_seq.checkpoint import save_checkpoint

    save_checkpoint(other, model=nn.Linear(2, 2))
    with pytest.raises(CheckpointError, match="not written by a char-LM Trainer"):
        Trainer.resume(other, TEXT)


@pytest.mark.parametrize("change,message", [
    ({"hidden_size": 0}, "hidden_size must be a positive"),
    ({"steps": 0}, "steps must be a positive"),
    ({"batch_size": -3}, "batch_size must be a positive"),
    ({"tbptt": 4}, r"tbptt \(4 steps backpropagated\) must be >= seq_len \(8\)"),
    ({"model": "transformer"}, "model must be one of gru, lstm, rnn"),
    ({"optimizer": "lbfgs"}, "optimizer must be one of"),
    ({"lr": -0.1}, "lr must be a finite positive"),
    ({"clip": 0.0}, "clip must be"),
    ({"dropout": 1.0}, "dropout must lie"),
])
def test_nonsense_settings_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        Trainer(TrainConfig(**{**SMALL, **change}), TEXT)


def test_text_too_short_for_one_batch():
    with pytest.raises(TextFileError, match="too short"):
        Trainer(TrainConfig(**SMALL), TEXT[:30])


# --------------------------------------------------------------------------- the lecture's "hello"


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_hello_model_learns_to_predict_e_l_l_o(model):
    from tinygrad_seq.lm import CharLM, hello_example

    vocab, x, y = hello_example()
    lm = CharLM(len(vocab), hidden_size=8, model=model)  # one-hot input, as in the lecture
    opt = optim.Adam(lm.parameters(), lr=0.05)
    first = None
    for _ in range(300):
        opt.zero_grad()
        loss, _ = lm.loss(x, y)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert first > 1.0 and loss.item() < 0.01, f"loss {first:.3f} -> {loss.item():.4f}"
    logits, _ = lm(x)
    assert vocab.decode(logits.data[0].argmax(-1)) == "ello"
