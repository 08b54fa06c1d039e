"""Dropout under torch.func's grad, vjp, jvp (and jacrev, jacfwd, hessian), forward-mode AD
and functionalize.

The ops' autograd is a C++ torch::autograd::Function (torch_ext/csrc/autograd.cpp), which those
differentiating transforms refuse, and which has no forward derivative. So where one of them may
differentiate the call, the functionals run the op through Differentiated, a Python
autograd.Function that they accept; elsewhere the op goes straight to C++, which saves a small
call the Function's cost.
"""

import torch
import torch.autograd.forward_ad as forward_ad
from torch._C._functorch import TransformType, maybe_current_level
from torch._functorch.pyfunctorch import retrieve_all_functorch_interpreters

_DIFFERENTIATING = (TransformType.Grad, TransformType.Jvp)


def eager_route(op, op_):
    """The out-of-place op and the in-place op_ (None: op and copy_) for an eager call under
    the transforms active: Differentiated's op under torch.func's grad or jvp, or a dual level
    of forward-mode AD; op and copy_ under functionalize, which refuses a custom op that writes
    its input; as they are under vmap (by its rules, torch_ext/_registrations.py) and outside
    any transform. For eager calls: Dynamo cannot trace these tests, and under torch.compile
    AOTAutograd takes the C++ autograd."""
    # forward_ad's own record of its level, which dual_level() keeps
    if forward_ad._current_level >= 0:
        return differentiable(op), None
    if maybe_current_level() is None:
        return op, op_
    keys = {i.key() for i in retrieve_all_functorch_interpreters()}
    if not keys.isdisjoint(_DIFFERENTIATING):
        return differentiable(op), None
    return op, None if TransformType.Functionalize in keys else op_


def differentiable(op):
    """op as Differentiated runs it, with op's arguments."""
    return lambda input, *args: Differentiated.apply(input, op, *args)


class Differentiated(torch.autograd.Function):
    """op(input, p, state, first_index), for op mydropout or mydropout_channels. The gradient
    and the tangent are the op of them with the same state, as in the C++ backward: the mask
    again, scaled. vmap over it runs these methods under vmap, and the op's own rule there."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input, op, p, state, first_index):
        return op(input, p, state, first_index)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, ctx.op, ctx.p, state, ctx.first_index = inputs
        ctx.save_for_backward(state)
        ctx.save_for_forward(state)

    @staticmethod
    def backward(ctx, grad):
        return Differentiated.apply(grad, ctx.op, ctx.p, *ctx.saved_tensors,
                                    ctx.first_index), None, None, None, None

    @staticmethod
    def jvp(ctx, tangent, *_):
        return Differentiated.apply(tangent, ctx.op, ctx.p, *ctx.saved_tensors, ctx.first_index)
