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


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def time_median(fn, device, threads, min_run_time, warmup=3):
    """(median, samples, iqr) in seconds per call of fn, from torch.utils.benchmark.

    adaptive_autorange sizes a block of calls so the timer's own cost is negligible, then
    times blocks until there are at least 4, min_run_time has passed and the spread
    (iqr / median) is under 10%, or 10 * min_run_time has passed. On a machine with an
    accelerator the Timer synchronizes it around each block, so CUDA kernels are timed to
    completion. threads sets torch's intra-op threads on the CPU; on CUDA they are left as set.
    """
    num_threads = threads if device == "cpu" else torch.get_num_threads()
    torch.set_num_threads(num_threads)
    for _ in range(warmup):  # first-touch faults, lazy init, caching allocator
        fn()
    sync(device)
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=num_threads)
    m = timer.adaptive_autorange(threshold=0.1, min_run_time=min_run_time,
                                 max_run_time=10 * min_run_time)
    return m.median, len(m.times), m.iqr
