"""The CUDA kernels' thread work and launch plan, run on the CPU for every thread of emulated
grids (tests/cuda/emulate.cu), against the C kernel bit for bit: the GPU indexing is checked on
machines with nvcc and no GPU. The GPU itself is tested by tests/test_cuda.py; the programs
that only a GPU runs are built here, so that a GPU session finds them building."""

import pathlib
import shutil
import subprocess

import pytest

from conftest import curand_include

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("nvcc") is None or shutil.which("make") is None,
                    reason="no nvcc or make")
def test_emulated_cuda_grids_equal_the_c_kernel(tmp_path):
    """Plain and under AddressSanitizer and UBSan (tests/cuda/Makefile)."""
    result = subprocess.run(["make", "-s", "-C", str(ROOT / "tests" / "cuda"), f"OUT={tmp_path}"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("emulated CUDA grids equal the C kernel") == 2, result.stdout


@pytest.mark.skipif(shutil.which("nvcc") is None or shutil.which("make") is None,
                    reason="no nvcc or make")
def test_gpu_programs_build(tmp_path):
    """tests/cuda/curand_mask.cu and benchmarks/cuda_kernel_speed.cu, for sm_90."""
    include = curand_include()
    if include is None:
        pytest.skip("no curand_kernel.h")
    result = subprocess.run(["make", "-s", "-C", str(ROOT / "tests" / "cuda"), "programs",
                             f"OUT={tmp_path}", "ARCH=sm_90", f"CURAND_INCLUDE={include}"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "curand_mask").is_file() and (tmp_path / "cuda_kernel_speed").is_file()
