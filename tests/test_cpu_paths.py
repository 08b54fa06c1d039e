"""Every CPU path gives the scalar path's bits through the ops: odd lengths, unaligned starts,
every dtype, in place and backward, and channel dropout in both row orders. Each path runs in
its own process (MYDROPOUT_CPU_PATH is read once per process)."""

import functools
import os
import subprocess
import sys

import pytest
import torch

PROBE = r"""
import math, sys, torch, torch_ext
assert torch.ops.torch_ext.cpu_path() == sys.argv[1], torch.ops.torch_ext.cpu_path()
sys.path.insert(0, sys.argv[3])
from reference import draws
torch.manual_seed(0)
results = []
# ties: p * 2**32 equal to element j's draw, which keeps it, at lanes and tails of the vectors
r = draws(5, 6, range(64))
for j in (0, 5, 10, 15, 16, 31, 47, 63):
    for dtype in (torch.float32, torch.float16):
        results.append(torch_ext.mydropout(torch.ones(64, dtype=dtype), int(r[j]) / 2**32,
                                           seed=5, offset=6))
# products that fall halfway between two 16-bit values, subnormal ones among them
steps = torch.arange(1, 2049, dtype=torch.float32)
for dtype, unit in ((torch.float16, 2**-24), (torch.bfloat16, 2**-133)):
    results.append(torch_ext.mydropout((steps * unit).to(dtype), 0.2, seed=9))
for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
    base = torch.randn(100_003, dtype=torch.float64).to(dtype)
    base[::97] = float("nan")
    base[1::89] = float("inf")
    for start in (0, 1, 3, 5):
        for n in (0, 1, 2, 3, 5, 17, 63, 64, 65, 129, 1000, 4099, 70_001):
            x = base[start:start + n]
            for p in (0.1, 0.5, 0.97):
                for first_index in (0, 1, 2, 3, 2**32 - 1):
                    results.append(torch_ext.mydropout(x, p, seed=7, offset=n,
                                                       first_index=first_index))
            y = x.clone()
            torch_ext.mydropout(y, 0.5, inplace=True, seed=3)
            results.append(y)
            xg = x.detach().clone().requires_grad_()
            torch_ext.mydropout(xg, 0.5, seed=4).backward(torch.ones_like(xg))
            results.append(xg.grad)
    # channel dropout: pair-major and channels_last rows, with and without vector tails
    for shape in ((3, 5, 17), (2, 9, 4, 5), (4, 16, 3, 3), (2, 3, 1, 40)):
        x = base[:math.prod(shape)].view(shape)
        layouts = [x] + ([x.contiguous(memory_format=torch.channels_last)] if x.dim() == 4 else [])
        for x in layouts:
            for p in (0.3, 0.7):
                results.append(torch_ext.mydropout_channels(x, p, seed=11))
torch.save([r.contiguous().view(torch.uint8) for r in results], sys.argv[2])
"""

PATHS = ["scalar", "avx2", "avx512"]


def run_probe(path, out):
    env = dict(os.environ, MYDROPOUT_CPU_PATH=path)
    tests = os.path.dirname(os.path.abspath(__file__))
    return subprocess.run([sys.executable, "-c", PROBE, path, str(out), tests], env=env,
                          capture_output=True, text=True)


def path_chosen(forced):
    """The path a process uses when MYDROPOUT_CPU_PATH is `forced`."""
    env = dict(os.environ, MYDROPOUT_CPU_PATH=forced)
    code = "import torch, torch_ext; print(torch.ops.torch_ext.cpu_path())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.split()[-1]


@functools.lru_cache
def supported_paths():
    return [path for path in PATHS if path_chosen(path) == path]


@pytest.fixture(scope="module")
def scalar_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("paths") / "scalar.pt"
    result = run_probe("scalar", out)
    assert result.returncode == 0, result.stderr
    return torch.load(out)


@pytest.mark.parametrize("path", PATHS[1:])
def test_simd_path_matches_scalar(path, scalar_result, tmp_path):
    if path not in supported_paths():
        pytest.skip(f"this CPU has no {path}")
    out = tmp_path / f"{path}.pt"
    result = run_probe(path, out)
    assert result.returncode == 0, result.stderr
    simd = torch.load(out)
    assert len(simd) == len(scalar_result)
    for i, (a, b) in enumerate(zip(simd, scalar_result)):
        assert torch.equal(a, b), f"result {i} differs"


def test_default_path_is_the_best_supported():
    import torch_ext  # noqa: F401

    env_forced = os.environ.get("MYDROPOUT_CPU_PATH")
    if env_forced:
        pytest.skip("MYDROPOUT_CPU_PATH is set")
    assert torch.ops.torch_ext.cpu_path() == supported_paths()[-1]


def test_unknown_path_name_falls_back_to_the_best():
    assert path_chosen("sse9") == supported_paths()[-1]


