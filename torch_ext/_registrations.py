"""Fake kernels and vmap's rules for the ops that torch_ext/csrc/schema.cpp defines (autograd
is in torch_ext/csrc/autograd.cpp)."""

import torch

from .functional import SHARED_MEMORY_MESSAGE, may_share_memory

_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check(input, p, state, first_index, draws):
    # What the real kernels check (torch_ext/csrc/dropout.cpp): a meta input skips them, and so
    # does a CPU input with a meta state, which dispatches here too. draws: the mask indices the
    # op takes from first_index on.
    torch._check_value(0 <= p <= 1,
                       lambda: f"dropout probability has to be between 0 and 1, but got {p}")
    torch._check_type(input.dtype in _DTYPES, lambda: "mydropout: expected a float16, bfloat16, "
                      f"float32 or float64 tensor, but got {input.dtype}")
    torch._check(state.dtype == torch.int64 and state.shape == (2,),
                 lambda: "mydropout: state must be an int64 tensor of two elements (seed, offset), "
                 f"as philox_state returns, but got {state.dtype} of shape {list(state.shape)}")
    torch._check(state.device.type == "cpu" or state.device == input.device,
                 lambda: "mydropout: state must be on the CPU or on the input's device "
                 f"({input.device}), but is on {state.device}")
    torch._check_value(first_index >= 0, lambda: _first_index_message(first_index, draws))
    # Of a symbolic size, the bound would become one on the size, which torch.export refuses for
    # a dimension declared unbounded; the real kernel checks it when it runs.
    if not isinstance(draws, torch.SymInt):
        torch._check_value(first_index <= 2**63 - 1 - draws,
                           lambda: _first_index_message(first_index, draws))


def _first_index_message(first_index, draws):
    # int() gives a symbolic value's traced value rather than its symbol's name; that it pins
    # the value does not matter on this path, which raises.
    draws = int(draws)
    return (f"mydropout: first_index must be in [0, 2**63 - {draws}), {draws} being the call's "
            f"mask draws, but got {int(first_index)}")


@torch.library.register_fake("torch_ext::philox_state")
def _philox_state_fake(input, generator=None, on_cpu=False):
    return _states(input, (2,), on_cpu)


def _states(input, shape, on_cpu):
    return input.new_empty(shape, dtype=torch.int64, device="cpu" if on_cpu else input.device)


@torch.library.register_fake("torch_ext::mydropout")
def _mydropout_fake(input, p, state, first_index=0):
    _check(input, p, state, first_index, input.numel())
    # The contract's layout, as the real kernels allocate it.
    return torch.empty_like(input)


@torch.library.register_fake("torch_ext::mydropout_")
def _mydropout_inplace_fake(input, p, state, first_index=0):
    _check(input, p, state, first_index, input.numel())
    torch._check(not may_share_memory(input), lambda: SHARED_MEMORY_MESSAGE)
    return None


def _check_channels(input, p, state, first_index):
    torch._check(input.dim() >= 2,
                 lambda: "Feature dropout requires at least 2 dimensions in the input")
    pairs = input.shape[0] * input.shape[1]
    if not isinstance(pairs, torch.SymInt):
        torch._check_value(pairs < 2**63, lambda: "mydropout: the call's mask draws, N * C = "
                           f"{input.shape[0]} * {input.shape[1]}, must be below 2**63")
    _check(input, p, state, first_index, pairs)


@torch.library.register_fake("torch_ext::mydropout_channels")
def _mydropout_channels_fake(input, p, state, first_index=0):
    _check_channels(input, p, state, first_index)
    return torch.empty_like(input)


@torch.library.register_fake("torch_ext::mydropout_channels_")
def _mydropout_channels_inplace_fake(input, p, state, first_index=0):
    _check_channels(input, p, state, first_index)
    torch._check(not may_share_memory(input), lambda: SHARED_MEMORY_MESSAGE)
    return None


@torch.library.register_vmap("torch_ext::philox_state")
def _philox_state_vmap(info, in_dims, input, generator=None, on_cpu=False):
    # The state is the random draw: one for the whole batch under randomness="same" (each
    # sample then gets the mask a call on it alone would), one per sample under "different",
    # and torch's own error under the default "error", as F.dropout gives.
    if info.randomness == "error":
        raise RuntimeError(
            "vmap: called random operation while in randomness error mode. Please either use "
            "the 'same' or 'different' randomness flags on vmap or perform the randomness "
            "operation out of vmap")
    if info.randomness == "same":
        return torch.ops.torch_ext.philox_state(input, generator, on_cpu), None
    states = [torch.ops.torch_ext.philox_state(input, generator, on_cpu)
              for _ in range(info.batch_size)]
    if not states:  # a batch of none, which torch.stack refuses
        return _states(input, (0, 2), on_cpu), 0
    return torch.stack(states), 0


def _samples(info, in_dims, input, state):
    """(input, state) of each sample in turn: each batched one selected, the others whole."""
    input_dim, state_dim = in_dims[0], in_dims[2]
    for b in range(info.batch_size):
        yield (input if input_dim is None else input.select(input_dim, b),
               state if state_dim is None else state.select(state_dim, b))


def _per_sample_vmap(name):
    # Each sample in turn, as vmap's fallback would run it, without the fallback's warning that
    # asks for a batching rule: a sample's mask starts at first_index in its own memory order,
    # so the batch cannot be one call.
    op = getattr(torch.ops.torch_ext, name)

    def rule(info, in_dims, input, p, state, first_index=0):
        outs = [op(x, p, s, first_index) for x, s in _samples(info, in_dims, input, state)]
        if not outs:  # a batch of none: no sample to take a layout from
            sample = input.shape if in_dims[0] is None else input.movedim(in_dims[0], 0).shape[1:]
            return input.new_empty((0, *sample)), 0
        return _stacked(outs), 0

    torch.library.register_vmap(f"torch_ext::{name}", rule)


def _stacked(outs):
    """outs along a new first dimension, each in the layout the op gave it, which torch.stack
    does not keep (of a transposed sample, say): the mask of a next call on a sample follows
    that memory order."""
    first = outs[0]
    out = first.new_empty_strided((len(outs), *first.shape), (first.numel(), *first.stride()))
    for b, o in enumerate(outs):  # select, not unbind's views, which autograd forbids writing
        out.select(0, b).copy_(o)
    return out


def _per_sample_inplace_vmap(name):
    # vmap's fallback refuses in-place ops: so each sample in turn, as for the others.
    op = getattr(torch.ops.torch_ext, name)

    def rule(info, in_dims, input, p, state, first_index=0):
        torch._check(in_dims[0] is not None, lambda: "mydropout: vmap of in-place dropout of a "
                     "tensor that is not batched, with a batched state, would write it once per "
                     "sample")
        for x, s in _samples(info, in_dims, input, state):
            op(x, p, s, first_index)
        return None, None

    torch.library.register_vmap(f"torch_ext::{name}", rule)


for _name in ("mydropout", "mydropout_channels"):
    _per_sample_vmap(_name)
    _per_sample_inplace_vmap(_name + "_")
