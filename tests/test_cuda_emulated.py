"""The CUDA kernels' thread work and launch plan, run on the CPU for every thread of emulated
grids (tests/cuda/emulate.cu), against the C kernel bit for bit: the GPU indexing is checked on
machines with nvcc and no GPU. The GPU itself is tested by tests/test_cuda.py; the programs
that only a GPU runs are built here, so that a GPU session finds them building."""

import pathlib
import subprocess

import pytest

from conftest import make_cuda, requires_nvcc

ROOT = pathlib.Path(__file__).resolve().parents[1]


@requires_nvcc
def test_emulated_cuda_grids_equal_the_c_kernel(tmp_path):
    """Plain and under AddressSanitizer and UBSan (tests/cuda/Makefile)."""
    result = make_cuda(tmp_path)
    assert result.stdout.count("emulated CUDA grids equal the C kernel") == 2, result.stdout


@requires_nvcc
def test_gpu_programs_build(tmp_path):
    """tests/cuda/curand_mask.cu and benchmarks/cuda_kernel_speed.cu, for sm_90."""
    make_cuda(tmp_path, "programs", "ARCH=sm_90", curand=True)
    assert (tmp_path / "curand_mask").is_file() and (tmp_path / "cuda_kernel_speed").is_file()


@requires_nvcc
def test_speed_program_builds_beside_a_base_kernel(tmp_path):
    """tools/kernel_base.sh's copy of HEAD's unit kernel, renamed, builds into the speed program
    beside the working tree's (BASE=), both kernels in it."""
    if not (ROOT / ".git").exists():  # a lent GPU machine's copy of the tree
        pytest.skip("no git repository")
    base = tmp_path / "base"
    subprocess.run(["bash", str(ROOT / "tools" / "kernel_base.sh"), "HEAD", str(base)], check=True,
                   cwd=ROOT)
    program = tmp_path / "cuda_kernel_speed_beside_base"
    make_cuda(tmp_path, str(program), "ARCH=sm_90", f"BASE={base}")
    symbols = program.read_bytes()
    assert b"8base_gpu19dropout_unit_kernel" in symbols
    assert b"13mydropout_gpu19dropout_unit_kernel" in symbols
