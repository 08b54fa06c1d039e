"""Fake kernels for the ops that torch_ext/csrc/schema.cpp defines (autograd is in
torch_ext/csrc/autograd.cpp)."""

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
