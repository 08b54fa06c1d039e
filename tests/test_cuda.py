"""CUDA against the CPU, bit for bit, and CUDA graphs. Skipped where there is no GPU."""

import os
import pathlib
import sys

import pytest
import torch

import torch_ext
from conftest import DTYPES, make_cuda, requires_cuda, requires_nvcc, saved_tensors
from reference import assert_same_bits, draws

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import host_overhead  # noqa: E402

pytestmark = requires_cuda


@pytest.mark.parametrize("dtype", DTYPES)
# (1 << 23) + 5: a grid of many waves of blocks, and a tail for the per-block kernel
@pytest.mark.parametrize("n", [1, 3, 4, 1023, 1 << 20, (1 << 20) + 7, (1 << 23) + 5])
@pytest.mark.parametrize("first_index", [0, 1, 2**32 - 2])
def test_cuda_equals_cpu_forward_and_backward(dtype, n, first_index):
    x = torch.randn(n, dtype=torch.float64).to(dtype)
    grad = torch.randn(n, dtype=torch.float64).to(dtype)
    outs = {}
    for device in ("cpu", "cuda"):
        xd = x.to(device).requires_grad_()
        y = torch_ext.mydropout(xd, 0.3, seed=2**64 - 2, offset=2**33 + 1,
                                first_index=first_index)
        (gx,) = torch.autograd.grad(y, xd, grad.to(device))
        outs[device] = (y, gx)
    assert_same_bits(outs["cuda"][0], outs["cpu"][0])
    assert_same_bits(outs["cuda"][1], outs["cpu"][1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_equals_cpu_on_special_values(dtype):
    # inf, NaN, -0 and subnormals of each dtype, kept and dropped; a kept NaN may differ in
    # payload only (the mask contract).
    info = torch.finfo(dtype)
    specials = torch.tensor([float("inf"), float("-inf"), float("nan"), -0.0, 0.0,
                             info.tiny / 2, -info.tiny / 4, info.max, -info.max], dtype=dtype)
    x = specials.repeat(1001)
    outs = [torch_ext.mydropout(x.to(device), 0.25, seed=5, offset=1).cpu()
            for device in ("cpu", "cuda")]
    assert_same_bits(outs[1], outs[0])


@pytest.mark.parametrize("dtype, start, first_index", [
    (torch.float32, 1, 1), (torch.float16, 3, 3), (torch.bfloat16, 3, 3), (torch.float64, 1, 3)])
def test_cuda_in_place_with_a_head_before_the_vector_kernel(dtype, start, first_index):
    # In place on a view whose start is off 16 bytes, with a first_index that puts a Philox
    # block on a 16-byte boundary a few elements in: a head for the per-block kernel, units,
    # and a tail (cuda/launch_plan.h), against the CPU.
    base = torch.randn(start + 4106, dtype=torch.float64).to(dtype)
    expected = torch_ext.mydropout(base[start:], 0.3, seed=7, first_index=first_index)
    x = base.cuda()[start:]
    torch_ext.mydropout(x, 0.3, inplace=True, seed=7, first_index=first_index)
    assert_same_bits(x.cpu(), expected)


@pytest.mark.parametrize("p", [1e-9, 1 - 1e-9, 1.0])
@pytest.mark.parametrize("layout", ["channels_last", "transposed"])
def test_cuda_equals_cpu_at_the_ends_of_p(p, layout):
    # p == 1 zeroes the output with a memset, here one in a layout of its own.
    x = torch.randn(2, 3, 5, 7)
    x = (x.contiguous(memory_format=torch.channels_last) if layout == "channels_last"
         else x.transpose(1, 3))
    for op in (torch_ext.mydropout, torch_ext.mydropout_channels):
        expected = op(x, p, seed=3)
        assert_same_bits(op(x.cuda(), p, seed=3).cpu(), expected)
        y = x.cuda()  # in place in x's layout, which .cuda() keeps
        op(y, p, inplace=True, seed=3)
        assert_same_bits(y.cpu(), expected)


def test_cuda_state_on_device_equals_state_on_cpu():
    x = torch.randn(10007, device="cuda")
    state = torch.tensor([123, 456])
    a = torch.ops.torch_ext.mydropout(x, 0.5, state, 0)
    b = torch.ops.torch_ext.mydropout(x, 0.5, state.cuda(), 0)
    assert torch.equal(a, b)


def test_cuda_mask_is_curands_philox_on_a_sample():
    # curand_init(seed, offset, i); curand() is word i % 4 of counter (i / 4, offset).
    n = 1 << 16
    seed, offset = 0x1234_5678_9ABC_DEF0, 77
    y = torch_ext.mydropout(torch.ones(n, device="cuda"), 0.5, seed=seed, offset=offset)
    idx = torch.arange(0, n, 97)
    kept = torch.from_numpy(draws(seed, offset, idx.numpy()) >= 2**31)
    assert torch.equal((y.cpu()[idx] != 0), kept)


@requires_nvcc
def test_cuda_mask_is_curands_own(tmp_path):
    # cuRAND itself, on the GPU, against the kernel's mask (tests/cuda/curand_mask.cu).
    result = make_cuda(tmp_path, "curand", curand=True)
    assert "the CUDA mask is cuRAND's" in result.stdout, result.stdout


@pytest.mark.parametrize("on_cpu", [False, True])
def test_cuda_state_is_the_generators_seed_and_offset_with_bit_63(on_cpu):
    # Bit 63 keeps our counters apart from torch's own random kernels' (cuda/mydropout_cuda.h).
    index = torch.cuda.current_device()  # initializes CUDA, which fills default_generators
    gen = torch.cuda.default_generators[index]
    seed, offset = gen.initial_seed(), gen.get_offset()
    state = torch.ops.torch_ext.philox_state(torch.empty(1, device="cuda"), None, on_cpu)
    assert state.device.type == ("cpu" if on_cpu else "cuda")
    as_uint = [int(v) % 2**64 for v in state.cpu()]
    assert as_uint == [seed, offset | 2**63]
    assert gen.get_offset() == offset + 4


def saved_state_devices(fn):
    """The devices of the int64 tensors that fn's autograd graph saves: the state."""
    return [t.device.type for t in saved_tensors(fn)[1] if t.dtype == torch.int64]


@pytest.mark.parametrize("channels", [False, True])
def test_cuda_eager_call_draws_its_state_to_the_cpu_and_the_same_mask(channels):
    # An eager call keeps its state on the CPU (no launch to write it); the mask is the one
    # the device state of the same draw gives.
    x = torch.randn(4, 8, 33, device="cuda", requires_grad=True)
    fn, op = ((torch_ext.mydropout_channels, torch.ops.torch_ext.mydropout_channels)
              if channels else (torch_ext.mydropout, torch.ops.torch_ext.mydropout))
    torch.manual_seed(3)
    y = fn(x, 0.5)
    assert saved_state_devices(lambda: fn(x, 0.5)) == ["cpu"]
    torch.manual_seed(3)
    state = torch.ops.torch_ext.philox_state(x, None)
    assert state.is_cuda
    assert torch.equal(y, op(x, 0.5, state, 0))


@pytest.mark.parametrize("call, expected", [
    (lambda x: torch_ext.mydropout(x, 0.5), 1),  # the kernel
    (lambda x: torch_ext.mydropout(x, 0.5, inplace=True), 1),
    (lambda x: torch_ext.mydropout2d(x, 0.5), 2),  # the multipliers, the pass
], ids=["out-of-place", "in-place", "channels"])
def test_cuda_eager_forward_launches(call, expected):
    # The state drawn to the CPU takes no launch, the multipliers no tensor of ones. Counted in
    # units of what one kernel of torch's own (neg) shows, should the profiler see a launch
    # both as the runtime's call and the driver's.
    x = torch.randn(8, 16, 32, 32, device="cuda")
    call(x)  # lazy initialisation
    x.neg()

    def launches(fn):
        return host_overhead.launches(host_overhead.profiled(fn, "cuda", 3))

    one = launches(x.neg)
    assert one >= 1
    assert launches(lambda: call(x)) == expected * one


def test_cuda_checkpoint_under_a_mode_around_the_forward_only():
    # The recompute runs outside the mode: its state must be on the device the forward's was.
    from torch.utils.checkpoint import checkpoint
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(4096, device="cuda", requires_grad=True)
    with FlopCounterMode(display=False):
        y = checkpoint(lambda t: torch_ext.mydropout(t, 0.5), x, use_reentrant=False)
    y.backward(torch.ones_like(y))
    assert torch.equal(x.grad != 0, y != 0)


@pytest.mark.cuda_graphs
def test_cuda_state_on_cpu_is_refused_under_capture():
    x = torch.ones(8, device="cuda")
    torch_ext.mydropout(x, 0.5)  # warm-up outside capture
    g = torch.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match=r"on_cpu=True\) is refused under CUDA graph capture"):
        with torch.cuda.graph(g):
            torch.ops.torch_ext.philox_state(x, None, True)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_generator_on_another_gpu_is_refused():
    gen = torch.Generator(device="cuda:1")
    with pytest.raises(RuntimeError, match="generator is on cuda:1"):
        torch_ext.mydropout(torch.ones(8, device="cuda:0"), 0.5, generator=gen)


@pytest.mark.cuda_graphs
def test_cuda_graph_replays_draw_fresh_masks_and_matching_backward():
    x = torch.ones(4096, device="cuda", requires_grad=True)
    g = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):  # warm-up outside capture, as torch asks
            torch_ext.mydropout(x, 0.5).sum().backward()
    torch.cuda.current_stream().wait_stream(stream)
    x.grad = None
    with torch.cuda.graph(g):
        y = torch_ext.mydropout(x, 0.5)
        y.backward(torch.ones_like(y))
    masks = []
    for _ in range(3):
        g.replay()
        torch.cuda.synchronize()
        assert torch.equal(x.grad != 0, y != 0)  # the backward used this replay's mask
        masks.append((y != 0).clone())
        x.grad.zero_()
    assert not torch.equal(masks[0], masks[1]) and not torch.equal(masks[1], masks[2])


@pytest.fixture
def replays(monkeypatch):
    """The CUDA graphs replayed while a test runs, with torch.compile's caches and counters
    reset before it; after it, that no graph was skipped."""
    from torch._dynamo.utils import counters

    replayed = []
    replay = torch.cuda.CUDAGraph.replay
    monkeypatch.setattr(torch.cuda.CUDAGraph, "replay",
                        lambda graph: replayed.append(graph) or replay(graph))
    torch._dynamo.reset()
    counters.clear()
    yield replayed
    assert counters["inductor"]["cudagraph_skips"] == 0


@pytest.mark.cuda_graphs
@pytest.mark.parametrize("seed", [None, 5])
def test_compile_reduce_overhead_keeps_its_cuda_graphs_and_the_mask_contract(seed, replays):
    # torch.compile's own CUDA graphs: after warm-up and recording, each call replays the
    # forward and backward graphs. Drawn, each replay draws its own mask; seeded, eager's.
    f = torch.compile(lambda x: torch_ext.mydropout(x, 0.5, seed=seed), mode="reduce-overhead",
                      fullgraph=True)
    x = torch.ones(4096, device="cuda", requires_grad=True)
    masks = []
    for _ in range(5):
        torch.compiler.cudagraph_mark_step_begin()
        y = f(x)
        (grad,) = torch.autograd.grad(y.sum(), x)
        assert torch.equal(grad != 0, y != 0)  # the backward used this call's mask
        masks.append((y != 0).clone())
    if seed is None:
        assert all(not torch.equal(a, b) for a, b in zip(masks, masks[1:]))
    else:
        eager = torch_ext.mydropout(x.detach(), 0.5, seed=seed) != 0
        assert all(torch.equal(mask, eager) for mask in masks)
    assert len(replays) >= 6  # forward and backward, in 3 calls or more


@pytest.mark.cuda_graphs
def test_compile_reduce_overhead_with_a_seed_per_call_in_a_state_tensor(replays):
    # The README's way to a new seed each call under reduce-overhead: as an int, each new value
    # would record a graph of its own; in a state tensor the graphs are replayed.
    f = torch.compile(lambda x, state: torch.ops.torch_ext.mydropout(x, 0.5, state),
                      mode="reduce-overhead", fullgraph=True)
    x = torch.ones(4096, device="cuda", requires_grad=True)
    state = torch.zeros(2, dtype=torch.int64, device="cuda")
    for seed in range(5):
        state.copy_(torch.tensor([seed, 0]))
        torch.compiler.cudagraph_mark_step_begin()
        y = f(x, state)
        (grad,) = torch.autograd.grad(y.sum(), x)
        eager = torch_ext.mydropout(x.detach(), 0.5, seed=seed)
        assert torch.equal(y, eager) and torch.equal(grad, eager)
    assert len(replays) >= 6


@pytest.mark.slow
def test_cuda_equals_cpu_past_2_pow_31_elements():
    # Every element of a float16 tensor of more than 2**31 elements, out of place and in
    # place, against the CPU; a sample across 2**31 against the reference's draws.
    n = (1 << 31) + 5
    if torch.cuda.get_device_properties(0).total_memory < 5 * n * 2:
        pytest.skip("not enough GPU memory")
    if os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") < 8 * n * 2:
        pytest.skip("not enough host memory")
    x = torch.randn(n, device="cuda", dtype=torch.float16).abs_().add_(1)  # no zeros
    expected = torch_ext.mydropout(x.cpu(), 0.5, seed=9, offset=3)
    y = torch_ext.mydropout(x, 0.5, seed=9, offset=3)
    assert torch.equal(y.cpu().view(torch.int16), expected.view(torch.int16))
    del y
    torch_ext.mydropout(x, 0.5, inplace=True, seed=9, offset=3)
    assert torch.equal(x.cpu().view(torch.int16), expected.view(torch.int16))
    idx = torch.tensor([0, 1, 2**31 - 1, 2**31, 2**31 + 1, n - 1])
    kept = torch.from_numpy(draws(9, 3, idx.numpy()) >= 2**31)
    assert torch.equal(expected[idx] != 0, kept)
