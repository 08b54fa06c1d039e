"""torch_ext.mydropout: the functional form, with torch.nn.functional.dropout's arguments."""

import numbers

import torch
from torch.fx import Proxy
from torch.fx.experimental.symbolic_shapes import guard_or_false

from . import state
from .fx import function_node
from .transforms import eager_route

_U64 = 2**64
_MYDROPOUT, _MYDROPOUT_ = torch.ops.torch_ext.mydropout, torch.ops.torch_ext.mydropout_


def check_p(p):
    """p as a float in [0, 1], else the error nn.Dropout gives (NaN is refused too). A 0-dim
    tensor is taken for its value, as F.dropout and nn.Dropout take it."""
    if type(p) is float and 0 <= p <= 1:  # the common case, before the slower type tests
        return p
    if isinstance(p, torch.Tensor) and p.dim() == 0 and p.dtype != torch.bool:
        if p.requires_grad:  # F.dropout refuses it too; under torch.func.grad of p as well
            raise TypeError("dropout probability must be a real number, but got a Tensor that "
                            "requires grad: mydropout gives no gradient for it")
        p = p.item()
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"dropout probability must be a real number, but got {type(p).__name__}")
    if not 0 <= p <= 1:  # false for NaN too; and no float() first, which overflows on 10**400
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    return float(p)


def _check_int(name, value, end, end_text):
    """value as a Python int in [0, end) (a NumPy integer too), else TypeError or ValueError."""
    if type(value) is int and 0 <= value < end:  # the common case, before the slower type tests
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"mydropout: {name} must be an int, but got {type(value).__name__}")
    value = int(value)
    if not 0 <= value < end:
        raise ValueError(f"mydropout: {name} must be in [0, {end_text}), but got {value}")
    return value


def _as_int64(name, value):
    """A value in [0, 2**64) as the int64 with the same bits, which the op's state holds."""
    value = _check_int(name, value, _U64, "2**64")
    return value - _U64 if value >= 2**63 else value


def _checked_seed(seed, offset, generator):
    """(seed, offset) as the int64s of the op's state, or None where the state is drawn."""
    if seed is None and type(offset) is int and offset == 0:  # the common case, first
        return None
    offset = _as_int64("offset", offset)
    if seed is None:
        if offset != 0:
            raise ValueError("mydropout: offset is used with an explicit seed only")
        return None
    if generator is not None:
        raise ValueError("mydropout: give either seed or generator, not both")
    return _as_int64("seed", seed), offset


def _known_empty(input, compiling):
    """Whether input has no element, where a trace can tell: not of a size that depends on data
    under torch.compile (x[x > 0]), nor under torch.jit.trace, which makes sizes tensors. The
    op takes empty inputs too."""
    if compiling:
        return guard_or_false(input.numel() == 0)
    n = input.numel()
    return type(n) is int and n == 0


SHARED_MEMORY_MESSAGE = ("mydropout: in-place dropout of a tensor whose elements may share "
                         "memory (an expanded tensor, say) is not supported; clone it first")


def may_share_memory(t):
    """The test of torch_ext/csrc/dropout.cpp's in-place ops, for where they do not run: fake
    kernels, and the in-place form under torch.compile (copy_ finds only zero strides). With
    the dimensions sorted by stride, each stride must step past all that the smaller ones
    reach."""
    # First what needs no guard on a size: under torch.compile one may depend on data (x[x > 0]).
    if t.is_contiguous() or guard_or_false(t.numel() == 0):
        return False
    dims = []  # (stride, size) of the dimensions that vary, by stride
    for d in range(t.dim()):
        if t.size(d) > 1:
            # Sorted by insertion: under torch.compile the strides may be symbolic, which
            # sorted() refuses.
            i = len(dims)
            while i > 0 and dims[i - 1][0] > t.stride(d):
                i -= 1
            dims.insert(i, (t.stride(d), t.size(d)))
    reach = 0
    for stride, size in dims:
        if stride <= reach:
            return True
        reach += stride * (size - 1)
    return False


def run(op, op_, input, compiling, p, op_state, first_index, inplace):
    """op(input, p, op_state, first_index), or op_ on input in place, which is returned; the
    arguments from compiling to first_index are prepare's. Under torch.compile, in place is op and
    copy_ instead: torch.compile's AOTAutograd takes a custom op's write into a graph input for one
    hidden from autograd (it is made inside the autograd Function), which leaves the input's
    gradient without the mask; and torch 2.14.1's Inductor misreads the input of a custom in-place
    op that mutates a product by one (x * 1.0) of a view. copy_ is a write both follow. In eager,
    the transforms active may change either (transforms.py)."""
    if compiling:
        op_ = None
    else:
        op, op_ = eager_route(op, op_)
    if not inplace:
        return op(input, p, op_state, first_index)
    if op_ is not None:
        op_(input, p, op_state, first_index)
        return input
    if may_share_memory(input):
        raise RuntimeError(SHARED_MEMORY_MESSAGE)
    return input.copy_(op(input, p, op_state, first_index))


def prepare(input, p, training, seed, offset, generator, first_index):
    """The checks every functional makes, then whether torch.compile traces the call and the
    op's p, state and first_index; None where dropout returns the input itself (eval mode,
    p == 0, or an empty input)."""
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"mydropout: input must be a Tensor, but got {type(input).__name__}")
    p = check_p(p)
    # F.dropout's test too: None is no eval mode. A SymBool is one under torch.export.
    if type(training) is not bool and not isinstance(training, torch.SymBool):
        kind = type(training)
        name = kind.__qualname__ if kind.__module__ == "builtins" else \
            f"{kind.__module__}.{kind.__qualname__}"
        raise TypeError(f"mydropout: training must be a bool, but got {name}")
    if not training or p == 0:
        return None
    if input.is_nested or input.layout != torch.strided:
        kind = "nested" if input.is_nested else input.layout
        raise NotImplementedError(f"mydropout: {kind} tensors are not supported")
    # The op bounds first_index by 2**63 less its mask draws; this keeps ints past int64 from
    # the op's argument parser, whose message would be unclear. A SymInt (torch.export tracing
    # one made from a dynamic size) cannot be past int64, and the op checks its range.
    # An int first: isinstance(int, torch.Tensor) takes torch's metaclass, which a small call
    # notices.
    if (type(first_index) is not int and isinstance(first_index, torch.Tensor)
            and torch.jit.is_tracing() and first_index.dtype == torch.int64
            and first_index.dim() == 0):
        # torch.jit.trace makes a size such a tensor; the trace keeps its value, as torch
        # warns (TracerWarning).
        first_index = int(first_index)
    if not isinstance(first_index, torch.SymInt):
        first_index = _check_int("first_index", first_index, 2**63, "2**63")
    seed_pair = _checked_seed(seed, offset, generator)
    compiling = torch.compiler.is_compiling()
    if _known_empty(input, compiling):  # as F.dropout: the input itself, and nothing drawn
        return None
    if p == 1 and seed_pair is None:
        # Every element is zeroed whatever the state: as F.dropout, draw nothing (so vmap's
        # default randomness="error" lets it be too).
        seed_pair = (0, 0)
    return compiling, p, state.make(input, seed_pair, generator, compiling), first_index


def mydropout(
    input, p=0.5, training=True, inplace=False, *, seed=None, offset=0, generator=None,
    first_index=0,
):
    """Zeroes each element of ``input`` with probability ``p`` and scales the rest by 1/(1-p).

    Positional arguments are those of torch.nn.functional.dropout. With ``seed`` (and ``offset``,
    both in [0, 2**64)) the call is stateless: the mask depends only on (seed, offset, p, shape,
    layout), on every device, dtype and thread count. Without it, the state is drawn from
    ``generator`` or from the default generator of the input's device. ``first_index`` is the
    mask index of the first element, for shards of a larger tensor. The backward recomputes the
    mask; nothing of the input's size is kept for it.
    """
    if isinstance(input, Proxy):
        return function_node(mydropout, (input, p, training, inplace),
                             dict(seed=seed, offset=offset, generator=generator,
                                  first_index=first_index))
    prepared = prepare(input, p, training, seed, offset, generator, first_index)
    if prepared is None:
        return input
    return run(_MYDROPOUT, _MYDROPOUT_, input, *prepared, inplace)
