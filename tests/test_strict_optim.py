"""Optimizers refuse what would silently break a model: NaN gradients under detect_anomaly, nonsense
hyper-parameters (also when loaded from a state dict), non-leaf parameters, and nonsense clipping bounds."""

import math

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import nn, optim

OPTIMIZERS = [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad]


def _model_with_grads(bad=None):
    m = nn.Linear(3, 2).name_parameters()
    m(tg.ones(4, 3)).sum().backward()
    if bad is not None:
        m.bias.grad.data[1] = bad
    return m


@pytest.mark.parametrize("cls", OPTIMIZERS)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_step_under_detect_anomaly_refuses_a_non_finite_gradient_naming_the_parameter(cls, bad):
    m = _model_with_grads(bad)
    opt = cls(m.parameters(), lr=0.1)
    before = [p.data.copy() for p in m.parameters()]
    with tg.detect_anomaly(), pytest.raises(RuntimeError, match=r"gradient of parameter 'bias' .* holds (NaN|Inf)"):
        opt.step()
    for p, b in zip(m.parameters(), before):  # not even the weight, whose gradient is fine
        np.testing.assert_array_equal(p.data, b)
    with np.errstate(invalid="ignore"):
        opt.step()  # anomaly mode off: as in PyTorch, the NaN goes in
    assert not np.isfinite(m.bias.data).all()


@pytest.mark.parametrize("cls", OPTIMIZERS)
@pytest.mark.parametrize("key,value", [("lr", math.nan), ("lr", math.inf), ("lr", -5), ("lr", "abc"),
                                       ("weight_decay", math.nan), ("eps", math.nan), ("momentum", math.nan),
                                       ("maximize", "yes")])
def test_nonsense_hyper_parameters_are_refused_in_the_constructor_and_in_load_state_dict(cls, key, value):
    m = _model_with_grads()
    opt = cls(m.parameters(), lr=0.1)
    if key not in opt.defaults:
        pytest.skip(f"{cls.__name__} has no {key}")
    with pytest.raises((ValueError, TypeError), match=key if key != "lr" else "learning rate|lr"):
        cls(m.parameters(), **{key: value, **({"lr": 0.1} if key != "lr" else {})})
    opt.step()
    saved = opt.state_dict()
    saved["param_groups"][0][key] = value
    before = opt.state_dict()
    with pytest.raises((ValueError, TypeError), match=key if key != "lr" else "learning rate|lr"):
        opt.load_state_dict(saved)
    assert opt.param_groups[0][key] == before["param_groups"][0][key]  # unchanged


def test_adam_betas_nan_and_strings_are_refused():
    p = [tg.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="betas"):
        optim.Adam(p, betas=(math.nan, 0.9))
    with pytest.raises(TypeError, match="betas"):
        optim.Adam(p, betas=("a", 0.9))


def test_load_state_dict_refuses_non_finite_or_non_numeric_state():
    m = _model_with_grads()
    opt = optim.Adam(m.parameters())
    opt.step()
    saved = opt.state_dict()
    saved["state"][0]["exp_avg"] = np.full((2, 3), np.nan, np.float32)
    with pytest.raises(ValueError, match="'exp_avg' of parameter 0 holds NaN"):
        opt.load_state_dict(saved)
    saved["state"][0]["exp_avg"] = np.full((2, 3), "x")
    with pytest.raises(TypeError, match="'exp_avg' of parameter 0 is not a number"):
        opt.load_state_dict(saved)
    saved["state"][0]["exp_avg"] = np.zeros((2, 3))
    saved["state"][0]["step"] = "3"
    with pytest.raises(TypeError, match="'step' of parameter 0 is not a number"):
        opt.load_state_dict(saved)


def test_a_loaded_json_betas_list_becomes_a_tuple():
    m = _model_with_grads()
    opt = optim.Adam(m.parameters())
    saved = opt.state_dict()
    saved["param_groups"][0]["betas"] = [0.5, 0.6]
    opt.load_state_dict(saved)
    assert opt.param_groups[0]["betas"] == (0.5, 0.6)


def test_non_leaf_tensors_are_refused_as_parameters():
    w = tg.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="leaf tensors.*computed by"):
        optim.SGD([w * 2], lr=0.1)


@pytest.mark.parametrize("max_norm", [-1.0, math.nan])
def test_clip_grad_norm_refuses_a_negative_or_nan_bound(max_norm):
    m = _model_with_grads()
    g = m.weight.grad.data.copy()
    with pytest.raises(ValueError, match="max_norm must be a number >= 0"):
        optim.clip_grad_norm_(m.parameters(), max_norm)
    np.testing.assert_array_equal(m.weight.grad.data, g)
    with pytest.raises(ValueError, match="clip_value"):
        optim.clip_grad_value_(m.parameters(), math.nan)
