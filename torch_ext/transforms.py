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
    the transforms active: differentiable(op) and copy_ under torch.func's grad or jvp, or a
    dual level of forward-mode AD; op and copy_ under functionalize, which refuses a custom op
    that writes its input; as they are under vmap (by its rules, torch_ext/_registrations.py)
    and outside any transform. In place, copy_ rather than mul_ and masked_fill_: under
    functionalize over grad, torch 2.14's masked_fill_ of a transposed view gave a wrong
    gradient, where copy_ is right; grad over functionalize refuses copy_ instead (torch has no
    derivative for the copy that functionalize makes). For eager calls: Dynamo cannot trace
    these tests, and under torch.compile AOTAutograd takes the C++ autograd."""
    # forward_ad's own record of its level, which dual_level() keeps
    dual = forward_ad._current_level >= 0
    if not dual and maybe_current_level() is None:  # the common case, first
        # The packets' own C++ callables: OpOverloadPacket.__call__ adds a Python frame, a
        # quarter of a µs a small call, that dispatches in Python only for a torchbind
        # argument, which our schemas have none of.
        return op.op, op_.op
    keys = {i.key() for i in retrieve_all_functorch_interpreters()}
    if dual or not keys.isdisjoint(_DIFFERENTIATING):
        return differentiable(op), None
    return op, None if TransformType.Functionalize in keys else op_


def differentiable(op):
    """op(input, p, state, first_index) made of ops that every transform differentiates: the
    multipliers, op of ones (the scale where kept, +0 where dropped), times the input, +0 where
    dropped (NaN and inf too). The ones are laid out as op lays out its output, and the
    multipliers come first in the product, whose layout follows its first operand's: so each
    element meets its own mask index, and the result has op's layout, which the mask of a next
    call follows. A 16-bit input meets float32 multipliers, as in the contract, whose product
    is rounded once; other dtypes go to op as they are, which refuses what it refuses. The
    multipliers are kept for the backward, one per element, as F.dropout keeps its mask."""

    def dropped(input, p, state, first_index):
        half = input.dtype in (torch.float16, torch.bfloat16)
        ones = torch.ones_like(input, dtype=torch.float32 if half else input.dtype)
        mult = op(ones, p, state, first_index)
        return torch.where(mult != 0, mult * input, 0).to(input.dtype)

    return dropped
