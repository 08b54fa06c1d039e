"""The C kernel test program (tests/c/test_kernels.c) under valgrind's memcheck: no invalid read
or write, no use of uninitialized memory, no leak. It takes a few seconds in full."""

import shutil
import subprocess

import pytest

from test_philox import KAT, ROOT


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="no valgrind")
@pytest.mark.skipif(shutil.which("make") is None or shutil.which("cc") is None,
                    reason="no make or C compiler")
def test_c_kernels_under_valgrind(tmp_path):
    result = subprocess.run(["make", "-s", "-C", str(ROOT / "tests" / "c"), "valgrind",
                             f"OUT={tmp_path}", f"KAT={KAT}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].endswith(" passed, 0 failed"), result.stdout
    # Valgrind's CPU has no AVX-512, and so the path that the dispatch would pick under it is
    # AVX2 (or scalar on a CPU without AVX2): an AVX-512 instruction would have been SIGILL.
    paths = next(line for line in result.stdout.splitlines() if line.startswith("paths"))
    assert "avx512" not in paths, paths
