"""nn.Module and the simple layers: registration, state dicts, modes, and parity with torch.nn."""

import numpy as np
import pytest
import torch

import tinygrad_seq as tg
from tinygrad_seq import functional as F
from tinygrad_seq import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, 3)
        self.body = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Dropout(0.5))
        self.head = nn.Linear(4, 2, bias=False)

    def forward(self, idx):
        return self.head(self.body(self.embed(idx)))


def test_parameters_are_found_by_their_dotted_names():
    net = Net()
    names = [k for k, _ in net.named_parameters()]
    assert names == ["embed.weight", "body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias", "head.weight"]
    assert len(list(net.parameters())) == 6
    assert [k for k, _ in net.named_children()] == ["embed", "body", "head"]
    net.name_parameters("net")
    assert net.body[0].weight.name == "net.body.0.weight"


def test_a_shared_parameter_is_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, lin)
    assert len(list(seq.parameters())) == 2


def test_train_and_eval_switch_every_submodule_and_dropout_follows():
    net = Net()
    x = np.arange(5)
    net.eval()
    assert all(not m.training for m in net.modules())
    np.testing.assert_array_equal(net(x).data, net(x).data)  # no dropout: deterministic
    net.train()
    assert all(m.training for m in net.modules())
    assert not np.array_equal(net(x).data, net(x).data)


def test_state_dict_round_trip_copies_arrays():
    a, b = Net(), Net()
    sd = a.state_dict()
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    sd["head.weight"][...] = 0  # a copy: the model is untouched
    assert np.abs(a.head.weight.data).sum() > 0
    b.load_state_dict(a.state_dict())
    for (k, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=k)


def test_load_state_dict_names_missing_and_unexpected_keys_and_changes_nothing():
    net = Net()
    before = net.state_dict()
    sd = net.state_dict()
    del sd["head.weight"]
    sd["tail.weight"] = np.zeros(3)
    with pytest.raises(KeyError, match=r"missing keys \['head.weight'\], unexpected keys \['tail.weight'\]"):
        net.load_state_dict(sd)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["head.weight"] and unexpected == ["tail.weight"]
    np.testing.assert_array_equal(net.head.weight.data, before["head.weight"])


def test_load_state_dict_rejects_a_wrong_shape_before_changing_anything():
    net = Net()
    before = net.state_dict()
    sd = {k: v + 1 for k, v in before.items()}
    sd["head.weight"] = np.zeros((3, 3))
    expect = r"'head.weight' has shape \(3, 3\) in the state dict but \(2, 4\) in the model"
    with pytest.raises(ValueError, match=expect):
        net.load_state_dict(sd)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)  # nothing half-loaded


def test_zero_grad_and_requires_grad_():
    net = Net()
    net(np.arange(3)).sum().backward()
    assert net.head.weight.grad is not None
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not net(np.arange(3)).requires_grad


def test_bad_sizes_and_inputs_get_clear_errors():
    with pytest.raises(ValueError, match="Linear: in_features must be a positive integer, got 0"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match=r"Linear: input has 5 features \(shape \(2, 5\)\), expected 3"):
        nn.Linear(3, 2)(tg.zeros(2, 5))
    with pytest.raises(IndexError, match=r"embedding.*out of range \[0, 5\)"):
        nn.Embedding(5, 2)(np.array([1, 7]))
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\]"):
        nn.Dropout(1.5)
    with pytest.raises(RuntimeError, match="call super\\(\\).__init__\\(\\)"):

        class Forgot(nn.Module):
            def __init__(self):
                self.w = nn.Parameter(np.zeros(2))

        Forgot()


def test_layers_match_torch_in_float64(float64):
    """Linear, Embedding and LayerNorm with torch's weights: outputs and every gradient to 1e-12."""
    rng = np.random.default_rng(0)
    ours = Net().eval()
    theirs = torch.nn.ModuleDict({
        "embed": torch.nn.Embedding(5, 3),
        "body": torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4)),
        "head": torch.nn.Linear(4, 2, bias=False),
    }).double()
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(p.shape)))
    ours.load_state_dict(theirs.state_dict())
    idx = np.array([[0, 3, 3], [4, 1, 0]])
    out = ours(idx)
    t_out = theirs["head"](theirs["body"](theirs["embed"](torch.from_numpy(idx))))
    w = rng.standard_normal(out.shape)
    ((out + 1) ** 2 * w).sum().backward()
    ((t_out + 1) ** 2 * torch.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    t_params = dict(theirs.named_parameters())
    for k, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.data, t_params[k].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=k)


def test_layer_norm_module_gradcheck(float64):
    ln = nn.LayerNorm(4)
    ln.weight.data = np.linspace(0.5, 2, 4)
    x = tg.randn(3, 4, requires_grad=True)
    assert tg.gradcheck(lambda x, w, b: ln(x), [x, ln.weight, ln.bias])
    assert F.layer_norm(x, 4).shape == (3, 4)
