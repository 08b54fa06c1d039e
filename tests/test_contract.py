"""The mask contract, element for element, against the reference in tests/reference.py."""

import numpy as np
import pytest
import torch

import torch_ext
from conftest import DTYPES, off_alignment, seeded_randn
from reference import apply_mask, assert_same_bits, draws, dropout, keep_mask

SEEDS = [0, 1, 0x243F6A8885A308D3, 2**63, 2**64 - 1]
OFFSETS = [0, 7, 2**32 - 1, 2**64 - 1]


LAYOUTS = ["contiguous", "odd-1d", "scalar", "empty", "transposed", "channels_last", "sliced",
           "expanded", "storage-offset"]


def layout(name, device="cpu", dtype=torch.float32, seed=0, n=5):
    """An input of a layout the contract names, made on the device in the dtype; the same seed
    gives the same values."""
    randn = seeded_randn(device, dtype, seed)

    def base():
        return randn(2, 3, n, 7)

    return {
        "contiguous": base,
        "odd-1d": lambda: randn(4 * n + 3),
        "scalar": lambda: randn(),
        "empty": lambda: randn(0, 3),
        "transposed": lambda: base().transpose(1, 3),
        "channels_last": lambda: base().contiguous(memory_format=torch.channels_last),
        "sliced": lambda: base()[:, 1:, ::2],
        "expanded": lambda: randn(3, 1, 7).expand(3, 4, 7),
        "storage-offset": lambda: randn(100)[3:50],
    }[name]()


@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_matches_reference(device, name, dtype):
    x = layout(name, device, dtype)
    for seed, offset in zip(SEEDS, OFFSETS + [3]):
        y = torch_ext.mydropout(x, 0.3, seed=seed, offset=offset)
        assert y.stride() == torch.empty_like(x).stride()
        assert_same_bits(y, dropout(x.cpu(), 0.3, seed, offset))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 63, 64, 65, 127, 1000, 4099, 70001])
@pytest.mark.parametrize("first_index", [0, 1, 2, 3, 2**31 - 2, 2**32 - 3, 2**62 + 1])
def test_odd_sizes_and_first_index(n, first_index):
    x = torch.randn(n)
    y = torch_ext.mydropout(x, 0.5, seed=99, offset=5, first_index=first_index)
    assert_same_bits(y, dropout(x, 0.5, 99, 5, first_index))


@pytest.mark.parametrize("p", [0.0, 1e-9, 0.1, 0.5, 0.9, 1 - 1e-9, 1.0])
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_p(p, dtype):
    x = torch.randn(1031).to(dtype)
    y = torch.ops.torch_ext.mydropout(x, p, torch.tensor([5, 6]), 0)
    assert_same_bits(y, dropout(x, p, 5, 6))


def test_threshold_is_ceil_of_p_times_2_pow_32():
    # Element 10's draw k against thresholds around it: kept iff k >= ceil(p * 2**32). At
    # p * 2**32 = k + 0.25, floor and rounding to nearest would keep it.
    r = draws(3, 4, np.arange(64))
    k = int(r[10])
    x = torch.ones(64)
    for p, kept in [(k / 2**32, True), ((k + 1) / 2**32, False), ((k - 0.5) / 2**32, True),
                    ((k + 0.25) / 2**32, False), ((k + 0.5) / 2**32, False)]:
        y = torch_ext.mydropout(x, p, seed=3, offset=4)
        assert bool(y[10] != 0) == kept, (p * 2**32, k)


def test_special_values_dropped_to_exact_zero_and_kept_scaled():
    x = torch.tensor([float("inf"), float("-inf"), float("nan"), -0.0, 1e-45, 3e38] * 50)
    y = torch_ext.mydropout(x, 0.5, seed=11)
    keep = keep_mask(x, 0.5, 11, 0)
    assert torch.equal(y[~keep].view(torch.int32), torch.zeros_like(y[~keep]).view(torch.int32))
    assert_same_bits(y, dropout(x, 0.5, 11, 0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_flushed_subnormals_follow_torchs_own_mode(dtype):
    # torch.set_flush_denormal sets the calling thread only: one thread, so all of x is on it.
    x = torch.tensor([1e-39, -2e-39, 1.0, 3e-39] * 64, dtype=dtype)
    keep = keep_mask(x, 0.25, 5, 0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if not torch.set_flush_denormal(True):
            pytest.skip("this CPU cannot flush subnormals")
        y = torch_ext.mydropout(x, 0.25, seed=5)
        expected = torch.where(keep, x.float() * (1 / 0.75), 0).to(dtype)
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads)
    assert torch.equal(expected[::4], torch.zeros(64, dtype=dtype))  # torch flushed them
    assert_same_bits(y, expected)


@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_inplace_equals_out_of_place(device, name, dtype):
    if name == "expanded":
        pytest.skip("in place on an expanded tensor is an error (tests/test_errors.py)")
    x = layout(name, device, dtype)
    expected = torch_ext.mydropout(x, 0.4, seed=21, offset=2)
    y = layout(name, device, dtype)  # x again, in the same layout, in memory of its own
    assert y.stride() == x.stride() and y.storage_offset() == x.storage_offset()
    out = torch_ext.mydropout(y, 0.4, inplace=True, seed=21, offset=2)
    assert out is y
    assert_same_bits(y, expected)


@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_applies_the_forward_mask(device, name, dtype):
    x = layout(name, device, dtype).detach().requires_grad_()
    y = torch_ext.mydropout(x, 0.3, seed=8, offset=9)
    grad = torch.randn(x.shape).to(device=device, dtype=dtype)
    (gx,) = torch.autograd.grad(y, x, grad)
    # The gradient meets the same mask as the forward, whatever its own layout.
    assert_same_bits(gx, apply_mask(grad, keep_mask(x, 0.3, 8, 9), 0.3))


def test_contiguous_grad_for_channels_last_output():
    x = torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = torch_ext.mydropout(x, 0.5, seed=4)
    assert y.is_contiguous(memory_format=torch.channels_last)
    grad = torch.randn(2, 3, 4, 5)  # contiguous, unlike y
    (gx,) = torch.autograd.grad(y, x, grad)
    assert_same_bits(gx, apply_mask(grad, keep_mask(x, 0.5, 4, 0), 0.5))


def test_shards_concatenate_to_the_whole():
    x = torch.randn(10, 13)
    whole = torch_ext.mydropout(x, 0.5, seed=5, offset=1)
    shards = [
        torch_ext.mydropout(part, 0.5, seed=5, offset=1, first_index=start * 13)
        for start, part in ((0, x[:3]), (3, x[3:4]), (4, x[4:]))
    ]
    assert_same_bits(torch.cat(shards), whole)


@pytest.mark.parametrize("dtype", DTYPES)
def test_data_pointer_off_its_element_alignment(dtype):
    # The op copies such an input before the kernels see it (csrc/mydropout.h). This checks the
    # values only: on x86 the kernels gave the right bits through the misaligned pointer too,
    # which C leaves undefined and only UBSan would report.
    x = off_alignment(torch.randn(1031).to(dtype))
    expected = dropout(x, 0.5, 6, 1)
    assert_same_bits(torch_ext.mydropout(x, 0.5, seed=6, offset=1), expected)
    y = off_alignment(x)
    assert torch_ext.mydropout(y, 0.5, inplace=True, seed=6, offset=1) is y
    assert_same_bits(y, expected)
    xg = x.detach().requires_grad_()
    grad = off_alignment(torch.randn(1031).to(dtype))
    (gx,) = torch.autograd.grad(torch_ext.mydropout(xg, 0.5, seed=6, offset=1), xg, grad)
    assert_same_bits(gx, apply_mask(grad, keep_mask(x, 0.5, 6, 1), 0.5))
