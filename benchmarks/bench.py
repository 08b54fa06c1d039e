"""Benchmark torch_ext.mydropout against nn.Dropout (F.dropout) and a copy ceiling.

    python benchmarks/bench.py --quick                # a small CPU/GPU subset, about a minute
    python benchmarks/bench.py                        # the full sweep on the default device
    python benchmarks/bench.py --device cuda --dtypes float32 --p 0.5

Prints a table (time, G elements/s, GB/s, fraction of the copy ceiling, speed-up over
nn.Dropout, bytes kept for the backward per element), and writes every measurement to
benchmarks/results/<device-name>.json and a plot next to it. measure.py says what each
statement is, report.py how GB/s counts bytes.
"""

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys

import torch

import torch_ext  # noqa: F401  (registers the ops)
from measure import IMPLS, PASSES, Buffers, saved_bytes, statement, time_median
import report

HERE = os.path.dirname(os.path.abspath(__file__))
DTYPES = {"float32": torch.float32, "float64": torch.float64,
          "bfloat16": torch.bfloat16, "float16": torch.float16}


def slug(text):
    return re.sub(r"[^A-Za-z0-9.+]+", "-", text).strip("-").replace("+", "")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_label(device):
    """What records say in `device`: the GPU's own name, or "cpu" (the CPU model is in meta)."""
    return torch.cuda.get_device_name() if device == "cuda" else "cpu"


def device_name(device):
    if device == "cuda":
        return slug(device_label(device))
    # "Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz" -> cpu-Intel-Xeon-Platinum-8480
    model = re.sub(r"\((R|TM)\)", "", cpu_model(), flags=re.I)
    model = re.sub(r"\s+(CPU\s*)?@.*$|\s+\d+-Core Processor.*$|\s+Processor$", "", model)
    return "cpu-" + slug(model)


def int_list(text):
    """'2**12,4096,65536' -> [4096, 4096, 65536]"""
    def one(v):
        base, _, exp = v.strip().partition("**")
        return int(base) ** int(exp) if exp else int(base)
    return [one(v) for v in text.split(",") if v.strip()]


def str_list(choices):
    def parse(text):
        values = [v.strip() for v in text.split(",") if v.strip()]
        bad = [v for v in values if v not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {', '.join(choices)}")
        return values
    return parse


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto",
                    help="auto: cuda if available, else cpu")
    ap.add_argument("--sizes", type=int_list, help="numels, e.g. 2**12,2**20 "
                    "(default CPU 2**12..2**26, CUDA 2**20..2**28, by powers of 4)")
    ap.add_argument("--dtypes", type=str_list(DTYPES), help="default float32,bfloat16,float16")
    ap.add_argument("--p", type=lambda s: [float(v) for v in s.split(",")],
                    help="dropout probabilities (default 0.1,0.5)")
    ap.add_argument("--threads", type=int_list,
                    help="CPU intra-op threads (default 1 and the detected count)")
    ap.add_argument("--passes", type=str_list(PASSES), help="fwd,fwd+bwd,inplace (default all)")
    ap.add_argument("--quick", action="store_true", help="a small subset: two sizes, float32 "
                    "and bfloat16, p=0.5, the detected thread count, every pass")
    ap.add_argument("--min-run-time", type=float, default=None,
                    help="seconds per measurement (default 0.2, 0.1 with --quick)")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/<device-name>.json)")
    ap.add_argument("--plot", help="PNG path (default: the JSON's, with .png)")
    ap.add_argument("--no-plot", action="store_true")
    return ap.parse_args(argv)


def fill_defaults(args):
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench.py: --device cuda, but torch sees no CUDA device")
    cpu, detected = args.device == "cpu", torch.get_num_threads()
    if args.quick:
        sizes = [2**12, 2**20] if cpu else [2**20, 2**26]
        dtypes, ps, threads = ["float32", "bfloat16"], [0.5], [detected]
    else:
        sizes = [2**e for e in (range(12, 27, 2) if cpu else range(20, 29, 2))]
        dtypes, ps, threads = ["float32", "bfloat16", "float16"], [0.1, 0.5], sorted({1, detected})
    args.sizes = args.sizes or sizes
    args.dtypes = args.dtypes or dtypes
    args.p = args.p or ps
    args.threads = (args.threads or threads) if cpu else [0]  # 0: not applicable on the GPU
    args.passes = args.passes or list(PASSES)
    args.min_run_time = args.min_run_time or (0.1 if args.quick else 0.2)
    args.device_label, args.device_name = device_label(args.device), device_name(args.device)
    args.out = args.out or os.path.join(HERE, "results", args.device_name + ".json")
    args.plot = None if args.no_plot else (args.plot or os.path.splitext(args.out)[0] + ".png")
    return args


def git_commit():
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=HERE,
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def metadata(args):
    return {
        "device": args.device_label, "device_name": args.device_name,
        "cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "cuda": torch.version.cuda,
        "python": platform.python_version(), "git": git_commit(),
        "mydropout_cpu_path": torch.ops.torch_ext.cpu_path(),
        "loadavg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "min_run_time_s": args.min_run_time,
        "timer": ("CUDA events around each call, median" if args.device == "cuda"
                  else "torch.utils.benchmark adaptive_autorange, median"),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "gpu": gpu_properties() if args.device == "cuda" else None,
    }


def gpu_properties():
    """What bounds the GPU's rows: below the L2's size, a call's data can stay in the cache
    between the timed calls, and GB/s is then the L2's, not the memory's."""
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return {"multiprocessors": props.multi_processor_count,
            "memory_bytes": props.total_memory,
            "l2_cache_bytes": getattr(props, "L2_cache_size", None)}


def progress(i, total, text):
    tty = sys.stderr.isatty()
    print(f"[{i}/{total}] {text}".ljust(72), end="\r" if tty else "\n", file=sys.stderr,
          flush=True)


def run(args, save):
    """Every measurement, as records (the derived columns are added by report.derive); save
    gets the records so far after each dtype and size, so that a sweep cut off (a GPU
    session's time limit) keeps what it measured."""
    total = (len(args.dtypes) * len(args.sizes) * len(args.p) * len(args.threads)
             * len(args.passes) * len(IMPLS))
    records, i = [], 0
    for dtype in args.dtypes:
        for numel in args.sizes:
            buf = Buffers(numel, DTYPES[dtype], args.device)
            for p in args.p:
                saved = {(impl, q): saved_bytes(impl, q, buf, p)
                         for impl in IMPLS for q in args.passes}
                for threads in args.threads:
                    for pass_ in args.passes:
                        for impl in IMPLS:  # interleaved, so drift hits all three alike
                            i += 1
                            progress(i, total, f"{args.device} {dtype} {report.pow2(numel)} "
                                     f"p={p:g} t={threads} {pass_} {impl}")
                            fn = statement(impl, pass_, buf, p, args.device)
                            median, samples, iqr = time_median(fn, args.device, threads,
                                                               args.min_run_time)
                            records.append({
                                "device": args.device_label, "device_name": args.device_name,
                                "impl": impl, "pass": pass_, "dtype": dtype, "numel": numel,
                                "p": p, "threads": threads, "median_s": median, "iqr_s": iqr,
                                "samples": samples, "saved_bytes": saved[impl, pass_],
                                "torch": torch.__version__,
                            })
            del buf
            if args.device == "cuda":
                torch.cuda.empty_cache()
            save(records)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return records


def main(argv=None):
    args = fill_defaults(parse_args(argv))
    meta = metadata(args)
    threads_before = torch.get_num_threads()
    try:
        records = report.derive(run(
            args, lambda done: report.write_json(args.out, meta, report.derive(done))))
    finally:
        torch.set_num_threads(threads_before)
    where = meta["device_name"] + (f" ({meta['cpu_model']})" if args.device == "cpu" else "")
    print(f"# {where}, torch {meta['torch']}, {args.min_run_time} s per measurement; "
          "GB/s and the bytes it counts: see benchmarks/report.py")
    print(report.table(records))
    print(f"\nwrote {os.path.relpath(args.out)}", end="")
    if args.plot:
        report.plot(args.plot, meta, records)
        print(f" and {os.path.relpath(args.plot)}", end="")
    print()


if __name__ == "__main__":
    main()
