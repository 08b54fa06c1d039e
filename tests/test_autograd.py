"""Autograd, opcheck and torch.compile: the backward recomputes the mask and keeps no tensor."""

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.checkpoint import checkpoint

import torch_ext
from conftest import saved_tensors
from reference import apply_mask, assert_same_bits, keep_mask


# Each in-place form: (the functional, the out-of-place op, the in-place op).
INPLACE = {
    "elementwise": (torch_ext.mydropout, torch.ops.torch_ext.mydropout,
                    torch.ops.torch_ext.mydropout_),
    "channels": (torch_ext.mydropout_channels, torch.ops.torch_ext.mydropout_channels,
                 torch.ops.torch_ext.mydropout_channels_),
}
each_inplace = pytest.mark.parametrize("kind", list(INPLACE))


def test_gradient_is_mask_times_scale(device):
    # The mask from the reference, not from the forward, so a forward and backward that agree
    # on a wrong mask fail too.
    x = torch.randn(3000, device=device, requires_grad=True)
    y = torch_ext.mydropout(x, 0.25, seed=21, offset=8)
    y.backward(torch.ones_like(y))
    keep = keep_mask(x, 0.25, 21, 8).to(device)
    assert torch.equal(x.grad, keep.float() * torch.tensor(1 / 0.75, dtype=torch.float32))


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_gradcheck_and_gradgradcheck(device, p, transposed):
    x = torch.randn(4, 7, dtype=torch.float64, device=device)
    # transposed: the backward lays the gradient out as the output, also when vmap batches it
    x = (x.t() if transposed else x).requires_grad_()

    def f(t):
        return torch_ext.mydropout(t, p, seed=12, offset=3)

    # forward mode and batched too: torch_ext/transforms.py
    assert torch.autograd.gradcheck(f, (x,), check_forward_ad=True, check_batched_grad=True,
                                    check_batched_forward_grad=True)
    assert torch.autograd.gradgradcheck(f, (x,), check_fwd_over_rev=True)


def test_double_backward_uses_the_same_mask():
    x = torch.randn(500, dtype=torch.float64, requires_grad=True)
    y = torch_ext.mydropout(x, 0.5, seed=2)
    go = torch.ones(500, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(y, x, go, create_graph=True)
    v = torch.randn(500, dtype=torch.float64)
    (back,) = torch.autograd.grad(g, go, v)
    assert_same_bits(back, apply_mask(v, keep_mask(x, 0.5, 2, 0), 0.5))


@pytest.mark.parametrize("seeded", [True, False])
def test_backward_saves_no_tensor_of_the_input_size(device, seeded):
    x = torch.randn(64, 1024, device=device, requires_grad=True)
    y, saved = saved_tensors(lambda: torch_ext.mydropout(x * 1, 0.5,
                                                         **({"seed": 1} if seeded else {})))
    y.sum().backward()
    # x * 1 saves nothing either (its gradient is a constant); the dropout saves its state only.
    assert [(t.dtype, t.numel()) for t in saved] == [(torch.int64, 2)]


@pytest.mark.parametrize("use_reentrant", [False, True])
@pytest.mark.parametrize("seed", [None, 4])
def test_checkpoint_recomputes_the_forward_mask(device, use_reentrant, seed):
    # checkpoint runs the forward again for the backward, with the default generators' states
    # of the forward (README, "Using it in real models").
    x = (torch.rand(1000, device=device) + 1).requires_grad_()  # no zeros: the mask is y != 0
    y = checkpoint(lambda a: torch_ext.mydropout(a * 1, 0.5, seed=seed), x,
                   use_reentrant=use_reentrant)
    y.backward(torch.ones_like(y))
    assert torch.equal(x.grad != 0, y != 0)


@each_inplace
def test_inplace_on_leaf_that_requires_grad_is_torchs_error(kind):
    x = torch.randn(4, 10, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        INPLACE[kind][0](x, 0.5, inplace=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        nn.Dropout(0.5, inplace=True)(x)


def test_inplace_inside_a_graph_has_the_right_gradient():
    x = torch.randn(1000, requires_grad=True)
    h = x * 2
    y = torch_ext.mydropout(h, 0.5, inplace=True, seed=6)
    assert y is h
    y.sum().backward()
    keep = keep_mask(x, 0.5, 6, 0)
    assert_same_bits(x.grad, apply_mask(torch.full((1000,), 2.0), keep, 0.5))


def _state():
    return torch.tensor([3, 4], dtype=torch.int64)


def test_opcheck_mydropout(device):
    for x in (
        torch.randn(5, 6, device=device, requires_grad=True),
        torch.randn(5, 6, device=device).t(),
        torch.randn(2, 3, 4, 5, device=device).contiguous(memory_format=torch.channels_last),
        torch.randn(0, device=device, dtype=torch.bfloat16),
    ):
        torch.library.opcheck(torch.ops.torch_ext.mydropout.default, (x, 0.5, _state(), 0))
        torch.library.opcheck(torch.ops.torch_ext.mydropout.default, (x, 0.5, _state(), 7))


@each_inplace
def test_opcheck_inplace(device, kind):
    op_ = INPLACE[kind][2]
    # The first requires grad (not a leaf, which in place refuses): opcheck checks the autograd
    # registration only for such an input.
    for x in (torch.randn(5, 6, 3, device=device, requires_grad=True).clone(),
              torch.randn(5, 6, 3, device=device), torch.randn(3, 6, 5, device=device).mT):
        torch.library.opcheck(op_.default, (x, 0.5, _state(), 0))


@pytest.mark.parametrize("on_cpu", [False, True])
def test_opcheck_philox_state(device, on_cpu):
    # random: schema, fake tensor and autograd registration checks (this one only for an input
    # that requires grad); no output comparison
    x = torch.randn(3, device=device, requires_grad=True)
    torch.library.opcheck(
        torch.ops.torch_ext.philox_state.default, (x, None, on_cpu),
        test_utils=("test_schema", "test_autograd_registration", "test_faketensor"),
    )


@pytest.mark.parametrize("on_cpu", [False, True])
def test_philox_state_fake_puts_the_state_where_on_cpu_says(on_cpu):
    x = torch.empty(3, device="meta")
    state = torch.ops.torch_ext.philox_state(x, None, on_cpu)
    assert state.dtype == torch.int64 and state.shape == (2,)
    assert state.device == torch.device("cpu" if on_cpu else "meta")


class Net(nn.Module):
    def __init__(self, dropout=torch_ext.MyDropout):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(32, 64), nn.Linear(64, 8)
        self.drop = dropout(0.5)

    def forward(self, x):
        return self.fc2(self.drop(torch.relu(self.fc1(x))))


def test_compile_fullgraph_module(device):
    torch._dynamo.reset()
    net = Net().to(device)
    compiled = torch.compile(net, fullgraph=True)
    x = torch.randn(256, 32, device=device)
    y = compiled(x)
    assert not torch.equal(y, compiled(x))  # training: a fresh mask per call
    y.sum().backward()
    assert net.fc1.weight.grad is not None
    net.eval()
    torch.testing.assert_close(compiled(x), net(x))  # Inductor may round a matmul differently


# 2**63 is int64's minimum in the state, which a compiled CUDA graph writes as a constant.
@pytest.mark.parametrize("seed", [2**63, 2**64 - 3])
def test_compile_fullgraph_seeded_equals_eager(device, seed):
    torch._dynamo.reset()

    def f(x):
        return torch_ext.mydropout(x * 2, 0.3, seed=seed, offset=5)

    x = torch.randn(64, 33, device=device, requires_grad=True)
    eager = f(x)
    (g_eager,) = torch.autograd.grad(eager.sum(), x)
    compiled = torch.compile(f, fullgraph=True)(x)
    (g_compiled,) = torch.autograd.grad(compiled.sum(), x)
    assert torch.equal(eager, compiled)
    assert torch.equal(g_eager, g_compiled)


def test_compile_stateful_draws_fresh_masks(device):
    torch._dynamo.reset()
    f = torch.compile(lambda x: torch_ext.mydropout(x, 0.5), fullgraph=True)
    x = torch.ones(4096, device=device)
    a, b = f(x), f(x)
    assert not torch.equal(a, b)
    torch.manual_seed(9)
    c = f(x)
    torch.manual_seed(9)
    assert torch.equal(c, f(x))


@each_inplace
def test_compile_fullgraph_inplace_with_grad_equals_eager(kind):
    torch._dynamo.reset()

    def f(x):
        h = x * 2
        INPLACE[kind][0](h[:, 1:].t(), 0.3, inplace=True, seed=5, offset=1)
        return h

    x = torch.randn(64, 33, requires_grad=True)
    eager = f(x)
    compiled = torch.compile(f, fullgraph=True)(x)
    assert_same_bits(compiled, eager)
    grad = torch.randn(eager.shape)
    assert_same_bits(torch.autograd.grad(compiled, x, grad)[0],
                     torch.autograd.grad(eager, x, grad)[0])


@each_inplace
def test_inplace_bumps_the_version_counter(kind):
    # Overwriting a tensor that another op saved must make that op's backward fail loudly.
    a = torch.randn(10, 10, requires_grad=True)
    y = a.sigmoid()  # saves its output
    version = y._version
    with torch.no_grad():
        INPLACE[kind][0](y, 0.5, inplace=True)
    assert y._version > version
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@each_inplace
@pytest.mark.parametrize("mode", [torch.enable_grad, torch.no_grad, torch.inference_mode])
def test_inplace_bumps_the_version_counter_once_with_grad_and_in_inference_mode(kind, mode):
    # With grad the custom Function bumps it; where it records nothing (no_grad) or the Autograd
    # kernel does not run (inference mode), the ADInplaceOrView kernel does.
    a = torch.randn(10, 10, requires_grad=True)
    y = a.sigmoid()  # saves its output
    version = y._version
    with mode():
        INPLACE[kind][0](y, 0.5, inplace=True)
    assert y._version == version + 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@each_inplace
def test_a_sparse_gradient_meets_the_mask_as_a_dense_one(kind):
    functional = INPLACE[kind][0]
    x = torch.randn(6, 4, 5).transpose(0, 2).requires_grad_()
    y = functional(x, 0.5, seed=3)
    grad = torch.where(torch.rand(y.shape) < 0.3, torch.randn(y.shape), 0.0)
    (dense,) = torch.autograd.grad(y, x, grad, retain_graph=True)
    (sparse,) = torch.autograd.grad(y, x, grad.to_sparse())
    assert_same_bits(sparse, dense)


@pytest.mark.parametrize("kind", ["out of place", "in place"])
@pytest.mark.parametrize("grad_mode, requires_grad", [(False, True), (True, False)])
def test_no_node_where_nothing_needs_a_gradient(kind, grad_mode, requires_grad):
    # The Autograd kernel skips the custom Function there: the result is the same, and it has
    # no history, as torch's own ops leave none.
    x = torch.randn(6, 10, requires_grad=requires_grad)
    with torch.set_grad_enabled(grad_mode):
        if kind == "in place":
            y = x.clone()
            torch.ops.torch_ext.mydropout_(y, 0.5, _state(), 3)
        else:
            y = torch.ops.torch_ext.mydropout(x, 0.5, _state(), 3)
    assert y.grad_fn is None and not y.requires_grad
    assert_same_bits(y, apply_mask(x.detach(), keep_mask(x, 0.5, 3, 4, first_index=3), 0.5))


@each_inplace
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_raw_inplace_op_records_the_gradient_of_the_out_of_place_op(device, kind, layout):
    _, op, op_ = INPLACE[kind]
    x = torch.randn(7, 8, 5, device=device, requires_grad=True)

    def make():
        h = x * 1
        return h.transpose(0, 2) if layout == "transposed" else h

    g = torch.randn_like(make())
    expected = op(make(), 0.5, _state(), 7)
    (g_expected,) = torch.autograd.grad(expected, x, g)
    h = make()
    op_(h, 0.5, _state(), 7)
    (g_inplace,) = torch.autograd.grad(h, x, g)
    assert_same_bits(h, expected)
    assert_same_bits(g_inplace, g_expected)


@each_inplace
def test_raw_inplace_op_on_a_view_gives_the_base_its_gradient(device, kind):
    _, op, op_ = INPLACE[kind]
    x = torch.randn(7, 40, device=device, requires_grad=True)
    base = x * 1
    op_(base[1:, ::3], 0.5, _state(), 7)
    g = torch.randn(7, 40, device=device)
    (gx,) = torch.autograd.grad(base, x, g)
    expected = g.clone()
    expected[1:, ::3] = op(g[1:, ::3], 0.5, _state(), 7)
    assert_same_bits(gx, expected)


@each_inplace
def test_raw_inplace_op_on_a_leaf_is_torchs_error_before_writing(kind):
    op_ = INPLACE[kind][2]
    x = torch.randn(4, 10, requires_grad=True)
    before = x.detach().clone()
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        op_(x, 0.5, _state(), 0)
    assert_same_bits(x, before)
    with torch.no_grad():
        op_(x, 0.5, _state(), 0)
    assert not torch.equal(x, before)


class _Outputs(TorchDispatchMode):
    """The ops that run below autograd, each with the sizes of the tensors it returns."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        numels = [t.numel() for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        self.calls.append((func, numels))
        return out


@each_inplace
def test_inplace_with_autograd_allocates_no_temporary_of_the_input_size(kind):
    functional, _, op_ = INPLACE[kind]
    x = torch.randn(4, 5, 50, requires_grad=True)
    h = x * 2
    address = h.data_ptr()
    with _Outputs() as outputs:
        y = functional(h, 0.5, inplace=True, seed=6)
    assert y is h and y.data_ptr() == address
    assert "DropoutFunction" in y.grad_fn.name()
    assert op_.default in [func for func, _ in outputs.calls]
    # the state only (the channel op's multipliers are made inside its kernel, out of the mode's
    # sight)
    assert all(n <= 2 for _, numels in outputs.calls for n in numels)
