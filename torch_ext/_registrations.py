"""Fake kernels for the ops that torch_ext/csrc/schema.cpp defines (autograd is in
torch_ext/csrc/autograd.cpp)."""

import torch

_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check(input, state):
    # What the real kernels check first (torch_ext/csrc/dropout.cpp): a meta input skips them,
    # and so does a CPU input with a meta state, which dispatches here too.
    torch._check_type(input.dtype in _DTYPES, lambda: "mydropout: expected a float16, bfloat16, "
                      f"float32 or float64 tensor, but got {input.dtype}")
    torch._check(state.device.type == "cpu" or state.device == input.device,
                 lambda: "mydropout: state must be on the CPU or on the input's device "
                 f"({input.device}), but is on {state.device}")


@torch.library.register_fake("torch_ext::philox_state")
def _philox_state_fake(input, generator=None):
    return input.new_empty(2, dtype=torch.int64)


@torch.library.register_fake("torch_ext::mydropout")
def _mydropout_fake(input, p, state, first_index=0):
    _check(input, state)
    # The contract's layout, as the real kernels allocate it.
    return torch.empty_like(input)


@torch.library.register_fake("torch_ext::mydropout_")
def _mydropout_inplace_fake(input, p, state, first_index=0):
    _check(input, state)
    return None


@torch.library.register_fake("torch_ext::mydropout_channels")
def _mydropout_channels_fake(input, p, state, first_index=0):
    _check(input, state)
    return torch.empty_like(input)
