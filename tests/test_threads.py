"""Many Python threads calling the ops at once on CPU tensors (the ops release the GIL, and each
call may itself fan out to torch's intra-op threads): no crash, seeded results exactly those of
one thread, and stateful calls that never share Philox counters."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

import torch_ext
from conftest import DTYPES
from reference import assert_same_bits

THREADS = 8


def in_threads(work):
    """work(k) for k in range(THREADS), all started together; their results in order."""
    barrier = threading.Barrier(THREADS)

    def start(k):
        barrier.wait()
        return work(k)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(start, range(THREADS)))


def inputs():
    """Sizes from one element to past the intra-op grain (a parallel_for inside each call)."""
    g = torch.Generator().manual_seed(0)
    sizes = [1, 63, 4099, 100_003, 300_007]
    return [torch.randn(n, generator=g).to(DTYPES[i % len(DTYPES)]) for i, n in enumerate(sizes)]


def seeded_calls(k, xs, rounds=4):
    """Thread k's seeded forwards, in-place calls and backwards, each with its own seed."""
    out = []
    for r in range(rounds):
        for j, x in enumerate(xs):
            seed = (k * rounds + r) * 2**40 + j
            out.append(torch_ext.mydropout(x, 0.3, seed=seed, offset=r, first_index=j))
            y = x.clone()
            torch_ext.mydropout(y, 0.6, inplace=True, seed=seed)
            out.append(y)
            xg = x.detach().requires_grad_()
            torch_ext.mydropout(xg, 0.5, seed=seed, offset=1).backward(torch.ones_like(x))
            out.append(xg.grad)
    return out


def test_seeded_calls_in_threads_equal_one_thread():
    xs = inputs()
    expected = [seeded_calls(k, xs) for k in range(THREADS)]
    for got, want in zip(in_threads(lambda k: seeded_calls(k, xs)), expected):
        assert len(got) == len(want)
        for i, (a, b) in enumerate(zip(got, want)):
            assert torch.equal(a.view(torch.uint8), b.view(torch.uint8)), f"result {i} differs"


def test_philox_states_drawn_in_threads_are_the_sequential_ones():
    # Each call takes two 64-bit draws under the generator's lock. Threads racing on the
    # generator must therefore get, between them, exactly the pairs that one thread gets from
    # the same seed: a torn pair (a seed from one call, an offset from another) or a repeat
    # would show here.
    x, calls = torch.ones(4), 500
    torch.manual_seed(7)
    threaded = in_threads(lambda k: [tuple(torch.ops.torch_ext.philox_state(x).tolist())
                                     for _ in range(calls)])
    torch.manual_seed(7)
    sequential = [tuple(torch.ops.torch_ext.philox_state(x).tolist())
                  for _ in range(THREADS * calls)]
    drawn = [s for states in threaded for s in states]
    assert len(set(drawn)) == THREADS * calls
    assert sorted(drawn) == sorted(sequential)


@pytest.mark.parametrize("own_generator", [False, True])
def test_stateful_masks_in_threads_are_the_sequential_ones(own_generator):
    # The same argument through the functional: the threads' masks, as a set, are the masks of
    # as many calls in one thread, and all of them differ.
    x, calls = torch.ones(128), 300

    def generator():
        return torch.Generator().manual_seed(11) if own_generator else torch.manual_seed(11)

    def masks(gen, n):
        return [(torch_ext.mydropout(x, 0.5, generator=gen) != 0).numpy().tobytes()
                for _ in range(n)]

    shared = generator()
    threaded = [m for ms in in_threads(lambda k: masks(shared, calls)) for m in ms]
    sequential = masks(generator(), THREADS * calls)
    assert len(set(threaded)) == THREADS * calls
    assert set(threaded) == set(sequential)


def test_stateful_backward_in_threads_uses_its_forward_mask():
    def work(k):
        x = torch.randn(50_000, generator=torch.Generator().manual_seed(k)) + 10  # no zeros
        x.requires_grad_()
        y = torch_ext.mydropout(x, 0.4)
        y.backward(torch.ones_like(y))
        return y.detach(), x.grad

    for y, grad in in_threads(work):
        assert_same_bits(grad, (y != 0).float() * torch.tensor(1 / 0.6, dtype=torch.float32))
