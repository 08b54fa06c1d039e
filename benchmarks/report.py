"""Derived numbers, the terminal table, the JSON file and the plot of benchmarks/bench.py.

Bytes behind GB/s (a model of the least traffic, the same for every impl):
    fwd, inplace   n * (2 * elsize + m)        input read, output written, mask written
    fwd+bwd        n * (4 * elsize + 2 * m)    + gradient read, input-gradient written, mask read
where m is the mask (or noise) bytes per element that the impl writes in the forward, taken as
the measured bytes it saves for the backward divided by n: 0 for copy, 16 / n for mydropout
(its two int64 Philox words), the input's element size for nn.Dropout on the CPU (its noise
tensor) and 1 on CUDA (a bool mask; the in-place form keeps a noise tensor there too).
nn.Dropout's CPU path, and its CUDA in-place form, pass over a noise tensor three times
(bernoulli_, div_, mul), of which only the one write is counted: their true traffic is higher
than their GB/s says.
"""

import argparse
import json
import math
import os

from measure import IMPLS, PASSES

DTYPE_SIZE = {"float32": 4, "float64": 8, "bfloat16": 2, "float16": 2}


def traffic_bytes(pass_, dtype, numel, mask_per_elem):
    es = DTYPE_SIZE[dtype]
    per = 4 * es + 2 * mask_per_elem if pass_ == "fwd+bwd" else 2 * es + mask_per_elem
    return numel * per


def _key(r):
    return (r["device"], r["pass"], r["dtype"], r["numel"], r["p"], r["threads"])


def derive(records):
    """Adds throughput, GB/s, the fraction of the copy ceiling and the speed-up over nn.Dropout."""
    by_impl = {(_key(r), r["impl"]): r for r in records}
    for r in records:
        t, n = r["median_s"], r["numel"]
        r["saved_bytes_per_elem"] = r["saved_bytes"] / n
        r["g_elem_per_s"] = n / t / 1e9
        r["traffic_bytes"] = traffic_bytes(r["pass"], r["dtype"], n, r["saved_bytes_per_elem"])
        r["gb_per_s"] = r["traffic_bytes"] / t / 1e9
    for r in records:  # once every record has its GB/s
        copy = by_impl.get((_key(r), "copy"))
        # Of the ceiling's bandwidth, not its time: nn.Dropout moves its mask's bytes too.
        r["frac_of_copy"] = r["gb_per_s"] / copy["gb_per_s"] if copy else None
        nn = by_impl.get((_key(r), "nn.Dropout"))
        if r["impl"] == "mydropout":
            r["speedup_vs_nn_dropout"] = nn["median_s"] / r["median_s"] if nn else None
    return records


def pow2(n):
    e = int(math.log2(n)) if n > 0 else 0
    return f"2**{e}" if 2**e == n else str(n)


def fmt_time(s):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:7.2f} {unit}"
    return f"{s / 1e-9:7.1f} ns"


COLUMNS = [
    ("impl", 10, lambda r: r["impl"]),
    ("pass", 7, lambda r: r["pass"]),
    ("dtype", 8, lambda r: r["dtype"]),
    ("numel", 6, lambda r: pow2(r["numel"])),
    ("p", 4, lambda r: f"{r['p']:g}"),
    ("thr", 3, lambda r: str(r["threads"])),
    ("median", 10, lambda r: fmt_time(r["median_s"])),
    ("Gelem/s", 8, lambda r: f"{r['g_elem_per_s']:.3f}"),
    ("GB/s", 7, lambda r: f"{r['gb_per_s']:.2f}"),
    ("%copy", 6, lambda r: "" if r["frac_of_copy"] is None else f"{100 * r['frac_of_copy']:.0f}%"),
    ("vs nn", 6, lambda r: f"{r['speedup_vs_nn_dropout']:.2f}x"
     if r.get("speedup_vs_nn_dropout") else ""),
    ("saved B/el", 10, lambda r: f"{r['saved_bytes_per_elem']:.3g}"),
]


def format_row(r):
    return "  ".join(f(r).rjust(w) if i > 2 else f(r).ljust(w)
                     for i, (_, w, f) in enumerate(COLUMNS))


def table(records):
    """The rows grouped by (pass, dtype, p, threads), with a blank line between groups."""
    order = {name: i for i, name in enumerate(IMPLS)}
    passes = {name: i for i, name in enumerate(PASSES)}
    rows = sorted(records, key=lambda r: (passes[r["pass"]], r["dtype"], r["p"], r["threads"],
                                          r["numel"], order[r["impl"]]))
    head = "  ".join(name.rjust(w) if i > 2 else name.ljust(w)
                     for i, (name, w, _) in enumerate(COLUMNS))
    lines, last = [head, "-" * len(head)], None
    for r in rows:
        group = (r["pass"], r["dtype"], r["p"], r["threads"], r["numel"])
        if last is not None and group != last:
            lines.append("")
        last = group
        lines.append(format_row(r))
    return "\n".join(lines)


def write_json(path, meta, records):
    """Written whole or not at all: bench.py rewrites it during a sweep that a time limit may
    stop at any moment."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = path + ".partial"
    with open(partial, "w") as f:
        json.dump({"meta": meta, "records": records}, f, indent=1)
    os.replace(partial, path)


def plot(path, meta, records):
    """G elements/s against numel (both log): a column per pass, a row per dtype, a line per impl.

    Drawn at p = 0.5 (else the largest p measured) and at the largest thread count.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps = sorted({r["p"] for r in records})
    p = 0.5 if 0.5 in ps else ps[-1]
    threads = max(r["threads"] for r in records)
    sel = [r for r in records if r["p"] == p and r["threads"] == threads]
    dtypes = sorted({r["dtype"] for r in sel}, key=list(DTYPE_SIZE).index)
    passes = [q for q in PASSES if any(r["pass"] == q for r in sel)]
    fig, axes = plt.subplots(len(dtypes), len(passes), squeeze=False, sharex=True,
                             figsize=(4.2 * len(passes), 3.2 * len(dtypes)))
    styles = {"mydropout": ("C0", "o", "-"), "nn.Dropout": ("C3", "s", "-"),
              "copy": ("0.4", "", "--")}
    for i, dtype in enumerate(dtypes):
        for j, pass_ in enumerate(passes):
            ax = axes[i][j]
            for impl in IMPLS:
                pts = sorted((r["numel"], r["g_elem_per_s"]) for r in sel
                             if r["dtype"] == dtype and r["pass"] == pass_ and r["impl"] == impl)
                if pts:
                    color, marker, ls = styles[impl]
                    label = "copy ceiling" if impl == "copy" else impl
                    ax.plot(*zip(*pts), color=color, marker=marker, ls=ls, label=label)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")  # the impls lie a decade or more apart
            ax.grid(True, alpha=0.3)
            ax.set_title(f"{pass_}, {dtype}", fontsize=10)
            if i == len(dtypes) - 1:
                ax.set_xlabel("numel")
            if j == 0:
                ax.set_ylabel("G elements / s")
    axes[0][0].legend(fontsize=8)
    thr = f"{threads} thread(s)" if meta["device"] == "cpu" else "GPU"
    fig.suptitle(f"dropout throughput, {meta['device_name']}, p={p:g}, {thr}, "
                 f"torch {meta['torch']}", fontsize=11)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    """The table, and the plot with --plot, of a JSON that bench.py wrote: of a sweep that a time
    limit cut off too, which ended before bench.py printed or drew anything."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("json")
    parser.add_argument("--plot", metavar="PNG")
    args = parser.parse_args(argv)
    with open(args.json) as f:
        data = json.load(f)
    print(table(data["records"]))
    if args.plot:
        plot(args.plot, data["meta"], data["records"])


if __name__ == "__main__":
    main()
