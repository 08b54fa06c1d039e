"""Fake kernels and autograd for the ops that torch_ext/csrc/schema.cpp defines."""

import torch


@torch.library.register_fake("torch_ext::philox_state")
def _philox_state_fake(input, generator=None):
    return input.new_empty(2, dtype=torch.int64)


@torch.library.register_fake("torch_ext::mydropout")
def _mydropout_fake(input, p, state, first_index=0):
    # The contract's layout, as the real kernels allocate it.
    return torch.empty_like(input)


@torch.library.register_fake("torch_ext::mydropout_")
def _mydropout_inplace_fake(input, p, state, first_index=0):
    return None


def _setup_context(ctx, inputs, output):
    _, p, state, first_index = inputs
    # Two int64s: the backward draws the same mask again from them.
    ctx.save_for_backward(state)
    ctx.p = p
    ctx.first_index = first_index
    ctx.stride = output.stride()


def _backward(ctx, grad):
    (state,) = ctx.saved_tensors
    if grad.stride() != ctx.stride:
        # The mask follows memory order, so the gradient must be laid out as the forward's output
        # was for each element to meet its own mask bit.
        grad = torch.empty_strided(
            grad.shape, ctx.stride, dtype=grad.dtype, device=grad.device
        ).copy_(grad)
    # The same op: so the backward is differentiable too (double backward).
    return torch.ops.torch_ext.mydropout(grad, ctx.p, state, ctx.first_index), None, None, None


torch.library.register_autograd(
    "torch_ext::mydropout", _backward, setup_context=_setup_context
)
