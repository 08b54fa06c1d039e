"""Builds torch_ext._C: the C kernels of csrc/ as a C library, the CUDA kernels of cuda/ when
torch has CUDA and nvcc is found, and the glue of torch_ext/csrc/.

MYDROPOUT_CUDA=1 requires the CUDA part, MYDROPOUT_CUDA=0 leaves it out; unset, it is built
when it can be. With no GPU visible, TORCH_CUDA_ARCH_LIST defaults to DEFAULT_ARCHS.
"""

import os
import shutil
import sys
from glob import glob

import torch
from setuptools import setup


def _fix_cuda_home():
    """Where nvcc on PATH is a wrapper script, torch guesses CUDA_HOME from the script's folder,
    which holds no headers; /usr/local/cuda is then the toolkit."""
    if os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH"):
        return
    nvcc = shutil.which("nvcc")
    guess = os.path.dirname(os.path.dirname(os.path.realpath(nvcc))) if nvcc else None
    headers = "include/cuda_runtime_api.h"
    if guess and not os.path.exists(os.path.join(guess, headers)):
        if os.path.exists(os.path.join("/usr/local/cuda", headers)):
            os.environ["CUDA_HOME"] = "/usr/local/cuda"


_fix_cuda_home()
from torch.utils.cpp_extension import (  # noqa: E402  (after CUDA_HOME is settled)
    CUDA_HOME,
    BuildExtension,
    CppExtension,
    CUDAExtension,
)

DEFAULT_ARCHS = "7.5;8.0;9.0;10.0;12.0+PTX"


def build_cuda():
    wanted = os.environ.get("MYDROPOUT_CUDA", "")
    possible = torch.version.cuda is not None and CUDA_HOME is not None
    if wanted == "1" and not possible:
        raise RuntimeError(
            "MYDROPOUT_CUDA=1, but the CUDA part cannot be built: "
            f"torch.version.cuda={torch.version.cuda}, CUDA_HOME={CUDA_HOME}"
        )
    return possible and wanted != "0"


# C stays C: the kernels are compiled by the C compiler with C flags only, into a static
# library that the extension links.
c_kernels = (
    "mydropout_kernels",
    {
        "sources": sorted(glob("csrc/*.c")),
        "include_dirs": ["csrc"],
        "cflags": ["-std=c11", "-O3", "-fPIC", "-Wall", "-Wextra"],
    },
)

sources = sorted(glob("torch_ext/csrc/*.cpp"))
# at::parallel_for is inline OpenMP in torch's headers: without -fopenmp it runs on one thread.
# The extension then binds to the libgomp.so.1 that torch has already loaded.
openmp = ["-fopenmp"] if sys.platform.startswith("linux") else []
compile_args = {"cxx": ["-O3", "-Wall", *openmp]}
link_args = list(openmp)
if sys.platform.startswith("linux"):
    # A compiler that links libstdc++ statically (the lent GPU machine's CXX does) gives the
    # extension its own copy, whose exported symbols the process's libstdc++ (torch's) then
    # partly overrides: its locale breaks, and formatting a number in an error message
    # truncates it or crashes. Kept private, the copy works; with a shared libstdc++ this hides
    # only the C kernels' archive.
    link_args.append("-Wl,--exclude-libs,ALL")
if build_cuda():
    if "TORCH_CUDA_ARCH_LIST" not in os.environ and not torch.cuda.is_available():
        os.environ["TORCH_CUDA_ARCH_LIST"] = DEFAULT_ARCHS
    extension_type = CUDAExtension
    compile_args["nvcc"] = ["-O3", "-std=c++17"]
    sources += sorted(glob("cuda/*.cu"))
else:
    extension_type = CppExtension
    sources.remove("torch_ext/csrc/cuda.cpp")

setup(
    name="mydropout",
    version="0.1.0",
    description="Dropout as a torch op: C on the CPU, CUDA on the GPU, masks from Philox counters",
    packages=["torch_ext"],
    libraries=[c_kernels],
    ext_modules=[
        extension_type(
            "torch_ext._C",
            sources,
            include_dirs=[os.path.abspath("csrc"), os.path.abspath("cuda")],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
    ],
    cmdclass={"build_ext": BuildExtension},
    python_requires=">=3.10",
)
