"""torch.fx's symbolic tracing: each of our modules is one node, as nn.Dropout is, and each
functional one call, as F.dropout is (torch_ext/fx.py)."""

import torch
from torch import nn

import torch_ext

DROPOUTS = (torch_ext.MyDropout, torch_ext.MyDropout1d, torch_ext.MyDropout2d,
            torch_ext.MyDropout3d)


def net():
    return nn.Sequential(nn.Linear(4, 16), torch_ext.MyDropout(0.5), nn.Unflatten(1, (4, 4)),
                         torch_ext.MyDropout1d(0.5), nn.Unflatten(2, (2, 2)),
                         torch_ext.MyDropout2d(0.5), torch_ext.MyDropout3d(0.5))


def test_modules_are_one_node_each_and_read_the_training_flag_when_run():
    model = net()
    graph_module = torch.fx.symbolic_trace(model)
    called = {node.target for node in graph_module.graph.nodes if node.op == "call_module"}
    assert {name for name, m in model.named_children() if isinstance(m, DROPOUTS)} <= called
    x = torch.rand(8, 4) + 1
    for training in (True, False):
        model.train(training)
        graph_module.train(training)
        torch.manual_seed(0)
        expected = model(x)
        torch.manual_seed(0)
        assert torch.equal(graph_module(x), expected)


class Functionals(nn.Module):
    def forward(self, x):
        h = torch_ext.mydropout(x, 0.5, seed=1)
        h = torch_ext.mydropout_channels(h, 0.5, seed=2)
        h = torch_ext.mydropout1d(h.flatten(2), 0.5, seed=3).unflatten(2, (4, 4))
        h = torch_ext.mydropout2d(h, 0.5, seed=4)
        return torch_ext.mydropout3d(h.unsqueeze(2), 0.5, seed=5)


def test_functionals_are_one_call_each():
    graph_module = torch.fx.symbolic_trace(Functionals())
    called = {node.target for node in graph_module.graph.nodes if node.op == "call_function"}
    assert {torch_ext.mydropout, torch_ext.mydropout_channels, torch_ext.mydropout1d,
            torch_ext.mydropout2d, torch_ext.mydropout3d} <= called
    x = torch.rand(2, 3, 4, 4) + 1
    assert torch.equal(graph_module(x), Functionals()(x))


def test_a_module_traced_alone_is_traced_through():
    # FX traces the root's forward, as it does nn.Dropout's: the functional's call, its training
    # flag as it was when traced.
    module = torch_ext.MyDropout(0.5)
    graph_module = torch.fx.symbolic_trace(module)
    targets = [node.target for node in graph_module.graph.nodes if node.op == "call_function"]
    assert targets == [torch_ext.mydropout]
    x = torch.rand(64) + 1
    torch.manual_seed(0)
    expected = module(x)
    torch.manual_seed(0)
    assert torch.equal(graph_module(x), expected)
