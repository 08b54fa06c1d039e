"""An independent reference of the mask contract (README, "Mask contract"), in NumPy.

Written from the contract's text, not from the kernels: Philox4x32 as Salmon et al. define it,
the element index from the layout torch.empty_like gives, the threshold and the scale.
"""

import numpy as np
import torch

_MASK32 = np.uint64(0xFFFFFFFF)
_MULTIPLIERS = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_KEY_BUMPS = (0x9E3779B9, 0xBB67AE85)


def philox4x32(counter, key, rounds=10):
    """Philox4x32-R on arrays of 32-bit words: counter is four arrays, key two ints."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in counter)
    k0, k1 = int(key[0]), int(key[1])
    for r in range(rounds):
        if r:
            k0 = (k0 + _KEY_BUMPS[0]) & 0xFFFFFFFF
            k1 = (k1 + _KEY_BUMPS[1]) & 0xFFFFFFFF
        p0 = _MULTIPLIERS[0] * c0
        p1 = _MULTIPLIERS[1] * c2
        c0, c1, c2, c3 = (
            (p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0),
            p1 & _MASK32,
            (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1),
            p0 & _MASK32,
        )
    return c0, c1, c2, c3


def draws(seed, offset, indices):
    """r_i of the contract for each mask index i (a uint64 array)."""
    i = np.asarray(indices, dtype=np.uint64)
    q = i >> np.uint64(2)
    words = philox4x32(
        (q & _MASK32, q >> np.uint64(32),
         np.full_like(q, offset & 0xFFFFFFFF), np.full_like(q, offset >> 32)),
        (seed & 0xFFFFFFFF, seed >> 32),
    )
    out = np.empty_like(q)
    lane = (i & np.uint64(3)).astype(np.int64)
    for w in range(4):
        out[lane == w] = words[w][lane == w]
    return out


def memory_index(x):
    """Each element's index in the memory order of torch.empty_like(x), as an int64 tensor."""
    stride = torch.empty_like(x, device="cpu").stride()
    n = x.numel()
    return torch.as_strided(torch.arange(n, dtype=torch.int64), x.shape, stride)


def keep_mask(x, p, seed, offset, first_index=0):
    """The contract's keep decision for each element of x (a bool tensor of x's shape)."""
    threshold = int(np.ceil(np.float64(p) * 2.0**32))
    idx = memory_index(x).numpy().astype(np.uint64) + np.uint64(first_index)
    r = draws(seed, offset, idx.reshape(-1)).reshape(idx.shape)
    return torch.from_numpy(r >= np.uint64(threshold)) if x.dim() else torch.tensor(
        bool(r >= threshold))


def apply_mask(x, keep, p):
    """x scaled where keep holds, exact zero elsewhere: the product in float32, rounded once
    to x's dtype, or in double for float64."""
    xc = x.detach().cpu()
    if p == 1:
        kept = xc
    elif x.dtype == torch.float64:
        kept = xc * (1.0 / (1.0 - p))
    else:
        scale = np.float32(1.0 / (1.0 - p))
        with np.errstate(over="ignore"):  # a product past float32's range is inf, as intended
            kept = torch.from_numpy(np.asarray(xc.float().numpy() * scale)).to(x.dtype)
    return torch.where(keep, kept, torch.zeros((), dtype=x.dtype))


def dropout(x, p, seed, offset, first_index=0):
    """The contract's output for x (on the CPU)."""
    return apply_mask(x, keep_mask(x, p, seed, offset, first_index), p)


def assert_same_bits(actual, expected):
    """Equal as stored bits, NaN for NaN (a kept NaN may differ in payload only)."""
    actual, expected = actual.detach().cpu(), expected.detach().cpu()
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    nan = torch.isnan(expected)
    assert torch.equal(torch.isnan(actual), nan)
    ints = {8: torch.int64, 4: torch.int32, 2: torch.int16}[actual.element_size()]
    a = actual.contiguous().view(ints)[~nan]
    e = expected.contiguous().view(ints)[~nan]
    mismatch = (a != e).nonzero()
    assert mismatch.numel() == 0, f"{mismatch.numel()} elements differ, first at {mismatch[:5]}"
