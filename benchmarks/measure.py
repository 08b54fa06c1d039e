"""What benchmarks/bench.py measures: the timed statements, the timing, and the bytes kept for
the backward.

Each measurement runs one implementation ("impl") for one pass on flat, contiguous tensors:

    impl        fwd                         fwd+bwd                    inplace
    mydropout   mydropout(x, p)             grad(f(x), x, g)           mydropout(x, p, inplace=True)
    nn.Dropout  F.dropout(x, p, True)       grad(f(x), x, g)           F.dropout(x, p, True, True)
    copy        CPU: mul(x, s, out=y)       fwd copy + bwd copy        x.mul_(s)
                CUDA: y.copy_(x)            (mul on CPU, copy_ on CUDA)

nn.Dropout is timed through F.dropout, which is what nn.Dropout.forward calls (it leaves out
the Module call's few microseconds, as mydropout is timed without MyDropout). mydropout is
called without a seed: the state comes from the default generator, the common path.
The backward goes through torch.autograd.grad(y, x, g), the gradient y.backward(g) computes,
without accumulating it into x.grad (which would add a read-modify-write pass).
The copy ceiling of fwd+bwd is timed as the two passes it needs (forward and backward).
The in-place statements run over and over on one tensor; the kernels do not depend on the
values (scaling by 1/(1-p) > 1 never makes denormals), so that does not change the timings.

On the CPU, a tensor of 32 MiB or more is a fresh mmap on every call (glibc's mmap threshold),
so the out-of-place forms pay its page faults (nn.Dropout twice: noise and output) where the
copy ceiling, which writes into a preallocated y, does not; compare with inplace there.
"""

import torch
import torch.nn.functional as F
from torch.utils import benchmark

import torch_ext

IMPLS = ("mydropout", "nn.Dropout", "copy")
PASSES = ("fwd", "fwd+bwd", "inplace")


class Buffers:
    """The tensors of one (dtype, numel, device), shared by the impls, passes, ps and threads."""

    def __init__(self, numel, dtype, device):
        def randn():
            return torch.randn(numel, dtype=dtype, device=device)

        self.x = randn()  # forward input, never written
        self.xg = randn().requires_grad_()  # leaf for fwd+bwd
        self.xi = randn()  # written in place
        self.g = randn()  # incoming gradient
        self.y = torch.empty_like(self.x)  # copy ceiling's outputs
        self.gx = torch.empty_like(self.x)


def statement(impl, pass_, buf, p, device):
    """The callable timed for one measurement."""
    s = 1.0 / (1.0 - p) if p < 1 else 0.0
    x, xg, xi, g, y, gx = buf.x, buf.xg, buf.xi, buf.g, buf.y, buf.gx
    grad = torch.autograd.grad
    drop = torch_ext.mydropout
    if impl == "copy":
        if pass_ == "inplace":
            return lambda: xi.mul_(s)
        if device == "cuda":
            if pass_ == "fwd":
                return lambda: y.copy_(x)
            return lambda: (y.copy_(x), gx.copy_(g))
        if pass_ == "fwd":
            return lambda: torch.mul(x, s, out=y)
        return lambda: (torch.mul(x, s, out=y), torch.mul(g, s, out=gx))
    if impl == "mydropout":
        table = {
            "fwd": lambda: drop(x, p),
            "fwd+bwd": lambda: grad(drop(xg, p), xg, g),
            "inplace": lambda: drop(xi, p, inplace=True),
        }
    elif impl == "nn.Dropout":
        table = {
            "fwd": lambda: F.dropout(x, p, True),
            "fwd+bwd": lambda: grad(F.dropout(xg, p, True), xg, g),
            "inplace": lambda: F.dropout(xi, p, True, inplace=True),
        }
    else:
        raise ValueError(f"unknown impl {impl!r}")
    return table[pass_]


def saved_bytes(impl, pass_, buf, p):
    """Bytes that the forward keeps for the backward, summed by a saved_tensors_hooks pack hook.

    The forward runs once with grad on (for inplace: on a non-leaf clone, which saves nothing
    itself); a tensor saved twice is counted once.
    """
    seen = {}

    def pack(t):
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.dtype)
        seen[key] = t.numel() * t.element_size()
        return t

    xg, s = buf.xg, 1.0 / (1.0 - p) if p < 1 else 0.0
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        inp = xg.clone() if pass_ == "inplace" else xg
        if impl == "mydropout":
            torch_ext.mydropout(inp, p, inplace=pass_ == "inplace")
        elif impl == "nn.Dropout":
            F.dropout(inp, p, True, inplace=pass_ == "inplace")
        elif pass_ == "inplace":
            inp.mul_(s)
        else:
            torch.mul(inp, s)
    return sum(seen.values())


def time_median(fn, device, threads, min_run_time, warmup=3):
    """(median, samples, iqr) in seconds per call of fn.

    CPU: torch.utils.benchmark's adaptive_autorange sizes a block of calls so the timer's own
    cost is negligible, then times blocks until there are at least 4, min_run_time has passed
    and the spread (iqr / median) is under 10%, or until 10 * min_run_time has passed, whatever
    the spread; threads sets torch's intra-op threads. CUDA: time_cuda.
    """
    if device == "cuda":
        return time_cuda(fn, min_run_time, warmup)
    torch.set_num_threads(threads)
    for _ in range(warmup):  # first-touch faults, lazy init
        fn()
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
    m = timer.adaptive_autorange(threshold=0.1, min_run_time=min_run_time,
                                 max_run_time=10 * min_run_time)
    return m.median, len(m.times), m.iqr


def time_cuda(fn, min_run_time, warmup=3):
    """(median, samples, iqr) in seconds per call on the current CUDA stream: each call between
    two CUDA events, the calls queued back to back (no synchronization between them) as many
    times as fill about min_run_time (10 at least), then their median.

    Queued back to back, a call whose kernels outrun its host side (small sizes) is timed at
    the host's pace, as a user running it in a loop sees it; a large one at its kernels'. The
    events cost the GPU nothing measurable, unlike a synchronization per block of calls.
    """
    for _ in range(warmup):  # lazy init, the caching allocator's first blocks
        fn()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(5):
        fn()
    end.record()
    end.synchronize()
    estimate = start.elapsed_time(end) / 5 / 1e3
    calls = max(10, min(10_000, int(min_run_time / max(estimate, 1e-7))))
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
              for _ in range(calls)]
    for begin, finish in events:
        begin.record()
        fn()
        finish.record()
    torch.cuda.synchronize()
    times = torch.tensor([begin.elapsed_time(finish) / 1e3 for begin, finish in events],
                         dtype=torch.float64)
    q1, median, q3 = torch.quantile(times, torch.tensor([0.25, 0.5, 0.75],
                                                        dtype=torch.float64)).tolist()
    return median, calls, q3 - q1
