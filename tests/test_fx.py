"""torch.fx's symbolic tracing: each of our modules is one node, as nn.Dropout is, and each
functional one call, as F.dropout is (torch_ext/fx.py)."""

import io
import pickle

import torch
from torch import nn

import torch_ext

DROPOUTS = (torch_ext.MyDropout, torch_ext.MyDropout1d, torch_ext.MyDropout2d,
            torch_ext.MyDropout3d)


def net():
    return nn.Sequential(nn.Linear(4, 16), torch_ext.MyDropout(0.5), nn.Unflatten(1, (4, 4)),
                         torch_ext.MyDropout1d(0.5), nn.Unflatten(2, (2, 2)),
                         torch_ext.MyDropout2d(0.5), torch_ext.MyDropout3d(0.5))


def test_modules_read_the_training_flag_when_the_graph_runs():
    model = net()
    graph_module = torch.fx.symbolic_trace(model)
    fetched = {node.target for node in graph_module.graph.nodes if node.op == "get_attr"}
    assert fetched == {name for name, m in model.named_children() if isinstance(m, DROPOUTS)}
    x = torch.rand(8, 4) + 1
    for training in (True, False):
        model.train(training)
        graph_module.train(training)
        torch.manual_seed(0)
        expected = model(x)
        torch.manual_seed(0)
        assert torch.equal(graph_module(x), expected)


class Doubled(torch_ext.MyDropout):
    def forward(self, input):
        return super().forward(input) * 2


def test_hooks_and_subclass_code_run_once():
    # FX traces them around forward; the graph's call of the module's forward must not run
    # them again, as the module's own call would.
    hooked = torch_ext.MyDropout1d(0.0)
    hooked.register_forward_pre_hook(lambda module, args: (args[0] + 1,))
    hooked.register_forward_hook(lambda module, args, out: out * 3)
    model = nn.Sequential(nn.Identity(), Doubled(0.0), nn.Unflatten(1, (2, 2)), hooked)
    x = torch.ones(3, 4)
    assert torch.equal(torch.fx.symbolic_trace(model)(x), model(x))


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


def test_a_traced_graph_pickles_and_saves():
    # Its code imports each call's target by name: a module-level function, not a method.
    model = nn.Sequential(net(), nn.Flatten(1), nn.Unflatten(1, (1, 4, 4)), Functionals())
    graph_module = torch.fx.symbolic_trace(model)
    x = torch.rand(8, 4) + 1
    buffer = io.BytesIO()
    torch.save(graph_module, buffer)
    buffer.seek(0)
    for copy in (pickle.loads(pickle.dumps(graph_module)), torch.load(buffer, weights_only=False)):
        torch.manual_seed(0)
        expected = graph_module(x)
        torch.manual_seed(0)
        assert torch.equal(copy(x), expected)
