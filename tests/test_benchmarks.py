"""benchmarks/: what a lent GPU session runs once, checked here first. The CUDA timing runs with
CPU stand-ins for CUDA events; a small CPU sweep writes its JSON."""

import json
import pathlib
import sys
import time
import types

import pytest
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import bench  # noqa: E402
import host_overhead  # noqa: E402
import measure  # noqa: E402
import models  # noqa: E402
import report  # noqa: E402


class HostEvent:
    """torch.cuda.Event's timing calls, on the host clock."""

    def __init__(self, enable_timing=False):
        self.t = None

    def record(self):
        self.t = time.perf_counter()

    def synchronize(self):
        pass

    def elapsed_time(self, end):
        return (end.t - self.t) * 1e3  # milliseconds, as CUDA events give


def test_cuda_timing_gives_the_median_call(monkeypatch):
    monkeypatch.setattr(torch.cuda, "Event", HostEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    median, calls, iqr = measure.time_median(lambda: time.sleep(0.002), "cuda", 0, 0.05)
    assert 0.002 <= median < 0.02
    assert calls >= 10 and 0 <= iqr < median


def test_gpu_records_carry_the_gpus_name(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda: "NVIDIA H100 80GB HBM3")
    assert bench.device_label("cuda") == "NVIDIA H100 80GB HBM3"
    assert bench.device_name("cuda") == "NVIDIA-H100-80GB-HBM3"  # the JSON and PNG file name


def test_gpu_properties_name_what_bounds_the_rows(monkeypatch):
    props = types.SimpleNamespace(multi_processor_count=132, total_memory=80 << 30,
                                  L2_cache_size=50 << 20)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: props)
    assert bench.gpu_properties() == {"multiprocessors": 132, "memory_bytes": 80 << 30,
                                      "l2_cache_bytes": 50 << 20}


def test_sweep_writes_every_record(tmp_path):
    out = tmp_path / "cpu.json"
    bench.main(["--device", "cpu", "--sizes", "2**10,2**12", "--dtypes", "float32", "--p", "0.5",
                "--threads", "1", "--min-run-time", "0.01", "--out", str(out), "--no-plot"])
    records = json.loads(out.read_text())["records"]
    assert len(records) == 2 * len(measure.PASSES) * len(measure.IMPLS)
    assert {r["device"] for r in records} == {"cpu"}
    ours = [r for r in records if r["impl"] == "mydropout"]
    assert all(r["speedup_vs_nn_dropout"] > 0 and r["frac_of_copy"] > 0 for r in ours)
    assert {r["saved_bytes"] for r in ours if r["pass"] != "inplace"} == {16}


def test_a_sweep_cut_off_keeps_what_it_measured(tmp_path, monkeypatch, capsys):
    out = tmp_path / "cpu.json"
    made = []

    def buffers_cut_off_at_the_third_size(*args):
        made.append(args)
        if len(made) == 3:
            raise KeyboardInterrupt  # as a time limit would stop it
        return measure.Buffers(*args)

    monkeypatch.setattr(bench, "Buffers", buffers_cut_off_at_the_third_size)
    with pytest.raises(KeyboardInterrupt):
        bench.main(["--device", "cpu", "--sizes", "2**10,2**11,2**12", "--dtypes", "float32",
                    "--p", "0.5", "--threads", "1", "--passes", "fwd", "--min-run-time", "0.01",
                    "--out", str(out), "--no-plot"])
    records = json.loads(out.read_text())["records"]
    assert sorted({r["numel"] for r in records}) == [2**10, 2**11]
    # and its table and plot, which bench.py had no time for (tools/gpu_session.sh)
    report.main([str(out), "--plot", str(tmp_path / "cpu.png")])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("mydropout")]
    assert len(rows) == 2 and (tmp_path / "cpu.png").stat().st_size > 0


def test_the_fraction_of_the_ceiling_is_of_its_bandwidth():
    # In the same time as the copy, nn.Dropout moves its 1-byte mask too: 9 bytes an element
    # in float32 against the copy's 8.
    base = {"device": "cuda", "pass": "fwd", "dtype": "float32", "numel": 1000, "p": 0.5,
            "threads": 0, "median_s": 1.0}
    copy = dict(base, impl="copy", saved_bytes=0)
    nn_dropout = dict(base, impl="nn.Dropout", saved_bytes=1000)
    report.derive([copy, nn_dropout])
    assert nn_dropout["frac_of_copy"] == pytest.approx(9 / 8)


@pytest.mark.parametrize("name, options", [("mlp", []), ("bert", []), ("mlp", ["--compile"]),
                                           ("mlp", ["--autocast", "bfloat16"])])
def test_model_steps_compare_the_same_model_with_each_dropout(name, options, capsys):
    if name == "bert":
        pytest.importorskip("transformers")
    models.main(["--device", "cpu", "--models", name, "--rounds", "1", "--min-run-time", "0.01"]
                + options)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(", torch.compile") == ("--compile" in options)
    assert ("autocast bfloat16" in lines[0]) == ("--autocast" in options)
    row = lines[-1].split(" | ")
    # mlp: its two hidden layers; bert: embeddings, two a layer, and the pooled output
    elements = {"mlp": 256 * 256 * 2, "bert": 16 * 128 * 256 * (1 + 2 * 4) + 16 * 256}[name]
    assert row[0] == f"| {name}" and int(row[1]) == elements and row[4].endswith("x |")


def test_a_model_step_runs_its_forward_under_autocast_when_asked():
    model, loss = models.mlp("cpu")
    seen = []
    model[3].register_forward_hook(lambda module, args, out: seen.append(args[0].dtype))
    models.train_step(model, loss, "cpu", "bfloat16")
    models.train_step(model, loss, "cpu", None)
    assert seen == [torch.bfloat16, torch.float32]
    assert all(p.grad is not None for p in model.parameters())


def test_host_overhead_profiles_each_statement_per_call(capsys):
    calls = 7
    host_overhead.main(["--device", "cpu", "--numel", "64", "--calls", str(calls)])
    out = capsys.readouterr().out
    heads = [line.split(":")[0] for line in out.splitlines() if "by the wall clock" in line]
    assert heads == ["mydropout fwd", "nn.Dropout fwd", "mydropout fwd+bwd", "nn.Dropout fwd+bwd"]
    ours = out.split("mydropout fwd+bwd:")[1].split("nn.Dropout fwd+bwd:")[0]
    # forward and backward each call the op once, per call of the statement: counts are per call
    op = next(line.split() for line in ours.splitlines() if "torch_ext::mydropout" in line)
    assert float(op[1]) == 2 and float(op[2]) > 0
