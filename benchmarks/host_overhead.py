"""Where a small call's time goes: bench.py's statements (benchmarks/measure.py) for mydropout
and nn.Dropout, forward and forward+backward, timed by the wall clock in a loop, then under
torch.profiler: per op and per call, how often it runs and its own CPU time, and on a GPU its
own GPU time and the kernel launches and copies asked of the CUDA runtime. On an H100 at 2**20
elements ours was slower than nn.Dropout by 7 µs a forward and 26 µs a forward+backward (README,
Benchmarks): these tables say where. On a GPU ours runs twice: as it is, and with its drawn
state on the GPU as it was then.

    .venv/bin/python benchmarks/host_overhead.py --device cuda [--numel 1048576] [--calls 200]
"""

import argparse
import contextlib
import os
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

import torch_ext

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402

# The CUDA runtime and driver calls that put work on a stream, by prefix: CUPTI's names can
# carry version suffixes (cudaLaunchKernel_v7000).
LAUNCHES = ("cudaLaunch", "cuLaunch", "cudaMemcpy", "cudaMemset")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--numel", type=int, default=1 << 20)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--p", type=float, default=0.5)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rows", type=int, default=12, help="ops shown per table")
    return parser.parse_args(argv)


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def wall_us(fn, device, calls):
    """Wall-clock µs a call over `calls` calls queued back to back (the host's pace where the
    kernels are shorter than their launches)."""
    sync(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    sync(device)
    return (time.perf_counter() - start) / calls * 1e6


def profiled(fn, device, calls):
    """{op: (count, self CPU µs, self GPU µs)} a call, over `calls` calls of fn."""
    activities = [ProfilerActivity.CPU]
    if device == "cuda":
        activities.append(ProfilerActivity.CUDA)  # also what records the runtime's calls
    sync(device)
    with profile(activities=activities) as prof:
        for _ in range(calls):
            fn()
        sync(device)
    return {e.key: (e.count / calls, e.self_cpu_time_total / calls,
                    getattr(e, "self_device_time_total", 0) / calls)
            for e in prof.key_averages() if e.key != "cudaDeviceSynchronize"}


def launches(ops):
    """Kernel launches, copies and fills a call asks of the CUDA runtime, from profiled()."""
    return sum(op[0] for name, op in ops.items() if name.startswith(LAUNCHES))


def report(label, wall, ops, rows):
    cpu = sum(op[1] for op in ops.values())
    print(f"\n{label}: {wall:.1f} µs a call by the wall clock; profiled, {cpu:.1f} µs of CPU "
          f"time in ops, {launches(ops):g} launches and copies")
    print(f"  {'op':<72} {'calls':>6} {'CPU µs':>8} {'GPU µs':>8}")
    for name, (count, cpu_us, gpu_us) in sorted(ops.items(),
                                                 key=lambda kv: -max(kv[1][1:]))[:rows]:
        print(f"  {name[:72]:<72} {count:>6g} {cpu_us:>8.2f} {gpu_us:>8.2f}")


@contextlib.contextmanager
def state_drawn_on_gpu(on):
    """Where on, eager calls draw their state as under capture: on the GPU, by a kernel."""
    draw_to_cpu = torch_ext.state._draw_to_cpu
    if on:
        torch_ext.state._draw_to_cpu = lambda input: False
    try:
        yield
    finally:
        torch_ext.state._draw_to_cpu = draw_to_cpu


def main(argv=None):
    args = parse_args(argv)
    dtype = getattr(torch, args.dtype)
    buf = measure.Buffers(args.numel, dtype, args.device)
    print(f"# {args.device}, torch {torch.__version__}, {args.dtype}, {args.numel} elements, "
          f"p = {args.p}, {args.calls} calls profiled")
    # The first profile starts the profiler's machinery (CUPTI on a GPU): a throwaway one, so
    # that its cost lands on no statement.
    profiled(lambda: buf.x.clone(), args.device, 3)
    # On a GPU, ours also with the drawn state on the GPU, as eager drew it before
    # on_cpu (torch_ext/state.py): the launch and device tensor that saves, side by side.
    impls = [("mydropout", False), ("nn.Dropout", False)]
    if args.device == "cuda":
        impls.insert(1, ("mydropout", True))
    for pass_ in ("fwd", "fwd+bwd"):
        for impl, state_on_gpu in impls:
            fn = measure.statement(impl, pass_, buf, args.p, args.device)
            label = f"{impl}{', state on the GPU' if state_on_gpu else ''} {pass_}"
            with state_drawn_on_gpu(state_on_gpu):
                for _ in range(3):  # lazy initialisation, the caching allocator's first blocks
                    fn()
                wall = wall_us(fn, args.device, args.calls)
                report(label, wall, profiled(fn, args.device, args.calls), args.rows)


if __name__ == "__main__":
    main()
