"""Indexing past 2**31 and 2**32 elements (and where the Philox counter's words carry): small
tensors placed there with first_index, against the reference, and one real CPU tensor of more
than 2**31 elements."""

import math

import pytest
import torch

import torch_ext
from conftest import DTYPES
from reference import apply_mask, assert_same_bits, dropout, keep_mask

# Where 32-bit element indices overflow (2**31 signed, 2**32 unsigned), and where q = i // 4
# fills its low 32-bit word (2**34).
BOUNDARIES = [2**31, 2**32, 2**33, 2**34, 2**35]
N = 70_001  # past the intra-op grain, so two threads each start a chunk of their own


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("before", [1, 2, 3, 4, 5, 63, 64, 65, 32_768, N - 1])
def test_tensor_across_a_boundary(boundary, before):
    # The tensor's element `before` has mask index `boundary`.
    x = torch.randn(N)
    y = torch_ext.mydropout(x, 0.5, seed=2**64 - 1 - before, offset=boundary,
                            first_index=boundary - before)
    assert_same_bits(y, dropout(x, 0.5, 2**64 - 1 - before, boundary, boundary - before))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("boundary", BOUNDARIES + [2**63 - 1 - N])
def test_every_dtype_in_place_and_backward_across_a_boundary(dtype, boundary):
    first_index = boundary - 1000 if boundary < 2**62 else boundary
    x = torch.randn(N, dtype=torch.float64).to(dtype)
    expected = dropout(x, 0.3, 5, 2**32 - 1, first_index)
    y = x.clone()
    torch_ext.mydropout(y, 0.3, inplace=True, seed=5, offset=2**32 - 1, first_index=first_index)
    assert_same_bits(y, expected)
    xg = x.clone().requires_grad_()
    torch_ext.mydropout(xg, 0.3, seed=5, offset=2**32 - 1, first_index=first_index).backward(x)
    assert_same_bits(xg.grad, expected)


def test_last_index_of_the_int64_range():
    # first_index + numel < 2**63: the last element's index is 2**63 - 2, the largest allowed.
    x = torch.randn(10)
    y = torch_ext.mydropout(x, 0.5, seed=3, first_index=2**63 - 11)
    assert_same_bits(y, dropout(x, 0.5, 3, 0, 2**63 - 11))


@pytest.mark.slow
def test_tensor_of_more_than_2_pow_31_elements():
    # float16 in place: 4.3 GB, and no second tensor of that size.
    n, p, seed, offset = 2**31 + 2**20 + 3, 0.25, 2**64 - 3, 2**32 + 5
    x = torch.ones(n, dtype=torch.float16)
    torch_ext.mydropout(x, p, inplace=True, seed=seed, offset=offset)
    g = torch.Generator().manual_seed(0)
    starts = [0, 2**31 - 4096, 2**31 - 64, 2**31 - 1, 2**31, n - 4096, n - 65]
    starts += torch.randint(0, n - 4096, (20,), generator=g).tolist()
    for a in starts:
        window = torch.ones(min(4096, n - a), dtype=torch.float16)
        assert_same_bits(x[a:a + len(window)], apply_mask(
            window, keep_mask(window, p, seed, offset, first_index=a), p))
    # Every element was written: the kept fraction over all of them is 1 - p within 5 sigma (an
    # untouched stretch of ones would count as kept, 2**20 of them as 12 sigma).
    kept = torch.count_nonzero(x).item()
    assert abs(kept - n * (1 - p)) < 5 * math.sqrt(n * p * (1 - p))
