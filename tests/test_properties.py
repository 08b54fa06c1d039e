"""Property-based: random shapes, layouts, dtypes, p, seeds, offsets and first_index, in place or
not, forward and backward, each compared bit for bit with tests/reference.py. The examples are
fixed (the "ci" profile of conftest.py); most are small, the explicit ones large."""

from dataclasses import dataclass

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import torch_ext
from conftest import DTYPES
from reference import apply_mask, assert_same_bits, dropout, keep_mask

LAYOUTS = ["contiguous", "transposed", "channels_last", "sliced", "expanded-sliced"]
U64 = st.integers(0, 2**64 - 1)
P = st.one_of(st.sampled_from([0.0, 1.0, 0.5, 2**-32, 1 - 2**-32]), st.floats(0, 1))
# Small ones, ones that cross 2**31 and 2**32 within a tensor, and any up to 2**62 (the largest
# tensor here has fewer than 2**62 elements, so first_index + numel stays below 2**63).
FIRST_INDEX = st.one_of(st.integers(0, 300),
                        st.sampled_from([2**31, 2**32, 2**33]).flatmap(
                            lambda b: st.integers(b - 3000, b + 3)),
                        st.integers(0, 2**62))


@dataclass(frozen=True)
class Spec:
    """How to build an input: its layout, shape, dtype, and a seed for its values."""
    layout: str
    shape: tuple
    dtype: torch.dtype
    values: int


@st.composite
def specs(draw, dtypes=DTYPES):
    layout = draw(st.sampled_from(LAYOUTS))
    min_dims = {"transposed": 2, "channels_last": 4, "expanded-sliced": 1}.get(layout, 0)
    ndim = 4 if layout == "channels_last" else draw(st.integers(min_dims, 4))
    # Small sizes, at most one larger one and now and then a zero: fewer than 100K elements,
    # so each example takes milliseconds. (Hypothesis favours small integers, and so 0 below.)
    shape = [draw(st.integers(1, 6)) for _ in range(ndim)]
    if ndim and draw(st.integers(0, 2)) == 0:
        shape[draw(st.integers(0, ndim - 1))] = draw(st.integers(7, 400))
    if ndim and draw(st.integers(0, 9)) == 9:
        shape[draw(st.integers(0, ndim - 1))] = 0
    return Spec(layout, tuple(shape), draw(st.sampled_from(dtypes)), draw(st.integers(0, 2**32)))


def make(spec):
    """A fresh tensor of spec's shape, dtype and layout (the same values for the same spec),
    with some infinities, NaNs and signed zeros among normal values."""
    g = torch.Generator().manual_seed(spec.values)
    shape = list(spec.shape)

    def values(size):
        v = torch.randn(size, generator=g, dtype=torch.float64) * 10.0 ** torch.randint(
            -3, 4, size, generator=g)
        special = torch.randint(0, 64, size, generator=g)
        v[special == 0] = float("inf")
        v[special == 1] = float("-inf")
        v[special == 2] = float("nan")
        v[special == 3] = -0.0
        return v.to(spec.dtype)

    if spec.layout == "contiguous":
        return values(shape)
    if spec.layout == "transposed":  # every dimension's order reversed
        return values(shape[::-1]).permute(list(range(len(shape)))[::-1])
    if spec.layout == "channels_last":
        return values(shape).contiguous(memory_format=torch.channels_last)
    if spec.layout == "sliced":
        base = values([2 * s + 1 for s in shape])
        return base[tuple(slice(1, None, 2) for _ in shape)]
    # expanded-sliced: dimension 0 has stride 0, and the others are sliced
    base = values([1] + [s + 2 for s in shape[1:]])
    grown = base.expand([shape[0] + 3] + list(base.shape[1:]))
    return grown[(slice(2, 2 + shape[0]),) + tuple(slice(1, -1) for _ in shape[1:])]


def shares_memory(x):
    return x.numel() > 0 and any(st == 0 and n > 1 for st, n in zip(x.stride(), x.shape))


def test_make_gives_each_layout():
    x = make(Spec("sliced", (3, 4), torch.float32, 0))
    assert x.shape == (3, 4) and not x.is_contiguous()
    x = make(Spec("transposed", (2, 3, 5), torch.float32, 0))
    assert x.shape == (2, 3, 5) and x.stride() == (1, 2, 6)
    x = make(Spec("channels_last", (2, 3, 4, 5), torch.float32, 0))
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    x = make(Spec("expanded-sliced", (4, 3), torch.float32, 0))
    assert x.shape == (4, 3) and x.stride() == (0, 1) and shares_memory(x)
    assert_same_bits(make(Spec("sliced", (30, 40), torch.float16, 9)),
                     make(Spec("sliced", (30, 40), torch.float16, 9)))


@settings(max_examples=300)
@given(spec=specs(), p=P, seed=U64, offset=U64, first_index=FIRST_INDEX, inplace=st.booleans())
@example(spec=Spec("sliced", (1500, 2001), torch.float16, 1), p=0.3, seed=2**64 - 1,
         offset=2**63, first_index=2**32 - 5, inplace=True)
@example(spec=Spec("channels_last", (4, 30, 100, 250), torch.float32, 2), p=0.9, seed=0,
         offset=2**32, first_index=2**31 - 17, inplace=False)
def test_forward(spec, p, seed, offset, first_index, inplace):
    x = make(spec)
    expected = dropout(x, p, seed, offset, first_index)
    kwargs = dict(seed=seed, offset=offset, first_index=first_index)
    if inplace and p > 0 and shares_memory(x):
        with pytest.raises(RuntimeError, match="share memory"):
            torch_ext.mydropout(x, p, inplace=True, **kwargs)
        return
    y = torch_ext.mydropout(x, p, inplace=inplace, **kwargs)
    if inplace or p == 0:
        assert y is x
    else:
        assert y.stride() == torch.empty_like(x).stride()
    assert_same_bits(y, expected)


@settings(max_examples=300)
@given(spec=specs(), p=P, seed=U64, offset=U64, first_index=FIRST_INDEX, inplace=st.booleans(),
       grad_transposed=st.booleans())
@example(spec=Spec("transposed", (700, 3, 1500), torch.bfloat16, 3), p=0.5, seed=7,
         offset=2**64 - 1, first_index=2**33 - 1000, inplace=True, grad_transposed=False)
def test_backward(spec, p, seed, offset, first_index, inplace, grad_transposed):
    # A leaf with the layout's own strides.
    x = make(spec).detach().requires_grad_()
    shape = list(x.shape)
    g = make(Spec("transposed" if grad_transposed and x.dim() >= 2 else "contiguous",
                  tuple(shape), spec.dtype, spec.values + 1))
    kwargs = dict(seed=seed, offset=offset, first_index=first_index)
    if inplace:
        # In place on a copy (a leaf that requires grad is refused): the mask follows the copy's
        # layout.
        s = x.clone()
        keep = keep_mask(s, p, seed, offset, first_index)
        y = torch_ext.mydropout(s, p, inplace=True, **kwargs)
    else:
        keep = keep_mask(x, p, seed, offset, first_index)
        y = torch_ext.mydropout(x, p, **kwargs)
    (gx,) = torch.autograd.grad(y, x, g)
    expected = apply_mask(g, keep, p)
    assert_same_bits(gx, expected)
