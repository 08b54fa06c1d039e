"""Philox4x32 against Random123's known-answer vectors: the tests' reference in Python, and
csrc/philox.h itself through the C test program; and the C mask against cuRAND's code."""

import pathlib
import shutil
import subprocess

import pytest

from conftest import make_cuda, requires_nvcc
from reference import philox4x32

ROOT = pathlib.Path(__file__).resolve().parent.parent
KAT = ROOT / "tests" / "data" / "philox4x32_kat.txt"  # Random123's, with its provenance


def kat_vectors():
    rows = []
    for line in KAT.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            words = line.split()
            rows.append((int(words[0]), [int(w, 16) for w in words[1:]]))
    return rows


def test_kat_file_has_vectors():
    assert len(kat_vectors()) >= 6


@pytest.mark.parametrize("rounds, words", kat_vectors())
def test_reference_reproduces_kat(rounds, words):
    ctr, key, expected = words[0:4], words[4:6], words[6:10]
    out = philox4x32([[c] for c in ctr], key, rounds)
    assert [int(o[0]) for o in out] == expected


def test_reference_reproduces_long_run_vector():
    # std::philox4x32 seeded 20111115: draw 10000 is word 3 of counter 2499.
    out = philox4x32([[2499], [0], [0], [0]], (20111115, 0))
    assert int(out[3][0]) == 1955073260


@requires_nvcc
def test_c_mask_is_curands(tmp_path):
    """cuRAND's own Philox code, compiled for the host (tests/cuda/curand_host.cu): element i
    is kept iff curand() after curand_init(seed, offset, i) reaches the threshold."""
    result = make_cuda(tmp_path, "curand_host", curand=True)
    assert "the C mask is cuRAND's" in result.stdout, result.stdout


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("cc") is None,
                    reason="no make or C compiler")
def test_c_kernels_program(tmp_path):
    """csrc/ on its own, plain and under sanitizers (tests/c/Makefile): known-answer vectors and
    every SIMD path against the scalar path."""
    result = subprocess.run(["make", "-s", "-C", str(ROOT / "tests" / "c"), f"OUT={tmp_path}",
                             f"KAT={KAT}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    summaries = [line for line in result.stdout.splitlines() if line.endswith(" 0 failed")]
    assert len(summaries) == 2, result.stdout
