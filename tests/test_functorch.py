"""torch.func: vmap draws as torch's random ops do under its randomness flag; grad, jvp and
forward-mode AD differentiate the functionals and modules, and the raw ops' C++ autograd refuses
them with torch's error (README, "Using it in real models")."""

import pytest
import torch
from torch.autograd import forward_ad
from torch.func import (functional_call, functionalize, grad, hessian, jacfwd, jacrev, jvp, vjp,
                        vmap)

import torch_ext
from reference import assert_same_bits


def per_sample(x, states):
    """What vmap should give: each row dropped alone with its state."""
    return torch.stack([torch.ops.torch_ext.mydropout(row, 0.5, s, 0)
                        for row, s in zip(x, states)])


def test_vmap_refuses_randomness_by_default(device):
    x = torch.randn(3, 8, device=device)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        vmap(lambda a: torch_ext.mydropout(a, 0.5))(x)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        vmap(lambda a: torch_ext.mydropout_channels(a, 0.5))(x.view(3, 2, 4))


@pytest.mark.parametrize("inplace", [False, True])
def test_vmap_same_gives_every_sample_one_draw(device, inplace):
    x = torch.randn(4, 64, device=device)
    torch.manual_seed(1)
    y = x.clone()
    out = vmap(lambda a: torch_ext.mydropout(a, 0.5, inplace=inplace), randomness="same")(y)
    torch.manual_seed(1)
    state = torch.ops.torch_ext.philox_state(x)
    assert_same_bits(out, per_sample(x, [state] * 4))
    assert_same_bits(y, out if inplace else x)


@pytest.mark.parametrize("inplace", [False, True])
def test_vmap_different_gives_each_sample_its_own_draw(device, inplace):
    x = torch.randn(64, 4, device=device)  # batched along dim 1
    torch.manual_seed(2)
    y = x.clone()
    out = vmap(lambda a: torch_ext.mydropout(a, 0.5, inplace=inplace), in_dims=1,
               randomness="different")(y)
    torch.manual_seed(2)
    states = [torch.ops.torch_ext.philox_state(x) for _ in range(4)]
    assert_same_bits(out, per_sample(x.t(), states))
    assert len({tuple((row == 0).tolist()) for row in out}) == 4
    if inplace:
        assert_same_bits(y.t(), out)


def test_vmap_of_a_seeded_call_is_that_call_per_sample(device, capfd):
    # A seeded call draws nothing: every sample gets the call's mask, whatever the flag.
    x = torch.randn(3, 40, device=device)
    out = vmap(lambda a: torch_ext.mydropout(a, 0.5, seed=9, first_index=3))(x)
    # Each op has a batching rule: vmap's fallback, which prints to stderr that one is missing
    # and asks that torch's authors be told, never runs.
    assert "batching rule" not in capfd.readouterr().err
    assert_same_bits(out, torch.stack([torch_ext.mydropout(r, 0.5, seed=9, first_index=3)
                                       for r in x]))


@pytest.mark.parametrize("inplace", [False, True])
def test_vmap_of_channel_dropout_gives_each_sample_its_own_draw(device, capfd, inplace):
    x = torch.randn(3, 2, 4, 5, device=device)
    torch.manual_seed(4)
    y = x.clone()
    out = vmap(lambda a: torch_ext.mydropout_channels(a, 0.5, inplace=inplace),
               randomness="different")(y)
    assert "batching rule" not in capfd.readouterr().err  # see the test above
    torch.manual_seed(4)
    states = [torch.ops.torch_ext.philox_state(x) for _ in range(3)]
    assert_same_bits(out, torch.stack([torch.ops.torch_ext.mydropout_channels(a, 0.5, s, 0)
                                       for a, s in zip(x, states)]))
    assert_same_bits(y, out if inplace else x)


@pytest.mark.parametrize("channels", [False, True])
def test_vmap_flag_rules_the_draw_for_an_input_it_does_not_batch(device, channels):
    # As for torch's random ops: a shared input (the minibatch of an ensemble) still draws as
    # the flag says, an error by default, one state per sample under "different".
    x = torch.randn(2, 3, 8, device=device)
    drop = torch_ext.mydropout_channels if channels else torch_ext.mydropout
    op = torch.ops.torch_ext.mydropout_channels if channels else torch.ops.torch_ext.mydropout
    with pytest.raises(RuntimeError, match="randomness error mode"):
        vmap(lambda _: drop(x, 0.5))(torch.ones(4))
    torch.manual_seed(5)
    out = vmap(lambda _: drop(x, 0.5), randomness="different")(torch.ones(4))
    torch.manual_seed(5)
    assert_same_bits(out, torch.stack([op(x, 0.5, torch.ops.torch_ext.philox_state(x), 0)
                                       for _ in range(4)]))
    torch.manual_seed(5)
    out = vmap(lambda _: drop(x, 0.5), randomness="same")(torch.ones(4))
    torch.manual_seed(5)
    assert_same_bits(out, op(x, 0.5, torch.ops.torch_ext.philox_state(x), 0).expand(4, -1, -1, -1))


def test_nested_vmaps_each_draw_as_their_flag_says(device):
    x = torch.randn(64, device=device)
    samples = torch.ones(2, 3)
    inner = vmap(lambda _: torch_ext.mydropout(x, 0.5), randomness="different")
    out = vmap(inner, randomness="different")(samples)
    assert len({tuple((row == 0).tolist()) for row in out.view(6, 64)}) == 6
    inner = vmap(lambda _: torch_ext.mydropout(x, 0.5), randomness="same")
    out = vmap(inner, randomness="different")(samples)
    assert all(torch.equal(out[i, 0], out[i, j]) for i in range(2) for j in range(3))
    assert not torch.equal(out[0, 0], out[1, 0])
    with pytest.raises(RuntimeError, match="randomness error mode"):
        vmap(vmap(lambda _: torch_ext.mydropout(x, 0.5), randomness="same"))(samples)


def test_vmap_keeps_each_samples_layout_so_a_next_call_meets_the_same_mask(device):
    x = (torch.rand(2, 4, 3, device=device, dtype=torch.float64) + 1).transpose(1, 2)
    chain = lambda a: torch_ext.mydropout(  # noqa: E731
        torch_ext.mydropout(a, 0.5, seed=1), 0.5, seed=2)
    out = torch.stack([chain(sample) for sample in x])
    assert_same_bits(vmap(chain)(x), out)
    assert_same_bits(vmap(grad(lambda a: chain(a).sum()))(x), (out != 0).to(x.dtype) * 4)


def test_vmap_of_grad_with_a_shared_input_to_dropout(device):
    # grad differentiates the weights, not dropout's input: as with F.dropout, vmap draws per
    # sample.
    w = torch.randn(64, device=device)
    x = torch.randn(4, 64, device=device)
    grads = vmap(grad(lambda a: (torch_ext.mydropout(w, 0.5) * a).sum()),
                 randomness="different")(x)
    assert len({tuple((row == 0).tolist()) for row in grads}) == 4


@pytest.mark.parametrize("inplace", [False, True])
def test_per_sample_gradients_of_dropout_take_each_sample_its_mask(device, inplace):
    x = torch.rand(4, 64, device=device) + 1  # no zeros: an output is 0 where it is dropped

    def loss(a):
        b = a * 1  # in place on what grad differentiates, not on its input
        return torch_ext.mydropout(b, 0.5, inplace=inplace).sum()

    torch.manual_seed(5)
    grads = vmap(grad(loss), randomness="different")(x)
    torch.manual_seed(5)
    states = [torch.ops.torch_ext.philox_state(x) for _ in range(4)]
    assert_same_bits(grads, (per_sample(x, states) != 0).to(x.dtype) * 2)


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("functional", [torch_ext.mydropout, torch_ext.mydropout_channels,
                                        torch_ext.mydropout1d])
def test_grad_and_jvp_are_the_mask_scaled(device, functional, inplace):
    x = torch.rand(2, 3, 8, device=device, dtype=torch.float64) + 1
    out = functional(x, 0.3, seed=11)
    mask = (out != 0).to(x.dtype) / 0.7
    # in place on a product, not on what the transforms differentiate
    drop = lambda a: functional(a * 1, 0.3, inplace=inplace, seed=11)  # noqa: E731
    assert_same_bits(grad(lambda a: drop(a).sum())(x), mask)
    primal, tangent = jvp(drop, (x,), (torch.ones_like(x),))
    assert_same_bits(primal, out)
    assert_same_bits(tangent, mask)
    n = x.numel()
    assert_same_bits(jacrev(drop)(x).view(n, n), torch.diag(mask.view(-1)))
    assert_same_bits(jacfwd(drop)(x).view(n, n), torch.diag(mask.view(-1)))
    hess = hessian(lambda a: (drop(a) ** 2).sum())(x).view(n, n)
    assert_same_bits(hess, torch.diag(2 * mask.view(-1) ** 2))
    with forward_ad.dual_level():
        dual = drop(forward_ad.make_dual(x, torch.ones_like(x)))
        assert_same_bits(forward_ad.unpack_dual(dual).primal, out)
        assert_same_bits(forward_ad.unpack_dual(dual).tangent, mask)


LAYOUTS = ["channels_last", "transposed", "sliced"]


def laid_out(layout, device):
    """A float64 input of no zeros (an output is 0 where dropped), in one of LAYOUTS."""
    x = torch.rand(2, 3, 4, 6, device=device, dtype=torch.float64) + 1
    return {"channels_last": x.contiguous(memory_format=torch.channels_last),
            "transposed": x.transpose(1, 3), "sliced": x[..., ::2].transpose(1, 3)}[layout]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_grad_meets_the_mask_of_the_inputs_layout(device, layout):
    # The elementwise mask follows memory order, and grad's ones come in a layout of their own.
    x = laid_out(layout, device)
    mask = (torch_ext.mydropout(x, 0.5, seed=3) != 0).to(x.dtype) * 2
    assert_same_bits(grad(lambda a: torch_ext.mydropout(a, 0.5, seed=3).sum())(x), mask)
    _, pullback = vjp(lambda a: torch_ext.mydropout(a, 0.5, seed=3), x)
    assert_same_bits(pullback(torch.ones_like(mask))[0], mask)


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_16_bit_products_are_rounded_once_as_in_eager(device, dtype, inplace):
    x = torch.randn(4096, device=device, dtype=torch.float64).mul(100).to(dtype)
    # assert_same_bits lets a kept NaN's payload differ: here it is torch's (README)
    x[::7], x[::11], x[::13] = float("nan"), float("inf"), -0.0
    drop = lambda a: torch_ext.mydropout(a * 1, 0.3, inplace=inplace, seed=5)  # noqa: E731
    primal, tangent = jvp(drop, (x,), (torch.ones_like(x),))
    assert_same_bits(primal, torch_ext.mydropout(x, 0.3, seed=5))
    assert_same_bits(tangent, torch_ext.mydropout(torch.ones_like(x), 0.3, seed=5))


@pytest.mark.parametrize("inplace", [False, True])
def test_grad_and_functionalize_together(device, inplace):
    x = torch.rand(6, 10, device=device) + 1
    mask = (torch_ext.mydropout(x.t(), 0.5, seed=1) != 0).to(x.dtype).t() * 2

    def loss(a):
        b = a * 1  # dropout of a transposed view of it
        out = torch_ext.mydropout(b.t(), 0.5, inplace=inplace, seed=1)
        return (b if inplace else out).sum()

    assert_same_bits(functionalize(grad(loss))(x), mask)
    if not inplace:
        assert_same_bits(grad(functionalize(loss))(x), mask)
        return
    # In place runs as the op and copy_ there, whose derivative torch lacks under functionalize.
    with pytest.raises(RuntimeError, match="derivative for aten::copy is not implemented"):
        grad(functionalize(loss))(x)


def same_layout(a, b):
    """The same strides where they matter: a dimension of one element has any."""
    return all(sa == sb for n, sa, sb in zip(a.shape, a.stride(), b.stride()) if n > 1)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_outputs_keep_the_layout_so_a_next_call_meets_the_same_mask(device, layout):
    x = laid_out(layout, device)
    twice = lambda a: torch_ext.mydropout(  # noqa: E731
        torch_ext.mydropout2d(torch_ext.mydropout(a, 0.5, seed=1), 0.5, seed=2), 0.5, seed=3)
    out = twice(x)
    primal, tangent = jvp(twice, (x,), (torch.ones_like(x),))
    assert_same_bits(primal, out)
    assert same_layout(primal, out)
    assert_same_bits(tangent, (out != 0).to(x.dtype) * 8)
    assert_same_bits(grad(lambda a: twice(a).sum())(x), (out != 0).to(x.dtype) * 8)


@pytest.mark.parametrize("dtype", [torch.int64, torch.complex64])
def test_what_the_op_refuses_it_refuses_under_transforms(dtype):
    x = torch.ones(8, dtype=dtype)
    message = "expected a float16, bfloat16, float32 or float64"
    with pytest.raises(TypeError, match=message):
        grad(lambda w: (torch_ext.mydropout(x, 0.5, seed=1).real * w).sum())(torch.ones(8))
    with forward_ad.dual_level(), pytest.raises(TypeError, match=message):
        torch_ext.mydropout(x, 0.5, seed=1)


def test_grad_through_a_model_draws_from_the_generator(device):
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch_ext.MyDropout(0.5)).to(device)
    params = dict(model.named_parameters())
    x = torch.rand(4, 8, device=device)
    torch.manual_seed(6)
    grads = grad(lambda p: functional_call(model, p, (x,)).sum())(params)
    torch.manual_seed(6)
    params = {name: p.detach().requires_grad_() for name, p in params.items()}
    functional_call(model, params, (x,)).sum().backward()
    for name, p in params.items():
        # close, not bit for bit: the two routes may take different matrix kernels on a GPU;
        # another mask would change whole rows of the weight's gradient
        torch.testing.assert_close(grads[name], p.grad)


def test_grad_of_in_place_dropout_of_a_leaf_is_torchs_error():
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        grad(lambda a: torch_ext.mydropout(a, 0.5, seed=1, inplace=True).sum())(torch.randn(8))


def test_p_one_draws_nothing_so_vmap_lets_it_be(device):
    # Every element is +0 whatever the state: as F.dropout, no draw, and so no vmap error.
    x = torch.randn(3, 8, device=device)
    generator = torch.Generator(device=device)
    before = generator.get_state()
    out = vmap(lambda a: torch_ext.mydropout(a, 1.0, generator=generator))(x)
    assert torch.equal(generator.get_state(), before)
    assert_same_bits(out, torch.zeros_like(x))


def test_vmap_over_a_batch_of_none(device):
    x = torch.randn(0, 2, 3, device=device)
    calls = [lambda a: torch_ext.mydropout(a, 0.5, seed=1),
             lambda a: torch_ext.mydropout(a, 0.5),
             lambda a: torch_ext.mydropout(a, 0.5, inplace=True),
             lambda a: torch_ext.mydropout_channels(a, 0.5),
             lambda a: torch_ext.mydropout_channels(a, 0.5, inplace=True)]
    for call in calls:
        out = vmap(call, randomness="different")(x)
        assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device


@pytest.mark.parametrize("op_", [torch.ops.torch_ext.mydropout_,
                                 torch.ops.torch_ext.mydropout_channels_])
def test_vmap_in_place_on_an_unbatched_tensor_is_refused(op_):
    x = torch.randn(2, 4)
    states = torch.stack([torch.ops.torch_ext.philox_state(x)] * 2)
    with pytest.raises(RuntimeError, match="not batched"):
        vmap(lambda s: op_(x, 0.5, s, 0))(states)


def test_vmap_under_autograd(device):
    x = (torch.rand(3, 16, device=device) + 1).requires_grad_()  # no zeros: the mask is y != 0
    torch.manual_seed(3)
    y = vmap(lambda a: torch_ext.mydropout(a, 0.5), randomness="different")(x)
    y.backward(torch.ones_like(y))
    assert_same_bits(x.grad, (y != 0).to(x.dtype) * 2)


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("functional, shape", [(torch_ext.mydropout, (2, 3, 4)),
                                               (torch_ext.mydropout_channels, (2, 3, 4)),
                                               (torch_ext.mydropout1d, (3, 4))])
def test_functionalize_gives_the_eager_result(device, functional, shape, inplace):
    x = torch.randn(shape, device=device)
    out = functionalize(lambda a: functional(a.clone(), 0.5, inplace=inplace, seed=8))(x)
    assert_same_bits(out, functional(x, 0.5, seed=8))


def test_the_raw_ops_refuse_grad_jvp_and_forward_mode_clearly():
    x = torch.randn(8)
    state = torch.ops.torch_ext.philox_state(x)
    drop = lambda a: torch.ops.torch_ext.mydropout(a, 0.5, state)  # noqa: E731
    with pytest.raises(RuntimeError, match="functorch transforms"):
        grad(lambda a: drop(a).sum())(x)
    with pytest.raises(RuntimeError, match="functorch transforms"):
        jvp(drop, (x,), (torch.ones(8),))
    with forward_ad.dual_level(), pytest.raises(RuntimeError, match="jvp is not implemented"):
        drop(forward_ad.make_dual(x, torch.ones(8)))
