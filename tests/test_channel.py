"""Channel dropout: one draw of the contract per (batch, channel) pair, and torch's shape rules,
errors and warnings for nn.Dropout1d/2d/3d."""

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torch_ext
from conftest import DTYPES, off_alignment, requires_cuda, saved_tensors, seeded_randn
from reference import apply_mask, assert_same_bits, keep_mask


def channel_keep(x, p, seed, offset, first_index=0):
    """The keep decision of each element: pair n * C + c's draw, spread over its channel."""
    n, c = x.shape[:2]
    keep = keep_mask(torch.empty(n * c), p, seed, offset, first_index)
    return keep.view(n, c, *[1] * (x.dim() - 2)).expand(x.shape)


def channel_dropout(x, p, seed, offset, first_index=0):
    return apply_mask(x, channel_keep(x, p, seed, offset, first_index), p)


INPUTS = ["contiguous", "channels_last", "channels_last, many rows", "transposed",
          "batch inside channels", "sliced", "expanded", "pairs only", "pairs only, sliced",
          "pairs only, transposed", "pairs only, channels_last", "empty channels"]


def make_input(name, device, dtype):
    """An input of the named layout, made on the device in the dtype."""
    randn = seeded_randn(device, dtype)

    def base():
        return randn(3, 5, 4, 6)

    return {
        "contiguous": base,
        "channels_last": lambda: base().contiguous(memory_format=torch.channels_last),
        # more rows a batch than one run of csrc/channels.c takes, and a part run after them
        "channels_last, many rows":
            lambda: randn(2, 3, 19, 20).contiguous(memory_format=torch.channels_last),
        "transposed": lambda: base().transpose(2, 3),
        "batch inside channels":
            lambda: base().permute(1, 0, 2, 3).contiguous().permute(1, 0, 2, 3),
        "sliced": lambda: base()[:, 1:, ::2],
        "expanded": lambda: randn(3, 1, 6).expand(3, 4, 6),
        "pairs only": lambda: randn(7, 9),
        "pairs only, sliced": lambda: randn(7, 18)[:, ::2],
        "pairs only, transposed": lambda: randn(9, 7).t(),
        "pairs only, channels_last":
            lambda: randn(7, 9, 1, 1).contiguous(memory_format=torch.channels_last),
        "empty channels": lambda: randn(2, 3, 0),
    }[name]()


@pytest.mark.parametrize("name", INPUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_matches_reference(device, name, dtype):
    x = make_input(name, device, dtype)
    for seed, offset, first_index in ((0, 0, 0), (2**64 - 1, 7, 5), (12345, 2**40, 2**33)):
        y = torch_ext.mydropout_channels(x, 0.3, seed=seed, offset=offset,
                                         first_index=first_index)
        assert y.stride() == torch.empty_like(x).stride()
        assert_same_bits(y, channel_dropout(x.cpu(), 0.3, seed, offset, first_index))


# In place, in the input's own memory, whatever its layout (the expanded input is refused:
# tests/test_crash.py).
@pytest.mark.parametrize("name", [name for name in INPUTS if name != "expanded"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_inplace_matches_reference(device, name, dtype):
    x = make_input(name, device, dtype)
    expected = channel_dropout(x.cpu(), 0.3, 2**64 - 1, 7, 5)
    stride, address = x.stride(), x.data_ptr()
    y = torch_ext.mydropout_channels(x, 0.3, inplace=True, seed=2**64 - 1, offset=7,
                                     first_index=5)
    assert y is x and x.stride() == stride and x.data_ptr() == address
    assert_same_bits(x, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_data_pointer_off_its_element_alignment(dtype):
    def inputs():
        pair_major = off_alignment(torch.randn(3, 5, 4, 6, generator=gen).to(dtype))
        channels_last = off_alignment(torch.randn(3, 4, 6, 5, generator=gen).to(dtype))
        return pair_major, channels_last.permute(0, 3, 1, 2)

    gen = torch.Generator().manual_seed(0)
    for x in inputs():
        assert_same_bits(torch_ext.mydropout_channels(x, 0.3, seed=2, offset=3),
                         channel_dropout(x, 0.3, 2, 3))
    gen.manual_seed(0)
    for x in inputs():
        expected = channel_dropout(x, 0.3, 2, 3)
        torch_ext.mydropout_channels(x, 0.3, inplace=True, seed=2, offset=3)
        assert_same_bits(x, expected)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("dtype", DTYPES)
def test_channels_of_length_one_are_mydropout(p, dtype):
    x = torch.randn(40, 25, 1).to(dtype)
    assert_same_bits(torch_ext.mydropout_channels(x, p, seed=3, offset=1),
                     torch_ext.mydropout(x, p, seed=3, offset=1))


def test_dropped_channels_are_exact_zero_whatever_x():
    x = torch.tensor([float("nan"), float("inf"), -1.0, -0.0]).repeat(64, 1).view(64, 1, 4)
    y = torch_ext.mydropout_channels(x, 0.5, seed=9)
    dropped = ~channel_keep(x, 0.5, 9, 0)
    assert dropped.any()
    assert torch.equal(y[dropped].view(torch.int32), torch.zeros_like(y[dropped]).view(torch.int32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_applies_the_forward_mask_and_saves_only_the_state(device, dtype):
    x = torch.randn(4, 6, 5, 3).to(device=device, dtype=dtype).requires_grad_()
    grad = torch.randn(x.shape).to(device=device, dtype=dtype)
    y, saved = saved_tensors(lambda: torch_ext.mydropout_channels(x, 0.4, seed=8, offset=2))
    (gx,) = torch.autograd.grad(y, x, grad.contiguous(memory_format=torch.channels_last))
    assert_same_bits(gx, apply_mask(grad, channel_keep(x, 0.4, 8, 2), 0.4))
    assert [(t.dtype, t.numel()) for t in saved] == [(torch.int64, 2)]


def test_gradcheck_and_gradgradcheck(device):
    x = torch.randn(3, 4, 2, dtype=torch.float64, device=device, requires_grad=True)

    def f(t):
        return torch_ext.mydropout_channels(t, 0.5, seed=1, offset=4)

    # forward mode and batched too: torch_ext/transforms.py
    assert torch.autograd.gradcheck(f, (x,), check_forward_ad=True, check_batched_grad=True,
                                    check_batched_forward_grad=True)
    assert torch.autograd.gradgradcheck(f, (x,), check_fwd_over_rev=True)


def test_default_generator_follows_manual_seed():
    x = torch.ones(64, 32, 3)
    torch.manual_seed(5)
    a = torch_ext.MyDropout1d(0.5)(x)
    torch.manual_seed(5)
    assert torch.equal(a, torch_ext.mydropout1d(x, 0.5))
    assert not torch.equal(a, torch_ext.mydropout1d(x, 0.5))


def test_shards_of_the_batch_concatenate_to_the_whole():
    x = torch.randn(10, 7, 5)
    whole = torch_ext.mydropout1d(x, 0.5, seed=5, offset=1)
    shards = [
        torch_ext.mydropout1d(x[start:stop], 0.5, seed=5, offset=1, first_index=start * 7)
        for start, stop in ((0, 3), (3, 4), (4, 10))
    ]
    assert_same_bits(torch.cat(shards), whole)


@pytest.mark.parametrize("ours, theirs, shape", [
    (torch_ext.mydropout1d, F.dropout1d, (4, 6)),
    (torch_ext.mydropout3d, F.dropout3d, (4, 3, 2, 2)),
])
def test_unbatched_input_is_a_batch_of_one(ours, theirs, shape):
    x = torch.randn(shape)
    y = ours(x, 0.5, seed=6)
    assert y.shape == theirs(x, 0.5).shape
    assert_same_bits(y, torch_ext.mydropout_channels(x.unsqueeze(0), 0.5, seed=6).squeeze(0))


@pytest.mark.parametrize("shape", [(4, 6), (2, 4, 6)])
def test_inplace_returns_the_input_and_gradient_flows(shape):
    x = torch.rand(shape) + 1  # no zeros: the mask is read from the output
    expected = torch_ext.mydropout1d(x, 0.5, seed=2)
    assert torch_ext.mydropout1d(x, 0.5, inplace=True, seed=2) is x
    assert_same_bits(x, expected)
    leaf = torch.randn(shape, requires_grad=True)
    h = leaf * 1
    torch_ext.mydropout1d(h, 0.5, inplace=True, seed=2).sum().backward()
    assert_same_bits(leaf.grad, (expected != 0).float() * 2)


OURS_AND_THEIRS = [
    (torch_ext.mydropout1d, F.dropout1d),
    (torch_ext.mydropout2d, F.dropout2d),
    (torch_ext.mydropout3d, F.dropout3d),
]


def outcome(f, x, **kwargs):
    """(output shape or the exception's type and text, the warnings' texts)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = tuple(f(x, 0.5, **kwargs).shape)
        except Exception as e:  # noqa: BLE001  (what torch raises is what we compare)
            result = (type(e), str(e))
    return result, [str(w.message) for w in caught]


@pytest.mark.parametrize("ours, theirs", OURS_AND_THEIRS)
@pytest.mark.parametrize("dim", range(6))
@pytest.mark.parametrize("training", [True, False])
def test_shape_rules_errors_and_warnings_are_torchs(ours, theirs, dim, training):
    x = torch.randn([3] * dim)
    assert outcome(ours, x, training=training) == outcome(theirs, x, training=training)


@pytest.mark.parametrize("ours, dim", list(zip([f for f, _ in OURS_AND_THEIRS], (3, 4, 5))))
def test_a_wrong_keyword_is_refused_in_the_callers_name(ours, dim):
    x = torch.randn([2] * dim)
    with pytest.raises(TypeError, match=rf"^{ours.__name__}\(\) got an unexpected keyword "
                                        r"argument 'sed'$"):
        ours(x, 0.5, sed=1)
    assert torch.equal(ours(x, 0.5, seed=1, offset=2, first_index=3, generator=None),
                       torch_ext.mydropout_channels(x, 0.5, seed=1, offset=2, first_index=3))


def test_warning_points_at_the_caller():
    with pytest.warns(UserWarning) as caught:
        torch_ext.mydropout2d(torch.randn(2, 3), 0.5)
    assert caught[0].filename == __file__


@pytest.mark.parametrize("ours, theirs, dim", [
    (torch_ext.MyDropout1d, nn.Dropout1d, 3),
    (torch_ext.MyDropout2d, nn.Dropout2d, 4),
    (torch_ext.MyDropout3d, nn.Dropout3d, 5),
])
def test_modules_are_drop_ins(ours, theirs, dim):
    m = ours(0.2, inplace=True)
    assert isinstance(m, theirs) and repr(m) == repr(theirs(0.2, True)).replace("Dropout",
                                                                                "MyDropout")
    assert list(m.parameters()) == [] and list(m.buffers()) == []
    x = torch.randn([2] * dim)
    assert m.eval()(x) is x
    torch.manual_seed(1)
    y = m.train()(x.clone())
    torch.manual_seed(1)
    assert torch.equal(y, torch_ext.mydropout_channels(x, 0.2))
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        ours(1.5)


@pytest.mark.parametrize("call, exception, message", [
    (lambda: torch_ext.mydropout_channels(torch.ones(2, 3, dtype=torch.int64)), TypeError, "Long"),
    (lambda: torch_ext.mydropout_channels(torch.randn(3)), RuntimeError, "at least 2 dimensions"),
    (lambda: torch_ext.mydropout_channels(torch.randn(2, 3, 4), seed=1, first_index=2**63 - 6),
     ValueError, "first_index"),
    (lambda: torch_ext.mydropout2d(torch.randn(2, 3, 4, 5), seed=1, generator=torch.Generator()),
     ValueError, "not both"),
    (lambda: torch_ext.MyDropout3d(float("nan")), ValueError, "between 0 and 1"),
])
def test_bad_input(call, exception, message):
    with pytest.raises(exception, match=message):
        call()


def test_opcheck():
    state = torch.tensor([3, 4])
    for x in (
        torch.randn(5, 6, 3, requires_grad=True),
        torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last),
        torch.randn(0, 4, dtype=torch.bfloat16),
    ):
        torch.library.opcheck(torch.ops.torch_ext.mydropout_channels.default, (x, 0.5, state, 3))
        # The first's clone is a non-leaf that requires grad, for opcheck's autograd check (in
        # place refuses a leaf that does).
        torch.library.opcheck(torch.ops.torch_ext.mydropout_channels_.default,
                              (x.clone(), 0.5, state, 3))


@requires_cuda
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_equals_cpu(dtype):
    x = torch.randn(8, 16, 33).to(dtype)
    state = torch.tensor([2**62 + 3, 17])
    cpu = torch.ops.torch_ext.mydropout_channels(x, 0.3, state, 5)
    for s in (state, state.cuda()):
        assert_same_bits(torch.ops.torch_ext.mydropout_channels(x.cuda(), 0.3, s, 5), cpu)
        y = x.cuda()
        torch.ops.torch_ext.mydropout_channels_(y, 0.3, s, 5)
        assert_same_bits(y, cpu)


def test_first_index_is_bounded_by_the_pairs_not_the_elements():
    # The channel mask takes one draw per pair: N * C of them, whatever the spatial size.
    x = torch.randn(2, 3, 100)
    last = 2**63 - 7
    assert_same_bits(torch_ext.mydropout_channels(x, 0.3, seed=5, first_index=last),
                     channel_dropout(x, 0.3, 5, 0, last))
    with pytest.raises(ValueError, match=r"\[0, 2\*\*63 - 6\), 6 being the call's mask draws"):
        torch_ext.mydropout_channels(x, 0.3, seed=5, first_index=last + 1)


def test_an_empty_input_of_many_pairs_makes_no_multipliers():
    # 2**48 pairs with no element: a multiplier per pair would take 2**50 bytes.
    x = torch.empty(2**24, 2**24, 0)
    y = torch.ops.torch_ext.mydropout_channels(x, 0.5, torch.tensor([1, 2]), 0)
    assert y.shape == x.shape
