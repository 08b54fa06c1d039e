"""Dropout under torch.func's grad, vjp, jvp (and jacrev, jacfwd, hessian), forward-mode AD
and functionalize.

The ops' autograd is a C++ torch::autograd::Function (torch_ext/csrc/autograd.cpp), which those
differentiating transforms refuse, and which has no forward derivative; nor has functionalize a
rule for a Python autograd.Function. So where one of them may differentiate the call, the
functionals compute the op's result from torch's own ops, which all transforms know (below);
elsewhere the op goes straight to C++, as cheap as a small call can be.
"""

import torch
import torch.autograd.forward_ad as forward_ad
from torch._C._functorch import TransformType, maybe_current_level
from torch._functorch.pyfunctorch import retrieve_all_functorch_interpreters

_DIFFERENTIATING = (TransformType.Grad, TransformType.Jvp)


def eager_route(op, op_):
    """The out-of-place op and the in-place op_ (None: op and copy_) for an eager call under
    the transforms active: differentiable(op) and differentiable_(op) under torch.func's grad
    or jvp, or a dual level of forward-mode AD; op and copy_ under functionalize, which refuses
    a custom op that writes its input; as they are under vmap (by its rules,
    torch_ext/_registrations.py) and outside any transform. For eager calls: Dynamo cannot
    trace these tests, and under torch.compile AOTAutograd takes the C++ autograd."""
    # forward_ad's own record of its level, which dual_level() keeps
    if forward_ad._current_level >= 0:
        return differentiable(op), differentiable_(op)
    if maybe_current_level() is None:
        return op, op_
    keys = {i.key() for i in retrieve_all_functorch_interpreters()}
    if not keys.isdisjoint(_DIFFERENTIATING):
        return differentiable(op), differentiable_(op)
    return op, None if TransformType.Functionalize in keys else op_


def _multipliers(op, input, p, state, first_index):
    """op of ones: the scale where kept, +0 where dropped; in input's layout, so that each
    element meets its own mask index, and in float32 for a 16-bit input, whose product the
    contract rounds once."""
    dtype = input.dtype if input.dtype in (torch.float32, torch.float64) else torch.float32
    return op(torch.ones_like(input, dtype=dtype), p, state, first_index)


def differentiable(op):
    """op(input, p, state, first_index) made of ops that every transform differentiates: the
    product by the multipliers, +0 where dropped (NaN and inf too). The multipliers are kept
    for the backward, one per element, as F.dropout keeps its mask."""

    def dropped(input, *args):
        mult = _multipliers(op, input, *args)
        return (input.to(mult.dtype) * mult).masked_fill(mult == 0, 0).to(input.dtype)

    return dropped


def differentiable_(op):
    """The same in place: with mul_ and masked_fill_, which functionalize and grad together
    take (copy_ they do not: torch has no derivative for the copy that functionalize makes)."""

    def dropped_(input, *args):
        mult = _multipliers(op, input, *args)
        input.mul_(mult).masked_fill_(mult == 0, 0)

    return dropped_
