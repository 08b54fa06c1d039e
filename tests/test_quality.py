"""The masks look random: every position keeps at rate 1 - p, neighbouring elements and the
masks of related calls are uncorrelated, and calls do not repeat masks. Each bound would catch a
broken counter layout: a Philox word used twice, q or offset (or their high words) ignored, a
lane compared with the wrong threshold.

The bounds: a kept fraction of n independent draws has standard deviation sqrt(p(1-p)/n), and
the sample correlation of m independent pairs about 1/sqrt(m); each test allows 5 of them. The
seeds are fixed, so a run is deterministic; with sound masks a 5-sigma miss anywhere among the
checks here would have a chance of about 1e-4, and a broken layout misses by far more (two equal
words give a lag-1 correlation of 0.25, against a bound of 0.003)."""

import math

import numpy as np
import pytest
import torch

import torch_ext
from reference import draws

N = 4096  # elements per mask
SEEDS = range(1, 513)


def masks(p=0.5, seeds=SEEDS, n=N, **kwargs):
    """One row per seed: which of n elements the seeded call keeps."""
    x = torch.ones(n)
    return torch.stack([torch_ext.mydropout(x, p, seed=s, **kwargs) != 0 for s in seeds])


def correlation(a, b):
    a, b = a.double().flatten(), b.double().flatten()
    a, b = a - a.mean(), b - b.mean()
    return ((a * b).mean() / (a.square().mean() * b.square().mean()).sqrt()).item()


def uncorrelated(a, b):
    """Whether the elementwise correlation of a and b is within 5 sigma of 0."""
    return abs(correlation(a, b)) < 5 / math.sqrt(a.numel())


@pytest.mark.parametrize("p", [0.3, 0.9])
@pytest.mark.parametrize("period", [4, 64])
def test_every_position_keeps_at_rate_one_minus_p(p, period):
    # Position mod 4 is the Philox word; mod 64 covers a SIMD path's whole unrolled step.
    m = masks(p)
    for r in range(period):
        kept = m[:, r::period].double()
        sigma = math.sqrt(p * (1 - p) / kept.numel())
        assert abs(kept.mean().item() - (1 - p)) < 5 * sigma, (r, kept.mean().item())


@pytest.mark.parametrize("lag", [1, 2, 3, 4, 5, 8, 16, 64, 1024])
def test_neighbouring_elements_are_uncorrelated(lag):
    m = masks()
    assert uncorrelated(m[:, :-lag], m[:, lag:]), correlation(m[:, :-lag], m[:, lag:])


# Pairs of calls that differ in one part of the counter or key only: (what, call a, call b).
RELATED = [
    ("offset + 1", dict(offset=7), dict(offset=8)),
    ("offset + 2**32", dict(offset=7), dict(offset=7 + 2**32)),
    ("first_index + 4 (q + 1)", dict(first_index=0), dict(first_index=4)),
    ("first_index + 2**34 (q + 2**32)", dict(first_index=8), dict(first_index=8 + 2**34)),
]


@pytest.mark.parametrize("what, a, b", RELATED, ids=[r[0] for r in RELATED])
def test_related_calls_have_uncorrelated_masks(what, a, b):
    ma, mb = masks(**a), masks(**b)
    assert uncorrelated(ma, mb), correlation(ma, mb)


@pytest.mark.parametrize("seed_step", [1, 2**32])
def test_related_seeds_have_uncorrelated_masks(seed_step):
    ma, mb = masks(seeds=SEEDS), masks(seeds=[s + seed_step for s in SEEDS])
    assert uncorrelated(ma, mb), correlation(ma, mb)


def test_successive_stateful_calls_are_uncorrelated():
    torch.manual_seed(3)
    x = torch.ones(N)
    m = torch.stack([torch_ext.mydropout(x, 0.5) != 0 for _ in range(1000)])
    assert uncorrelated(m[:-1], m[1:]), correlation(m[:-1], m[1:])


@pytest.mark.parametrize("vary", ["stateful", "seed", "offset"])
def test_no_mask_repeats_in_10000_calls(vary):
    # 128 elements at p = 0.5 carry 128 random bits: any repeat among 10000 sound masks has a
    # chance of about 10000**2 / 2**129.
    torch.manual_seed(5)
    x = torch.ones(128)
    args = {"stateful": lambda i: {}, "seed": lambda i: {"seed": i},
            "offset": lambda i: {"seed": 9, "offset": i}}[vary]
    m = torch.stack([torch_ext.mydropout(x, 0.5, **args(i)) != 0 for i in range(10_000)])
    assert torch.unique(m, dim=0).shape[0] == 10_000


def test_the_bounds_catch_broken_layouts():
    # Masks of the reference's draws (p = 0.5) with the index mangled as a broken kernel would,
    # against the tests above meant for them. (A lost offset, seed or high word gives equal
    # masks, correlation 1, and needs no demonstration.)
    seeds, i = range(1, 65), np.arange(N, dtype=np.uint64)

    def reference_masks(index):
        return torch.from_numpy(np.stack([draws(s, 7, index(i)) >= 2**31 for s in seeds]))

    q_ignored = reference_masks(lambda i: i % 4)
    assert not uncorrelated(q_ignored[:, :-4], q_ignored[:, 4:])
    word_1_is_word_0 = reference_masks(lambda i: i - (i % 4 == 1))
    assert not uncorrelated(word_1_is_word_0[:, :-1], word_1_is_word_0[:, 1:])
    sound = reference_masks(lambda i: i)
    assert uncorrelated(sound[:, :-1], sound[:, 1:]) and uncorrelated(sound[:, :-4], sound[:, 4:])
