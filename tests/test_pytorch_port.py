"""What a PyTorch program needs beyond the layers: module forms, init, utils, state dicts, saving, printing.

Each behaviour is compared with PyTorch's where PyTorch has it (torch 2.13 CPU, float64, same weights);
the initialisers, which cannot match PyTorch's random numbers, are checked statistically.
"""

import os
import pickle

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import functional as F
from tinygrad_seq import nn, optim

torch = pytest.importorskip("torch")


@pytest.fixture
def both64(float64):
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def pair(shape, seed=0, scale=1.0):
    """The same float64 values as our leaf and as a torch leaf, both requiring grad."""
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    return tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


def upstream(shape, seed=9):
    return np.random.default_rng(seed).standard_normal(shape)


# --------------------------------------------------------------------------- module forms


ACTIVATIONS = [
    ("Tanh", (), {}), ("ReLU", (), {}), ("Sigmoid", (), {}), ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}),
    ("Softmax", (), {"dim": 1}), ("LogSoftmax", (), {"dim": 1}), ("Softmax", (), {"dim": -1}),
    ("Identity", (3,), {"unused": 1}), ("Flatten", (), {}), ("Flatten", (0, 1), {}),
]


@pytest.mark.parametrize("name,args,kwargs", ACTIVATIONS)
def test_activation_modules_match_torch_values_and_gradients(both64, name, args, kwargs):
    x, tx = pair((2, 3, 4), scale=2.0)
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    y, ty = ours(x), theirs(tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=0, atol=1e-14)
    g = upstream(y.shape)
    (y * tg.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=0, atol=1e-13)
    assert repr(ours) == repr(theirs)


def test_softmax_without_dim_picks_pytorchs_dim_and_warns():
    x = tg.randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = nn.Softmax()(x)
    np.testing.assert_allclose(y.data.sum(1), 1.0, rtol=1e-6)  # dim 1 for a 2-d input, as PyTorch


LOSSES = [
    ("NLLLoss", {}), ("NLLLoss", {"reduction": "sum"}), ("NLLLoss", {"ignore_index": 2}),
    ("NLLLoss", {"weight": [1.0, 2.0, 0.5, 3.0]}), ("NLLLoss", {"weight": [1.0, 2.0, 0.5, 3.0], "reduction": "none"}),
    ("CrossEntropyLoss", {}), ("CrossEntropyLoss", {"reduction": "none"}), ("CrossEntropyLoss", {"ignore_index": 0}),
    ("CrossEntropyLoss", {"weight": [1.0, 2.0, 0.5, 3.0]}),
    ("CrossEntropyLoss", {"weight": [1.0, 2.0, 0.5, 3.0], "ignore_index": 3, "reduction": "sum"}),
]


@pytest.mark.parametrize("name,kwargs", LOSSES)
def test_class_losses_match_torch(both64, name, kwargs):
    x, tx = pair((5, 4), seed=1)
    target = np.array([0, 3, 2, 1, 3])
    weight = kwargs.pop("weight", None)
    ours = getattr(nn, name)(weight=None if weight is None else tg.tensor(weight), **kwargs)
    theirs = getattr(torch.nn, name)(weight=None if weight is None else torch.tensor(weight), **kwargs)
    inp, tinp = (x.log_softmax(1), tx.log_softmax(1)) if name == "NLLLoss" else (x, tx)
    loss, tloss = ours(inp, tg.tensor(target)), theirs(tinp, torch.tensor(target))
    np.testing.assert_allclose(loss.data, tloss.detach().numpy(), rtol=0, atol=1e-14)
    g = upstream(loss.shape)
    (loss * tg.tensor(g)).sum().backward()
    (tloss * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=0, atol=1e-14)
    assert repr(ours) == repr(theirs)


def test_weighted_cross_entropy_gradcheck(float64):
    x = tg.randn(4, 3, requires_grad=True)
    w = tg.tensor([0.5, 2.0, 1.5])
    assert tg.gradcheck(lambda x: F.cross_entropy(x, np.array([2, 0, 1, 2]), weight=w), [x])
    assert tg.gradcheck(lambda x: F.nll_loss(x.log_softmax(1), np.array([2, 0, 1, 2]), weight=w), [x])


def test_loss_arguments_are_checked():
    with pytest.raises(ValueError, match="reduction"):
        nn.NLLLoss(reduction="avg")
    with pytest.raises(TypeError, match="third argument"):
        F.nll_loss(tg.randn(2, 3).log_softmax(1), np.array([0, 1]), "sum")
    with pytest.raises(ValueError, match="one entry per class"):
        nn.CrossEntropyLoss(weight=tg.ones(2))(tg.randn(2, 3), np.array([0, 1]))
    with pytest.raises(NotImplementedError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=0.1)


def test_mse_loss_module_matches_torch(both64):
    x, tx = pair((3, 2))
    y = upstream((3, 2), seed=4)
    for reduction in ("mean", "sum", "none"):
        ours = nn.MSELoss(reduction=reduction)(x, tg.tensor(y))
        theirs = torch.nn.MSELoss(reduction=reduction)(tx, torch.tensor(y))
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=0, atol=1e-14)


def test_nn_functional_is_an_attribute_and_an_importable_module():
    import tinygrad_seq.nn.functional as F2

    assert nn.functional is F and F2 is F
    assert tg.nn.functional.relu(tg.tensor([-1.0, 2.0])).tolist() == [0.0, 2.0]


def test_lazy_linear_takes_its_size_from_the_first_input(both64):
    lazy = nn.LazyLinear(3)
    assert list(lazy.parameters()) == []
    y = lazy(tg.randn(2, 5))
    assert type(lazy) is nn.Linear and lazy.in_features == 5 and y.shape == (2, 3)
    assert [p.shape for p in lazy.parameters()] == [(3, 5), (3,)]
    theirs = torch.nn.Linear(4, 2)
    again = nn.LazyLinear(2)
    again.load_state_dict(theirs.state_dict())  # a state dict sets the size too
    x = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_allclose(again(tg.tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), atol=1e-14)


# --------------------------------------------------------------------------- Module


def two_layer(lib):
    """The same small model class, on our nn or on torch.nn."""

    class TwoLayer(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = lib.nn.Embedding(7, 4)
            self.body = lib.nn.Sequential(lib.nn.Linear(4, 4), lib.nn.ReLU(), lib.nn.Linear(4, 7))
            self.norm = lib.nn.LayerNorm(4)

    return TwoLayer()


def test_apply_visits_children_first_then_the_module_as_torch():
    ours, theirs = [], []
    two_layer(tg).apply(lambda m: ours.append(type(m).__name__))
    two_layer(torch).apply(lambda m: theirs.append(type(m).__name__))
    assert ours == theirs == ["Embedding", "Linear", "ReLU", "Linear", "Sequential", "LayerNorm", "TwoLayer"]


def test_apply_initialises_weights_in_place():
    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
            nn.init.constant_(m.weight, 0.5)

    model = two_layer(tg).apply(init_weights)
    linears = [m for m in model.body if isinstance(m, nn.Linear)]
    assert len(linears) == 2 and all((m.weight.data == 0.5).all() and (m.bias.data == 0).all() for m in linears)


def test_parameters_is_an_iterator_that_optimizers_and_clipping_accept():
    model = two_layer(tg)
    it = model.parameters()
    assert iter(it) is it and next(it) is model.embed.weight
    assert len(list(model.parameters())) == 7
    model.body(model.embed(np.array([1, 2]))).sum().backward()
    norm = nn.utils.clip_grad_norm_(model.parameters(), 0.1)
    assert norm.item() > 0.1
    total = np.sqrt(sum((p.grad.data.astype(np.float64) ** 2).sum() for p in model.parameters() if p.grad is not None))
    assert total == pytest.approx(0.1, rel=1e-4)
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 7
    nn.utils.clip_grad_value_(model.parameters(), 1e-3)
    assert max(np.abs(p.grad.data).max() for p in model.parameters() if p.grad is not None) <= 1e-3


def test_clipping_has_one_implementation():
    assert nn.utils.clip_grad_norm_ is optim.clip_grad_norm_
    assert nn.utils.clip_grad_value_ is optim.clip_grad_value_


def test_module_to_takes_devices_and_dtypes():
    model = two_layer(tg)
    assert model.to("cpu") is model and model.cpu() is model and model.to(tg.device("cpu")) is model
    assert model.to(tg.double).embed.weight.dtype == np.float64
    assert model.to("cpu", tg.float32).embed.weight.dtype == np.float32
    assert model.double().norm.weight.dtype == np.float64 and model.float().norm.weight.dtype == np.float32
    assert model.to(tg.zeros(1, dtype=tg.float64)).body[0].weight.dtype == np.float64
    assert model.to(dtype=tg.float32, device="cpu").body[2].bias.dtype == np.float32
    for device in ("cuda", "cuda:0", "mps"):
        with pytest.raises(RuntimeError, match="CPU only"):
            model.to(device)
    with pytest.raises(RuntimeError, match="CPU only"):
        model.cuda()
    with pytest.raises(TypeError, match="float"):
        model.to(tg.long)


def test_repr_prints_the_module_tree_as_torch():
    assert repr(two_layer(tg)) == repr(two_layer(torch))
    for ours, theirs in [
        (nn.LSTM(3, 4, 2, dropout=0.5), torch.nn.LSTM(3, 4, 2, dropout=0.5)),
        (nn.GRU(3, 4, batch_first=True, bidirectional=True), torch.nn.GRU(3, 4, batch_first=True, bidirectional=True)),
        (nn.Dropout(0.2), torch.nn.Dropout(0.2)),
        (nn.Sequential(nn.Linear(2, 3, bias=False), nn.Tanh(), nn.Sigmoid(), nn.LogSoftmax(dim=-1)),
         torch.nn.Sequential(torch.nn.Linear(2, 3, bias=False), torch.nn.Tanh(), torch.nn.Sigmoid(),
                             torch.nn.LogSoftmax(dim=-1))),
        (nn.ReLU(inplace=True), torch.nn.ReLU(inplace=True)),
        (nn.MSELoss(), torch.nn.MSELoss()),
    ]:
        assert repr(ours) == repr(theirs)


def test_modules_pickle_with_their_weights_and_gradients():
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0)
    x = tg.randn(3, 2, 4)
    layer(x).sum().backward()
    copy = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(copy(x).data, layer(x).data)
    np.testing.assert_array_equal(copy.linear1.weight.grad.data, layer.linear1.weight.grad.data)
    lm = pickle.loads(pickle.dumps(nn.Sequential(nn.Embedding(5, 3), nn.LSTM(3, 3))))
    assert isinstance(lm[1], nn.LSTM)


def test_assigning_a_tensor_to_a_buffer_keeps_it_a_buffer_and_non_persistent_buffers_stay_out():
    m = nn.Module()
    m.register_buffer("pe", tg.zeros(3))
    m.register_buffer("cache", tg.zeros(2), persistent=False)
    m.pe = tg.ones(3)
    assert list(m.state_dict()) == ["pe"] and m.state_dict()["pe"].tolist() == [1.0, 1.0, 1.0]
    assert [n for n, _ in m.named_buffers()] == ["pe", "cache"]


# --------------------------------------------------------------------------- state dicts, to and from PyTorch


class TiedLM:
    """The same tied-weight LM class for either library."""

    @staticmethod
    def build(lib):
        class LM(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = lib.nn.Embedding(6, 4)
                self.rnn = lib.nn.GRU(4, 4)
                self.decoder = lib.nn.Linear(4, 6)
                self.decoder.weight = self.encoder.weight

            def forward(self, x):
                return self.decoder(self.rnn(self.encoder(x))[0])

        return LM()


def test_tied_weights_have_both_keys_in_pytorchs_order_and_load_strictly(both64):
    ours, theirs = TiedLM.build(tg), TiedLM.build(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "decoder.weight" in ours.state_dict() and len(list(ours.parameters())) == len(list(theirs.parameters()))
    ours.load_state_dict(theirs.state_dict())  # strict: both keys are expected
    assert ours.decoder.weight is ours.encoder.weight
    x = np.array([[1, 2], [3, 0], [5, 4]])
    np.testing.assert_allclose(ours(tg.tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), atol=1e-14)


def test_state_dict_converts_to_pytorch_and_back_in_one_call(both64):
    ours, theirs = TiedLM.build(tg), TiedLM.build(torch)
    sd = nn.to_torch_state_dict(ours.state_dict())
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.float64 for v in sd.values())
    theirs.load_state_dict(sd)  # strict
    x = np.array([[1, 2, 5]])
    np.testing.assert_allclose(ours(tg.tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), atol=1e-14)
    back = nn.from_torch_state_dict(theirs.state_dict())
    assert list(back) == list(sd) and all(type(v) is np.ndarray for v in back.values())
    for k in back:
        np.testing.assert_array_equal(back[k], ours.state_dict()[k])


# --------------------------------------------------------------------------- tg.save / tg.load


def test_save_and_load_a_state_dict_without_pickle(tmp_path):
    model, other = TiedLM.build(tg), TiedLM.build(tg)
    opt = optim.Adam(model.parameters(), lr=0.01)
    model(np.array([[1, 2]])).sum().backward()
    opt.step()
    tg.save(model.state_dict(), tmp_path / "model.npz")
    tg.save(opt.state_dict(), tmp_path / "opt.npz")
    other.load_state_dict(tg.load(tmp_path / "model.npz", map_location="cpu"))
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    again = optim.Adam(other.parameters(), lr=0.01)
    again.load_state_dict(tg.load(tmp_path / "opt.npz"))
    assert again.state_dict()["state"][0]["step"] == 1
    with np.load(tmp_path / "model.npz", allow_pickle=False) as z:  # plain arrays: opens without pickle
        assert len(z.files) > 1
    tg.save({"w": tg.ones(2), "step": 3}, tmp_path / "misc.npz")
    assert tg.load(tmp_path / "misc.npz")["step"] == 3


def test_saving_a_whole_module_is_refused_with_the_way_to_do_it(tmp_path):
    with pytest.raises(TypeError, match=r"state dict: tg.save\(model.state_dict\(\), path\)"):
        tg.save(nn.Linear(2, 2), tmp_path / "m.npz")
    assert not os.path.exists(tmp_path / "m.npz")


# --------------------------------------------------------------------------- the data path with torch's DataLoader


def test_torch_dataloader_batches_convert_with_tg_tensor(both64):
    """torch's collate knows numpy arrays, not our tensors: a Dataset yields arrays, tg.tensor(batch) converts."""
    from torch.utils.data import DataLoader, Dataset

    xs = np.random.default_rng(0).standard_normal((10, 3))
    ys = np.arange(10) % 2

    class Pairs(Dataset):
        def __len__(self):
            return len(xs)

        def __getitem__(self, i):
            return xs[i], ys[i]

    seen = 0
    for xb, yb in DataLoader(Pairs(), batch_size=4):
        x, y = tg.tensor(xb), tg.tensor(yb)
        assert x.dtype == np.float64 and y.dtype == np.int64  # dtypes kept
        np.testing.assert_array_equal(x.data, xs[seen:seen + len(x)])
        seen += len(x)
    assert seen == 10


# --------------------------------------------------------------------------- nn.init, PyTorch's in-place forms


def test_inplace_initialisers_fill_the_tensor_and_return_it():
    tg.manual_seed(0)
    w = nn.Parameter(np.zeros((300, 200)))
    version = w._version
    assert nn.init.uniform_(w, -0.3, 0.2) is w and w._version > version
    assert w.data.min() >= -0.3 and w.data.max() < 0.2 and w.data.mean() == pytest.approx(-0.05, abs=0.01)
    nn.init.normal_(w, mean=1.0, std=0.5)
    assert w.data.mean() == pytest.approx(1.0, abs=0.01) and w.data.std() == pytest.approx(0.5, rel=0.02)
    assert (nn.init.zeros_(w).data == 0).all() and (nn.init.ones_(w).data == 1).all()
    assert (nn.init.constant_(w, 0.25).data == 0.25).all()
    assert w.requires_grad and w.is_leaf


@pytest.mark.parametrize("fn,expected_std", [
    ("xavier_uniform_", np.sqrt(2 / (200 + 300))),
    ("xavier_normal_", np.sqrt(2 / (200 + 300))),
    ("kaiming_uniform_", np.sqrt(2) / np.sqrt(200)),  # leaky_relu with a=0: ReLU's gain √2, as in PyTorch
    ("kaiming_normal_", np.sqrt(2) / np.sqrt(200)),
])
def test_variance_scaling_initialisers_have_the_papers_std(fn, expected_std):
    tg.manual_seed(1)
    w = tg.zeros(300, 200)  # fan_in 200, fan_out 300
    getattr(nn.init, fn)(w)
    assert w.data.std() == pytest.approx(expected_std, rel=0.03)
    assert abs(w.data.mean()) < 0.1 * expected_std
    if "uniform" in fn:
        assert np.abs(w.data).max() <= np.sqrt(3) * expected_std * (1 + 1e-5)  # (float32)


def test_kaiming_gain_and_mode_follow_torch():
    tg.manual_seed(2)
    w = tg.zeros(400, 100)
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert w.data.std() == pytest.approx(np.sqrt(2) / np.sqrt(400), rel=0.03)
    for name in ("linear", "sigmoid", "tanh", "relu", "selu"):
        assert nn.init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    for slope in (None, 0, 0.2):
        assert nn.init.calculate_gain("leaky_relu", slope) == pytest.approx(
            torch.nn.init.calculate_gain("leaky_relu", slope))
    with pytest.raises(ValueError, match="at least 2 dims"):
        nn.init.xavier_uniform_(tg.zeros(3))


@pytest.mark.parametrize("shape", [(5, 5), (3, 7), (7, 3), (4, 2, 3)])
def test_orthogonal_init_has_orthonormal_rows_or_columns(shape):
    tg.manual_seed(3)
    w = nn.init.orthogonal_(tg.zeros(*shape), gain=2.0)
    q = w.data.reshape(shape[0], -1).astype(np.float64) / 2.0
    small = q @ q.T if q.shape[0] <= q.shape[1] else q.T @ q
    np.testing.assert_allclose(small, np.eye(len(small)), atol=1e-5)


def test_init_functions_need_a_tensor():
    with pytest.raises(TypeError, match="fills a Tensor"):
        nn.init.uniform_((3, 4), 0, 1)


def test_the_array_returning_initialisers_still_work():
    assert nn.init.uniform((3, 4), 16).shape == (3, 4) and np.abs(nn.init.uniform((3, 4), 16)).max() <= 0.25
    q = nn.init.orthogonal(4).astype(np.float64)
    np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-5)


# --------------------------------------------------------------------------- Tensor details PyTorch code relies on


def test_repr_shows_grad_fn_in_pytorchs_form_next_to_op_and_scope():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with tg.scope("RNN"), tg.scope("t=3"):
        y = x * 2
    assert repr(y) == "tensor([2., 4.], grad_fn=<MulBackward>, op='mul', scope='RNN/t=3')"
    assert repr(y.grad_fn) == "<MulBackward>" and y.grad_fn.name() == "MulBackward"
    assert torch.tensor([1.0], requires_grad=True).mul(2).grad_fn.name().startswith(y.grad_fn.name())
    assert "requires_grad=True" in repr(x)


def test_unsqueeze_and_squeeze_in_place(both64):
    t = tg.tensor([1, 2, 3])
    assert t.unsqueeze_(-1) is t and t.shape == (3, 1) and t.squeeze_().shape == (3,)
    x, tx = pair((2, 3))
    y, ty = x * 1, tx * 1
    y.unsqueeze_(0)
    ty.unsqueeze_(0)
    assert y.shape == tuple(ty.shape)
    g = upstream(y.shape)
    (y.exp() * tg.tensor(g)).sum().backward()
    (ty.exp() * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), atol=1e-14)
    with pytest.raises(RuntimeError, match="leaf that requires grad"):
        x.unsqueeze_(0)


def test_legacy_tensor_constructor_makes_floats_and_tensor_infers():
    assert tg.Tensor([0]).dtype == tg.get_default_dtype() and torch.Tensor([0]).dtype == torch.get_default_dtype()
    assert tg.tensor([0, 1]).dtype == np.int64 and tg.tensor([True]).dtype == np.bool_
    assert tg.tensor([0.5]).dtype == tg.get_default_dtype()
    assert tg.tensor(torch.zeros(2, dtype=torch.float64)).dtype == np.float64  # a torch tensor keeps its dtype
    with pytest.raises(TypeError, match="tg.empty"):
        tg.Tensor(2, 3)


def test_data_runs_tensor_methods_numpy_lacks():
    out = tg.tensor([[0.1, 0.7, 0.2]], requires_grad=True) * 1
    topv, topi = out.data.topk(1)
    assert topi.item() == 1 and topv.item() == pytest.approx(0.7) and not topv.requires_grad
    assert out.data.view(-1).shape == (3,) and out.data.view(3, 1).shape == (3, 1)
    assert out.data.view(np.int32).dtype == np.int32  # numpy's view(dtype) is kept
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        out.data.nonsense  # noqa: B018
    d = out.data
    d.unsqueeze(0).mul_(0)  # an in-place op through .data reaches the values and is counted
    assert (out.data == 0).all() and out._version > 0


def test_index_add_in_place_works_on_a_fresh_buffer_and_is_refused_once_the_buffer_is_in_the_graph():
    v = tg.ones(2, requires_grad=True)
    fresh = tg.zeros(3, 2)
    fresh[0] += v  # fresh does not require grad: x[0] reads nothing of the graph
    fresh.sum().backward()
    assert v.grad.tolist() == [1.0, 1.0]
    used = tg.zeros(3, 2)
    used[1] = v * 2  # now in the graph; used[0] += ... reads used[0] first (see the README table)
    with pytest.raises(RuntimeError, match="already used its old value"):
        used[0] += v
