"""Philox4x32 against Random123's known-answer vectors: the tests' reference in Python, and
csrc/philox.h itself through the C test program."""

import pathlib
import shutil
import subprocess

import numpy as np
import pytest

from reference import philox4x32

ROOT = pathlib.Path(__file__).resolve().parent.parent
KAT = ROOT.parent / "shared" / "reference" / "philox4x32_kat.txt"


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


def test_reference_matches_curand_layout():
    # curand_init(seed, subsequence=offset, offset=i) puts i/4 in the low counter words and the
    # subsequence in the high ones: element 4q+j is word j of counter (q, offset).
    from reference import draws

    seed, offset = 0x0123456789ABCDEF, 0xFEDCBA9876543210
    q = np.arange(3, dtype=np.uint64)
    words = philox4x32(
        (q, np.zeros(3, np.uint64), np.full(3, offset & 0xFFFFFFFF, np.uint64),
         np.full(3, offset >> 32, np.uint64)),
        (seed & 0xFFFFFFFF, seed >> 32),
    )
    expected = np.stack(words, axis=1).reshape(-1)
    assert np.array_equal(draws(seed, offset, np.arange(12)), expected)


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
