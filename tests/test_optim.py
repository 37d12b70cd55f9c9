"""Optimizers follow torch.optim step for step; clipping matches torch.nn.utils."""

import numpy as np
import pytest
import torch

import tinygrad_seq as tg
from tinygrad_seq import optim

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.5, nesterov=True, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.02, initial_accumulator_value=0.3, eps=1e-6)),
    ("Adagrad", dict(lr=0.1, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.05, eps=1e-4)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
]


def _problem(dtype, seed=0):
    """Starting values of three parameters and the fixed data of a small non-quadratic loss."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in [(4, 3), (4,), (2, 4)]]
    x = rng.standard_normal((5, 3)).astype(dtype)
    w = rng.standard_normal((5, 2)).astype(dtype)
    return params, x, w


def _loss(W, b, V, x, w, lib):
    """Σ w ⊙ (tanh(x Wᵀ + b) Vᵀ)² + 0.1 Σ W²: the same expression in both libraries."""
    h = lib.tanh(x @ W.T + b)
    y = h @ V.T
    return (w * y * y).sum() + 0.1 * (W * W).sum()


def _trajectories(name, kwargs, dtype, steps=8):
    start, x, w = _problem(dtype)
    ours = [tg.Tensor(p.copy(), requires_grad=True) for p in start]
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in start]
    opt_ours = getattr(optim, name)(ours, **kwargs)
    opt_theirs = getattr(torch.optim, name)(theirs, **kwargs)
    xo, wo = tg.Tensor(x), tg.Tensor(w)
    worst = 0.0
    for _ in range(steps):
        opt_ours.zero_grad()
        _loss(*ours, xo, wo, tg).backward()
        opt_ours.step()
        # torch gets the same gradient values (at its own parameters): only the update rules are compared
        with torch.no_grad():
            probe = [tg.Tensor(b.numpy().copy(), requires_grad=True) for b in theirs]
        _loss(*probe, xo, wo, tg).backward()
        for b, q in zip(theirs, probe):
            b.grad = torch.tensor(q.grad.data)
        opt_theirs.step()
        for a, b in zip(ours, theirs):
            b = b.detach().numpy()
            worst = max(worst, float(np.abs(a.data - b).max() / (np.abs(b).max())))
    moved = max(float(np.abs(a.data - s).max()) for a, s in zip(ours, start))
    return worst, moved


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_trajectory_matches_torch_float64(name, kwargs):
    worst, moved = _trajectories(name, kwargs, np.float64)
    assert moved > 1e-3, "the parameters barely moved: the test would not see a wrong update"
    assert worst < 1e-13, f"{name}{kwargs}: relative trajectory error {worst:.2e}"


@pytest.mark.parametrize("name,kwargs", CASES[::3], ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES[::3])])
def test_trajectory_matches_torch_float32(name, kwargs):
    worst, _ = _trajectories(name, kwargs, np.float32, steps=4)
    assert worst < 2e-6, f"{name}{kwargs}: relative trajectory error {worst:.2e}"


def test_update_keeps_float32():
    p = tg.Tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.Adam([p], lr=0.1, weight_decay=0.1)
    (p * p).sum().backward()
    opt.step()
    assert p.dtype == np.float32 and opt.state[id(p)]["exp_avg"].dtype == np.float32


def test_parameter_groups_use_their_own_hyperparameters():
    a = tg.Tensor(np.ones(2), requires_grad=True)
    b = tg.Tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    (a.sum() + b.sum()).backward()
    opt.step()
    np.testing.assert_allclose(a.data, 0.9)
    np.testing.assert_allclose(b.data, 0.0)


def test_zero_grad_and_parameters_without_gradient():
    a = tg.Tensor(np.ones(2), requires_grad=True)
    b = tg.Tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    (a * 3).sum().backward()
    opt.step()  # b has no gradient: left alone, no state
    assert id(b) not in opt.state and np.all(b.data == 1)
    opt.zero_grad(set_to_none=False)
    assert np.all(a.grad.data == 0)
    opt.zero_grad()
    assert a.grad is None


@pytest.mark.parametrize("name,kwargs", [CASES[2], CASES[6], CASES[11], CASES[16]])
def test_state_dict_resumes_the_same_trajectory(name, kwargs):
    """3 steps, save, rebuild on fresh parameter objects, load, 3 more: same as 6 uninterrupted."""
    start, x, w = _problem(np.float64)
    xo, wo = tg.Tensor(x), tg.Tensor(w)

    def run(params, opt, n):
        for _ in range(n):
            opt.zero_grad()
            _loss(*params, xo, wo, tg).backward()
            opt.step()

    full = [tg.Tensor(p.copy(), requires_grad=True) for p in start]
    run(full, getattr(optim, name)(full, **kwargs), 6)

    first = [tg.Tensor(p.copy(), requires_grad=True) for p in start]
    opt = getattr(optim, name)(first, **kwargs)
    run(first, opt, 3)
    saved, at_3 = opt.state_dict(), [p.data.copy() for p in first]
    run(first, opt, 1)  # the saved state must be a copy, not a view of the live buffers

    resumed = [tg.Tensor(a, requires_grad=True) for a in at_3]
    opt2 = getattr(optim, name)(resumed, lr=123.0)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    run(resumed, opt2, 3)
    for a, b in zip(resumed, full):
        np.testing.assert_array_equal(a.data, b.data)


def test_load_state_dict_rejects_mismatches():
    a = tg.Tensor(np.ones((2, 3)), requires_grad=True)
    opt = optim.Adam([a])
    (a * a).sum().backward()
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="shape"):
        optim.Adam([tg.Tensor(np.ones((3, 2)), requires_grad=True)]).load_state_dict(saved)
    with pytest.raises(ValueError, match="group of 1 parameters"):
        b = tg.Tensor(np.ones(2), requires_grad=True)
        optim.Adam([a, b]).load_state_dict(saved)


def test_bad_hyperparameters_are_rejected():
    p = [tg.Tensor(np.ones(2), requires_grad=True)]
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD(p, lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam(p, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(TypeError, match="unknown"):
        optim.SGD([{"params": p, "momentun": 0.9}], lr=0.1)
    with pytest.raises(ValueError, match="does not require grad"):
        optim.SGD([tg.Tensor(np.ones(2))], lr=0.1)


# --------------------------------------------------------------------------- clipping


def _grads(scale, seed=1):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) * scale for s in [(3, 4), (5,), (2, 2)]]
    ours = []
    for a in arrays:
        t = tg.Tensor(np.zeros(a.shape), requires_grad=True)
        t.grad = tg.Tensor(a.copy())
        ours.append(t)
    theirs = []
    for a in arrays:
        t = torch.zeros(a.shape, dtype=torch.float64, requires_grad=True)
        t.grad = torch.tensor(a.copy())
        theirs.append(t)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("scale", [10.0, 0.01])
def test_clip_grad_norm_matches_torch(norm_type, scale):
    ours, theirs = _grads(scale)
    before = [p.grad.data.copy() for p in ours]
    total = optim.clip_grad_norm_(ours, max_norm=1.5, norm_type=norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, max_norm=1.5, norm_type=norm_type)
    assert abs(float(total) - float(total_t)) < 1e-12 * float(total_t)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-13, atol=0)
    if scale == 0.01:  # below the threshold: untouched
        for a, g0 in zip(ours, before):
            np.testing.assert_array_equal(a.grad.data, g0)
    else:  # clipped: the joint norm is now max_norm, the direction unchanged
        flat = np.concatenate([p.grad.data.ravel() for p in ours])
        flat0 = np.concatenate([g.ravel() for g in before])
        assert abs(np.linalg.norm(flat, norm_type) - 1.5) < 1e-5
        np.testing.assert_allclose(flat / np.linalg.norm(flat), flat0 / np.linalg.norm(flat0), rtol=1e-12)


def test_clip_grad_norm_nonfinite():
    ours, _ = _grads(1.0)
    ours[0].grad.data[0, 0] = np.inf
    with pytest.raises(RuntimeError, match="total norm"):
        optim.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)


def test_clip_grad_value_matches_torch():
    ours, theirs = _grads(2.0)
    optim.clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.grad.data, b.grad.numpy())
    assert max(np.abs(p.grad.data).max() for p in ours) == 0.7
