"""Channel dropout: torch_ext.MyDropout2d against nn.Dropout2d, forward, forward+backward and in
place, on NCHW and channels_last inputs. Each case alternates the two for ROUNDS rounds of medians
(benchmarks/measure.py's time_median) and reports the median round, so that drift on a shared
machine hits both alike.

    python benchmarks/channels.py                 # on the GPU if there is one, else the CPU
    python benchmarks/channels.py --device cpu
"""

import argparse
import itertools
import statistics

import torch
from torch import nn

import torch_ext
from bench import DTYPES, str_list
from measure import time_median

SHAPES = [(32, 64, 56, 56), (8, 256, 14, 14), (32, 16, 32, 32)]
ROUNDS = 5


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=("cpu", "cuda"),
                    default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--min-run-time", type=float, default=0.2, help="seconds per round")
    ap.add_argument("--dtypes", type=str_list(DTYPES), default=["float32"],
                    help="comma-separated, e.g. float16,bfloat16")
    args = ap.parse_args()
    threads = torch.get_num_threads()
    modules = {"MyDropout2d": torch_ext.MyDropout2d, "nn.Dropout2d": nn.Dropout2d}
    print(f"# {args.device}, torch {torch.__version__}, {threads} threads, p = 0.3")
    print("| dtype | shape | layout | pass | MyDropout2d | nn.Dropout2d | speed-up |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for dtype, shape, layout in itertools.product(
            args.dtypes, SHAPES, (torch.contiguous_format, torch.channels_last)):
        x = torch.randn(shape, device=args.device, dtype=DTYPES[dtype])
        x = x.contiguous(memory_format=layout)
        xg = x.clone().requires_grad_()
        g = torch.randn_like(x)
        # Written over and over: soon mostly zeros, the rest growing by the scale, never
        # denormals, whose arithmetic would be slower.
        xi = x.clone()
        for pass_ in ("fwd", "fwd+bwd", "inplace"):
            rounds = {name: [] for name in modules}
            for _ in range(ROUNDS):
                for name, module in modules.items():
                    m = module(0.3, inplace=pass_ == "inplace")
                    if pass_ == "fwd":
                        fn = lambda m=m: m(x)  # noqa: E731
                    elif pass_ == "inplace":
                        fn = lambda m=m: m(xi)  # noqa: E731
                    else:
                        fn = lambda m=m: torch.autograd.grad(m(xg), xg, g)  # noqa: E731
                    rounds[name].append(
                        time_median(fn, args.device, threads, args.min_run_time)[0])
            ours, theirs = (statistics.median(rounds[name]) for name in modules)
            print(f"| {dtype} | {tuple(shape)} | {str(layout).split('.')[-1]} | {pass_} "
                  f"| {ours * 1e3:.3f} ms | {theirs * 1e3:.3f} ms | {theirs / ours:.2f}x |")


if __name__ == "__main__":
    main()
