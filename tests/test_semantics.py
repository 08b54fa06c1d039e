"""What a user of F.dropout expects: statistics, train/eval, p = 0 and 1, the random state."""

import math
import warnings

import numpy as np
import pytest
import torch

import torch_ext
from conftest import DTYPES
from reference import assert_same_bits


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_drop_fraction_within_5_sigma(device, p):
    # Seeded here and below, so that the outcome does not change as other tests come and go.
    n = 1 << 20
    y = torch_ext.mydropout(torch.ones(n, device=device), p, seed=1)
    dropped = (y == 0).sum().item()
    sigma = math.sqrt(n * p * (1 - p))
    assert abs(dropped - n * p) < 5 * sigma


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_mean_is_preserved(device, p):
    n = 1 << 20
    x = torch.rand(n, generator=torch.Generator().manual_seed(2), dtype=torch.float64) + 0.5
    y = torch_ext.mydropout(x.to(device), p, seed=3).cpu()
    # Var(y_i) = x_i**2 * p / (1 - p); the mean of n of them within 5 sigma of x's mean
    sigma = math.sqrt((x**2).mean().item() * p / (1 - p) / n)
    assert abs(y.mean().item() - x.mean().item()) < 5 * sigma


def test_kept_values_are_scaled(device):
    x = torch.rand(1000, device=device) + 1
    y = torch_ext.mydropout(x, 0.2)
    kept = y != 0
    assert kept.any()
    assert torch.equal(y[kept], x[kept] * torch.tensor(1 / 0.8, dtype=torch.float32))


@pytest.mark.parametrize("dtype", DTYPES + [torch.int64])
def test_eval_and_p0_return_the_input(device, dtype):
    x = torch.ones(10, device=device).to(dtype)
    assert torch_ext.mydropout(x, 0.5, training=False) is x
    assert torch_ext.mydropout(x, 0.0) is x
    assert torch_ext.mydropout(x, 0.0, inplace=True) is x


def test_an_empty_input_is_returned_and_draws_nothing(device):
    # As F.dropout: the input itself, even of a dtype that training refuses, and no draw.
    g = torch.Generator(device).manual_seed(1)
    before = g.get_state()
    for x in (torch.empty(0, 3, device=device),
              torch.empty(2, 0, 4, dtype=torch.int64, device=device)):
        assert torch_ext.mydropout(x, 0.5, generator=g) is x
        assert torch_ext.mydropout(x, 0.5, inplace=True, generator=g) is x
        assert torch_ext.mydropout_channels(x, 0.5, generator=g) is x
        assert torch_ext.MyDropout(0.5)(x) is x
    assert torch.equal(g.get_state(), before)


def test_a_seeded_call_keeps_its_state_on_the_cpu_whatever_the_default_device():
    x = torch.randn(4, 5, 6)
    expected = [torch_ext.mydropout(x, 0.5, seed=3), torch_ext.mydropout1d(x, 0.5, seed=3)]
    with torch.device("meta"):
        assert_same_bits(torch_ext.mydropout(x, 0.5, seed=3), expected[0])
        assert_same_bits(torch_ext.mydropout1d(x, 0.5, seed=3), expected[1])


def test_eval_returns_even_the_inputs_that_training_refuses():
    # Sparse and nested tensors are refused in training (tests/test_errors.py); nn.Dropout
    # returns them unchanged in eval mode, and so do we.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nested tensors are a prototype, sparse CSR a beta
        inputs = (torch.eye(3).to_sparse(), torch.eye(3).to_sparse_csr(),
                  torch.nested.nested_tensor([torch.randn(2), torch.randn(3)]))
    for x in inputs:
        assert torch_ext.mydropout(x, 0.5, training=False) is x
        assert torch_ext.MyDropout(0.5).eval()(x) is x
        assert torch_ext.mydropout_channels(x, 0.5, training=False) is x


@pytest.mark.parametrize("dtype", DTYPES)
def test_p1_gives_zeros_even_for_inf_and_nan(device, dtype):
    x = torch.tensor([1.0, float("inf"), float("-inf"), float("nan")] * 9, device=device)
    x = x.to(dtype)
    y = torch_ext.mydropout(x, 1.0)
    assert_same_bits(y, torch.zeros_like(x))
    z = x.clone()
    torch_ext.mydropout(z, 1.0, inplace=True)
    assert_same_bits(z, torch.zeros_like(x))


def test_manual_seed_reproduces_a_run(device):
    x = torch.randn(4096, device=device)
    torch.manual_seed(1234)
    a = [torch_ext.mydropout(x, 0.5) for _ in range(3)]
    torch.manual_seed(1234)
    b = [torch_ext.mydropout(x, 0.5) for _ in range(3)]
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    # and successive calls draw fresh masks
    assert not torch.equal(a[0] == 0, a[1] == 0)


def test_generator_argument(device):
    x = torch.ones(4096, device=device)
    g1 = torch.Generator(device=device).manual_seed(5)
    g2 = torch.Generator(device=device).manual_seed(5)
    assert torch.equal(torch_ext.mydropout(x, generator=g1), torch_ext.mydropout(x, generator=g2))
    # the default generator is left alone
    torch.manual_seed(0)
    before = torch.randint(1 << 30, (1,), device=device)
    torch.manual_seed(0)
    torch_ext.mydropout(x, generator=g1)
    assert torch.equal(torch.randint(1 << 30, (1,), device=device), before)


def test_stateful_calls_never_share_state(device):
    x = torch.ones(8, device=device)
    states = [tuple(torch.ops.torch_ext.philox_state(x).tolist()) for _ in range(1000)]
    # On the CPU both words are drawn per call; on CUDA the seed is the generator's, and the
    # offset is new per call.
    assert len({offset for _, offset in states}) == 1000
    if device == "cpu":
        assert len({seed for seed, _ in states}) == 1000


def test_numpy_integers_for_seed_offset_and_first_index():
    x = torch.randn(1000)
    expected = torch_ext.mydropout(x, 0.5, seed=2**63 + 5, offset=7, first_index=9)
    for seed, offset, first_index in ((np.uint64(2**63 + 5), np.uint32(7), np.int16(9)),
                                      (np.uint64(2**63 + 5), np.int64(7), np.uint8(9))):
        assert torch.equal(torch_ext.mydropout(x, 0.5, seed=seed, offset=offset,
                                               first_index=first_index), expected)


def test_seeded_call_is_stateless(device):
    x = torch.randn(1000, device=device)
    torch.manual_seed(0)
    a = torch_ext.mydropout(x, 0.5, seed=77, offset=3)
    after = torch.rand(1, device=device)
    torch.manual_seed(0)
    b = torch_ext.mydropout(x, 0.5, seed=77, offset=3)
    assert torch.equal(a, b)
    assert torch.equal(torch.rand(1, device=device), after)  # the generator was not touched


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_mask_for_every_dtype(device, dtype):
    x = torch.rand(5000, device=device) + 1
    ref = torch_ext.mydropout(x, 0.5, seed=3) != 0
    assert torch.equal(torch_ext.mydropout(x.to(dtype), 0.5, seed=3) != 0, ref)


@pytest.mark.usefixtures("num_threads")
@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_invariance(dtype):
    x = torch.randn((1 << 20) + 13).to(dtype)
    results = []
    for threads in (1, 2, 3, 4):
        torch.set_num_threads(threads)
        results.append(torch_ext.mydropout(x, 0.5, seed=10))
        y = x.clone()
        torch_ext.mydropout(y, 0.5, inplace=True, seed=10)
        results.append(y)
    for r in results[1:]:
        assert_same_bits(r, results[0])


def test_inplace_returns_its_input_and_writes_it(device):
    x = torch.randn(1000, device=device)
    expected = torch_ext.mydropout(x, 0.5, seed=1)
    assert torch_ext.mydropout(x, 0.5, inplace=True, seed=1) is x
    assert torch.equal(x, expected)
