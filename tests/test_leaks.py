"""No leaks: thousands of calls of every kind (forward, backward, in place, stateful and seeded,
and calls that raise) keep the process's resident memory flat, and CUDA's allocated memory."""

import ctypes
import ctypes.util
import gc
import os

import pytest
import torch

import torch_ext
from conftest import requires_cuda

PAGE = os.sysconf("SC_PAGE_SIZE")
LIBC = ctypes.CDLL(ctypes.util.find_library("c"))


def resident_bytes():
    """Resident memory with the garbage collected and malloc's free pages handed back, so that
    a leak cannot hide in memory that earlier tests freed."""
    gc.collect()
    LIBC.malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def backward(x, inplace=False, **kwargs):
    x = x.detach().requires_grad_()
    t = x.clone() if inplace else x  # in place on a leaf that requires grad is refused
    torch_ext.mydropout(t, 0.5, inplace=inplace, **kwargs).backward(torch.ones_like(x))


def raises(call, exception):
    with pytest.raises(exception):
        call()


CALLS = {
    "forward seeded": lambda x: torch_ext.mydropout(x, 0.5, seed=1),
    "forward stateful": lambda x: torch_ext.mydropout(x, 0.5),
    "backward seeded": lambda x: backward(x, seed=2),
    "backward stateful": backward,
    "backward in place": lambda x: backward(x, inplace=True, seed=4),
    "in place seeded": lambda x: torch_ext.mydropout(x, 0.5, inplace=True, seed=3),
    "in place stateful": lambda x: torch_ext.mydropout(x, 0.5, inplace=True),
    "module": lambda x: torch_ext.MyDropout(0.3)(x),
    "philox_state": torch.ops.torch_ext.philox_state,
    "op raises": lambda x: raises(lambda: torch.ops.torch_ext.mydropout(
        x, 0.5, torch.tensor([1.0, 2.0]), 0), RuntimeError),
    "functional raises": lambda x: raises(lambda: torch_ext.mydropout(x, 0.5, seed=-1),
                                          ValueError),
}


def growth(call, x, calls, warmup):
    """Resident memory gained over `calls` calls, after `warmup` calls."""
    for _ in range(warmup):
        call(x)
    before = resident_bytes()
    for _ in range(calls):
        call(x)
    return resident_bytes() - before


# Small tensors and many calls show a leak of a few dozen bytes a call (an unfreed tensor
# header, a state tensor): 10000 calls that keep an empty tensor each gain about 4 MiB, sound
# calls less than 0.1 MiB. Larger tensors (past the intra-op grain, so threads run) show a
# leaked buffer at once: 50 calls would keep 25 MiB.
@pytest.mark.parametrize("n, calls, warmup, allowed",
                         [(64, 10_000, 1_000, 1 << 20), (1 << 17, 50, 20, 4 << 20)],
                         ids=["small", "large"])
@pytest.mark.parametrize("kind", list(CALLS))
def test_resident_memory_stays_flat(kind, n, calls, warmup, allowed):
    gained = growth(CALLS[kind], torch.randn(n), calls, warmup)
    assert gained < allowed, f"{gained / 2**20:.1f} MiB more after {calls} calls"


def test_the_bound_catches_a_small_leak():
    kept = []
    assert growth(lambda x: kept.append(torch.empty(2)), None, 10_000, 1_000) >= 1 << 20


@requires_cuda
@pytest.mark.parametrize("kind", list(CALLS))
def test_cuda_allocated_memory_stays_flat(kind):
    x = torch.randn(1 << 16, device="cuda")
    CALLS[kind](x)
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    for _ in range(2000):
        CALLS[kind](x)
    torch.cuda.synchronize()
    gc.collect()
    assert torch.cuda.memory_allocated() == before
