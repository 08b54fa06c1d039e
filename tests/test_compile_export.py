"""torch.compile(fullgraph=True), torch.export and torch.jit.trace of models that use every dropout
module."""

import warnings

import pytest
import torch
import torch._dynamo.testing
from torch import nn

import torch_ext


class Net(nn.Module):
    """A small convolutional net with each of our dropout modules."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.drop2d = torch_ext.MyDropout2d(0.3)
        self.drop3d = torch_ext.MyDropout3d(0.3)
        self.drop1d = torch_ext.MyDropout1d(0.3)
        self.drop = torch_ext.MyDropout(0.5)
        self.fc = nn.Linear(8 * 16, 4)

    def forward(self, x):
        h = self.drop2d(torch.relu(self.conv(x)))  # (N, 8, 4, 4)
        h = self.drop3d(h.unsqueeze(2)).squeeze(2)
        h = self.drop1d(h.flatten(2))  # (N, 8, 16)
        return self.fc(self.drop(h.flatten(1)))


def run(model, x, seed):
    """Output and parameter gradients, the default generator seeded first."""
    torch.manual_seed(seed)
    y = model(x)
    return [y, *torch.autograd.grad(y.sum(), list(model.parameters()))]


def test_compile_fullgraph_with_the_default_generator_equals_eager():
    torch._dynamo.reset()
    torch.manual_seed(0)
    net, x = Net(), torch.randn(6, 3, 4, 4)
    compiled = torch.compile(net, fullgraph=True)
    # Inductor may fuse the convolution and linear differently, hence allclose; another mask
    # would be far off.
    for a, b in zip(run(compiled, x, 7), run(net, x, 7)):
        torch.testing.assert_close(a, b)
    assert not torch.equal(run(compiled, x, 7)[0], run(compiled, x, 8)[0])


def test_compile_fullgraph_seeded_equals_eager():
    torch._dynamo.reset()

    def f(x):
        h = torch_ext.mydropout2d(x * 2, 0.3, seed=2**64 - 1, offset=3, first_index=4)
        h = torch_ext.mydropout1d(h.flatten(2), 0.4, seed=5)
        return torch_ext.mydropout3d(h.unsqueeze(-1), 0.2, seed=6, offset=1)

    x = torch.randn(4, 6, 5, 3, requires_grad=True)
    eager = f(x)
    compiled = torch.compile(f, fullgraph=True)(x)
    assert torch.equal(eager, compiled)
    grad = torch.randn(eager.shape)
    assert torch.equal(torch.autograd.grad(eager, x, grad)[0],
                       torch.autograd.grad(compiled, x, grad)[0])


@pytest.mark.parametrize("call, graphs", [
    (lambda x, seed: torch_ext.mydropout(x, 0.5), 1),
    (lambda x, seed: torch_ext.mydropout(x, 0.5, seed=seed, offset=1), 2),
    (lambda x, seed: torch_ext.mydropout2d(x.view(1, 2, 2, 2), 0.5, seed=seed), 2),
], ids=["drawn", "seeded", "seeded-channels"])
def test_compiled_graph_of_a_cuda_input_holds_no_cpu_tensor(call, graphs):
    # Inductor keeps no CUDA graph (mode="reduce-overhead") for a graph with a CPU node in the
    # devices that its lowering records (check_multiple_devices_or_any_cpu_nodes). That lowering
    # runs here on fake CUDA tensors, so no GPU is needed; without grad, since the autograd
    # engine wants a real GPU (the backward takes its state from the forward), and out of place
    # (in place needs Inductor's passes before lowering; it makes its state the same way). A
    # second seed recompiles the seeded calls with a symbolic one.
    from torch._dynamo.backends.common import aot_autograd
    from torch._guards import detect_fake_mode
    from torch._inductor.decomposition import select_decomp_table
    from torch._inductor.graph import GraphLowering
    from torch._inductor.virtualized import V
    from torch._subclasses.fake_tensor import FakeTensorMode

    devices = []

    def lower(gm, example_inputs):
        with V.set_fake_mode(detect_fake_mode(example_inputs)):
            graph = GraphLowering(gm, example_inputs=example_inputs)
            with V.set_graph_handler(graph):
                graph.run(*example_inputs)
        devices.append({device.type for device in graph.device_node_mapping})
        return gm

    torch._dynamo.reset()
    backend = aot_autograd(fw_compiler=lower, decompositions=select_decomp_table())
    f = torch.compile(call, backend=backend, fullgraph=True)
    with FakeTensorMode(allow_non_fake_inputs=True):
        x = torch.empty(8, device="cuda")
        f(x, 3)
        f(x, 4)
    assert devices == [{"cuda"}] * graphs


@pytest.mark.parametrize("strict", [True, False])
def test_export_of_a_cuda_input_ties_no_device_to_a_seeded_state(strict):
    # An exported program runs on another device than the one it was exported on.
    from torch._subclasses.fake_tensor import FakeTensorMode

    class Seeded(nn.Module):
        def forward(self, x):
            return torch_ext.mydropout(x, 0.5, seed=3, offset=1)

    with FakeTensorMode(allow_non_fake_inputs=True):
        ep = torch.export.export(Seeded(), (torch.empty(8, device="cuda"),), strict=strict)
    x = torch.rand(8) + 1
    assert torch.equal(ep.module()(x), Seeded()(x))


def test_a_changing_first_index_compiles_once_more_not_once_per_value():
    # Dynamo makes an int that changes dynamic at its first recompile; the schema's SymInt keeps
    # it so through the ops, their fake kernels and the backward.
    torch._dynamo.reset()
    counter = torch._dynamo.testing.CompileCounterWithBackend("inductor")

    def f(x, i):
        h = torch_ext.mydropout(x * 2, 0.5, seed=3, first_index=i)
        h = torch_ext.mydropout1d(h, 0.5, seed=4, first_index=i)
        return torch_ext.mydropout(h, 0.5, inplace=True, seed=5, first_index=i)

    compiled = torch.compile(f, backend=counter, fullgraph=True)
    x = torch.randn(4, 6, 5, requires_grad=True)
    grad = torch.randn(x.shape)
    for i in (0, 12, 24, 2**40 + 7, 2**62):
        eager, ours = f(x, i), compiled(x, i)
        assert torch.equal(eager, ours)
        assert torch.equal(torch.autograd.grad(eager, x, grad)[0],
                           torch.autograd.grad(ours, x, grad)[0])
    assert counter.frame_count == 2
    # The symbolic first_index is still checked against the input's size, with the op's message.
    with pytest.raises(RuntimeError,
                       match=r"\[0, 2\*\*63 - 120\), 120 being .* but got 9223372036854775798"):
        compiled(x, 2**63 - 10)


@pytest.fixture
def fake_cuda_input(monkeypatch):
    """A CUDA input where there is no GPU (a fake tensor), no CUDA graph being captured."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    monkeypatch.setattr(torch_ext.state, "_capturing", lambda input: False)
    with FakeTensorMode(allow_non_fake_inputs=True):
        return torch.empty(8, device="cuda")


@pytest.mark.parametrize("mode", ["real", "fake"])
@pytest.mark.parametrize("pre_dispatch", [False, True])
def test_make_fx_records_a_drawn_cuda_state_made_on_the_device(fake_cuda_input, mode,
                                                                pre_dispatch):
    # What make_fx records may be replayed under CUDA graph capture, which refuses a CPU state.
    from torch.fx.experimental.proxy_tensor import make_fx

    gm = make_fx(lambda x: torch_ext.mydropout(x, 0.5), tracing_mode=mode,
                 pre_dispatch=pre_dispatch)(fake_cuda_input)
    draws = [node.args for node in gm.graph.nodes
             if node.target is torch.ops.torch_ext.philox_state.default]
    assert len(draws) == 1 and draws[0][2:] in ((), (False,))


def test_a_mode_that_records_nothing_keeps_the_drawn_cuda_state_on_the_cpu(fake_cuda_input):
    # Eager draws to the CPU, and so must a call under a mode that only watches (a checkpoint
    # recomputes outside it and compares the saved tensors' devices).
    from torch.utils._python_dispatch import TorchDispatchMode

    class Watch(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    assert torch_ext.state._draw_to_cpu(fake_cuda_input)
    with Watch():
        assert torch_ext.state._draw_to_cpu(fake_cuda_input)
    assert not torch_ext.state._draw_to_cpu(torch.empty(8))


def test_seeded_calls_under_fake_tensors_and_make_fx():
    # Tracing that is not torch.compile's: the seeded state must be made as the mode's tensor.
    from functorch.compile import nop
    from torch._functorch.aot_autograd import aot_function
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.proxy_tensor import make_fx

    def f(x):
        return torch_ext.mydropout(x, 0.5, seed=3)

    x = torch.rand(64) + 1
    for mode in ("fake", "symbolic"):
        assert torch.equal(make_fx(f, tracing_mode=mode)(x)(x), f(x))
    xg = x.clone().requires_grad_()
    assert torch.equal(aot_function(f, fw_compiler=nop)(xg), f(x))
    with FakeTensorMode():
        assert f(torch.empty(64)).shape == (64,)


def test_a_changing_sequence_length_compiles_once_more_not_once_per_length():
    # The backward's saved strides stay symbolic: as ints they pinned the length in each graph.
    torch._dynamo.reset()
    counter = torch._dynamo.testing.CompileCounterWithBackend("aot_eager")
    model = nn.Sequential(nn.Linear(8, 8), torch_ext.MyDropout(0.5), torch_ext.MyDropout1d(0.5))
    compiled = torch.compile(model, backend=counter, fullgraph=True)
    for length in (3, 5, 7, 9, 11):
        x = torch.randn(2, length, 8, requires_grad=True)
        outs = []
        for f in (model, compiled):
            torch.manual_seed(length)
            y = f(x)
            outs.append((y, torch.autograd.grad(y.sum(), x)[0]))
        assert all(torch.equal(a, b) for a, b in zip(*outs))
    assert counter.frame_count == 2


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("dropout", [torch_ext.mydropout, torch_ext.mydropout_channels])
def test_compile_of_a_size_that_depends_on_data(dropout, inplace):
    # x[x > 0] has a size no guard may test: the op runs, empty or not.
    torch._dynamo.reset()

    def f(x):
        return dropout(x[x > 0].unsqueeze(0), 0.5, inplace=inplace, seed=3)

    compiled = torch.compile(f, fullgraph=True)
    with torch._dynamo.config.patch(capture_dynamic_output_shape_ops=True):
        for x in (torch.randn(50), -torch.rand(50)):
            assert torch.equal(compiled(x), f(x))


@pytest.mark.filterwarnings("ignore:dropout2d")
@pytest.mark.parametrize("shape", [(6, 5), (2, 6, 5)])
def test_compile_of_channel_dropout_on_an_input_torch_warns_about(shape):
    # Eager warns, as F.dropout2d does; a compiled call does not, rather than break the graph.
    torch._dynamo.reset()
    x = torch.randn(shape)
    f = lambda x: torch_ext.mydropout2d(x, 0.5, seed=4)  # noqa: E731
    assert torch.equal(torch.compile(f, fullgraph=True)(x), f(x))


@pytest.mark.parametrize("dropout", [torch_ext.mydropout, torch_ext.mydropout_channels])
def test_compile_of_in_place_dropout_with_symbolic_strides(dropout):
    torch._dynamo.reset()
    f = torch.compile(lambda x: dropout(x, 0.5, inplace=True, seed=1), fullgraph=True,
                      dynamic=True)
    for shape in ((4, 6, 5), (3, 7, 9)):
        x, expected = torch.randn(shape).transpose(0, 1), torch.randn(shape).transpose(0, 1)
        expected.copy_(x)
        dropout(expected, 0.5, inplace=True, seed=1)
        f(x)
        assert torch.equal(x, expected)
    for overlapping in (torch.randn(10).unfold(0, 3, 1),
                        torch.randn(10).as_strided((4, 4), (1, 1))):
        with pytest.raises(Exception, match="may share memory"):
            f(overlapping)


IN_PLACE = [torch_ext.mydropout, torch_ext.mydropout_channels]


# Under torch.compile the in-place forms are the out-of-place op and copy_
# (torch_ext/functional.py's run); in torch 2.14.1, Inductor misread these
# elements for a custom in-place op.
@pytest.mark.parametrize("dropout", IN_PLACE)
@pytest.mark.parametrize("product", [lambda v: v * 1.0, lambda v: v / 1.0, lambda v: v + 0,
                                     lambda v: v * 1], ids=["*1.0", "/1.0", "+0", "*1"])
@pytest.mark.parametrize("view", [lambda t: t[:, 1:6], lambda t: t[:, :5],
                                  lambda t: t.view(4, 5)[1:]], ids=["offset", "sliced", "rows"])
def test_compile_in_place_on_a_product_by_one_of_a_view(dropout, product, view):
    torch._dynamo.reset()
    f = lambda x: dropout(product(x), 0.5, inplace=True, seed=7)  # noqa: E731
    x = view(torch.arange(1.0, 21.0).view(2, 10))
    assert torch.equal(torch.compile(f, fullgraph=True)(x), f(x))


@pytest.mark.parametrize("dropout", IN_PLACE)
@pytest.mark.parametrize("view", [lambda t: t, lambda t: t[:, 1:]], ids=["whole", "view"])
def test_compile_in_place_on_an_input_that_requires_grad_gives_its_gradient(dropout, view):
    # A write into a graph input: the compiled function's gradient must carry the mask, as
    # eager's does.
    def grad(compiled):
        torch._dynamo.reset()
        x = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
        h = x * 1
        f = lambda t: dropout(view(t), 0.5, inplace=True, seed=1)  # noqa: E731
        (torch.compile(f, fullgraph=True) if compiled else f)(h)
        return torch.autograd.grad(h, x, torch.arange(24.0).view(2, 4, 3))[0]

    assert torch.equal(grad(compiled=True), grad(compiled=False))


class ShardOfRows(nn.Module):
    """The second of two equal shards of rows: its first_index, the first shard's numel, comes
    from the dynamic batch size."""

    def forward(self, x):
        return torch_ext.mydropout(x, 0.5, seed=1, first_index=x.shape[0] * 6)


@pytest.mark.parametrize("strict", [False, True])
def test_export_with_first_index_from_a_dynamic_size(strict):
    # Bounded: strict export guards that an int argument made from the size fits int64, which
    # 6 times an unbounded size need not (unbounded sizes: the test below).
    batch = torch.export.Dim("batch", max=2**40)
    program = torch.export.export(ShardOfRows(), (torch.randn(4, 6),),
                                  dynamic_shapes={"x": {0: batch}}, strict=strict)
    for rows in (4, 9):
        x = torch.randn(rows, 6)
        assert torch.equal(program.module()(x), ShardOfRows()(x))


class TrainingFromASize(nn.Module):
    def forward(self, x):
        return torch_ext.mydropout(x, 0.5, self.training and x.shape[0] > 1, seed=1)


def test_export_with_a_training_flag_from_a_dynamic_size():
    # The flag is a SymBool while exporting, which the functional takes as a bool (true over
    # the dimension's range, from 2 on).
    program = torch.export.export(TrainingFromASize(), (torch.randn(6, 2),),
                                  dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    for rows in (2, 5, 9):
        x = torch.randn(rows, 2)
        assert torch.equal(program.module()(x), TrainingFromASize()(x))


@pytest.mark.parametrize("training", [False, True])
def test_export_runs_and_equals_eager(training):
    torch.manual_seed(0)
    net, x = Net().train(training), torch.randn(6, 3, 4, 4)
    program = torch.export.export(net, (x,))
    ops = {node.target for node in program.graph.nodes}
    assert (torch.ops.torch_ext.philox_state.default in ops) == training
    exported = program.module()
    for a, b in zip(run(exported, x, 3), run(net, x, 3)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("strict", [False, True])
def test_export_with_every_dimension_dynamic(strict):
    model = nn.Sequential(nn.Linear(8, 8), torch_ext.MyDropout(0.5), torch_ext.MyDropout1d(0.5))
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("length")}
    program = torch.export.export(model, (torch.randn(4, 6, 8),), dynamic_shapes={"input": dims},
                                  strict=strict)
    for shape in ((4, 6, 8), (9, 2, 8)):
        x = torch.randn(shape)
        for a, b in zip(run(program.module(), x, 5), run(model, x, 5)):
            assert torch.equal(a, b)


def test_jit_trace_draws_as_eager():
    # The trace records philox_state, so each run draws anew (check_trace would call that
    # nondeterminism an error); torch.jit.script is not supported (README).
    torch.manual_seed(0)
    net, x = Net().train(), torch.randn(6, 3, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated
        traced = torch.jit.trace(net, x, check_trace=False)
    for a, b in zip(run(traced, x, 3), run(net, x, 3)):
        assert torch.equal(a, b)


def test_jit_trace_takes_a_first_index_made_from_a_size():
    # Under torch.jit.trace a size is a 0-dim tensor; the trace keeps the traced value, with
    # torch's TracerWarning, as it does wherever a size is made an int.
    def shard(x):
        return torch_ext.mydropout1d(x, 0.5, seed=1, first_index=3 * x.size(0))

    x = torch.randn(4, 5, 6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced = torch.jit.trace(shard, x)
    assert any(issubclass(w.category, torch.jit.TracerWarning) for w in caught)
    assert torch.equal(traced(x), torch_ext.mydropout1d(x, 0.5, seed=1, first_index=12))
