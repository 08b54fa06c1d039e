"""MyDropout as a drop-in replacement for nn.Dropout."""

import copy
import pickle

import pytest
import torch
from torch import nn

import torch_ext
from torch_ext import MyDropout, MyDropout2d


def make_model(dropout):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), dropout(0.5), nn.Linear(32, 4))


def test_in_sequential_train_and_eval():
    model = make_model(MyDropout)
    x = torch.randn(64, 16)
    model.train()
    y1, y2 = model(x), model(x)
    assert not torch.equal(y1, y2)
    y1.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    assert torch.equal(model(x), make_model(nn.Dropout).eval()(x))


def test_state_dict_unchanged_by_the_swap():
    ours, theirs = make_model(MyDropout), make_model(nn.Dropout)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    assert list(MyDropout().parameters()) == [] and list(MyDropout().buffers()) == []
    ours.load_state_dict(theirs.state_dict())


def test_repr_and_constructor():
    assert repr(MyDropout()) == "MyDropout(p=0.5, inplace=False)"
    assert repr(MyDropout(0.2, True)) == "MyDropout(p=0.2, inplace=True)"
    assert repr(MyDropout(p=0.1, inplace=False)) == "MyDropout(p=0.1, inplace=False)"
    assert isinstance(MyDropout(), nn.Dropout)
    # p as given, as nn.Dropout keeps it: an int, or a 0-dim tensor
    for p in (1, 0, torch.tensor(0.25)):
        assert repr(MyDropout(p))[2:] == repr(nn.Dropout(p))
        assert repr(MyDropout2d(p))[2:] == repr(nn.Dropout2d(p))
    x = torch.randn(64)
    torch.manual_seed(5)
    by_tensor = MyDropout(torch.tensor(0.25))(x)
    torch.manual_seed(5)
    assert torch.equal(by_tensor, torch_ext.mydropout(x, 0.25))
    assert torch.equal(torch_ext.mydropout(x, torch.tensor(0.25), seed=3),
                       torch_ext.mydropout(x, 0.25, seed=3))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_bad_p_same_error_as_nn_dropout(p):
    with pytest.raises(ValueError) as ours:
        MyDropout(p)
    assert str(ours.value) == f"dropout probability has to be between 0 and 1, but got {p}"
    if p == p:  # nn.Dropout lets NaN through; for the others the texts must match
        with pytest.raises(ValueError) as theirs:
            nn.Dropout(p)
        assert str(ours.value) == str(theirs.value)


def test_deepcopy_and_pickle():
    model = make_model(MyDropout)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert repr(clone) == repr(model)
        clone.eval()
        x = torch.randn(3, 16)
        assert torch.equal(clone(x), model.eval()(x))


def test_inplace_module():
    # The module in place gives the functional's bits, in x itself.
    x = torch.randn(100)
    torch.manual_seed(5)
    expected = torch_ext.mydropout(x, 0.5)
    torch.manual_seed(5)
    assert MyDropout(0.5, inplace=True)(x) is x
    assert torch.equal(x, expected) and (x == 0).any()


def test_module_follows_functional_and_global_seed():
    x = torch.randn(1000)
    torch.manual_seed(3)
    a = MyDropout(0.3)(x)
    torch.manual_seed(3)
    b = torch_ext.mydropout(x, 0.3)
    assert torch.equal(a, b)
