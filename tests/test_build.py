"""setup.py's build with another toolchain than CI's: a C++ compiler that links libstdc++
statically, as the lent GPU machine's CXX does, still builds an extension whose error messages
and masks are right (setup.py's --exclude-libs)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import torch_ext

ROOT = Path(__file__).resolve().parents[1]

# The wrapper adds -static-libstdc++ where a shared object is linked, as such a compiler does,
# and leaves a mark that it did: a build that linked with another command would test nothing.
STATIC_CXX = """#!/bin/sh
case " $* " in *" -shared "*) touch "$0.linked"; exec g++ "$@" -static-libstdc++ ;; esac
exec g++ "$@"
"""

CHECK = """
import sys, torch, torch_ext
assert torch_ext.__file__.startswith(sys.argv[1]), torch_ext.__file__
try:
    torch.ops.torch_ext.mydropout(torch.zeros(3), 0.5, torch.zeros(2), 0)
except RuntimeError as error:
    print(str(error).splitlines()[0])
print(torch_ext.mydropout(torch.ones(16), 0.5, seed=3).tolist())
"""


def libstdcxx_archive():
    if shutil.which("g++") is None:
        return False
    found = subprocess.run(["g++", "-print-file-name=libstdc++.a"], capture_output=True,
                           text=True).stdout.strip()
    return os.path.isabs(found)  # else g++ echoes the bare name back


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux") or not libstdcxx_archive(),
                    reason="needs g++ and its libstdc++.a")
def test_a_compiler_that_links_libstdcxx_statically_builds_a_working_extension(tmp_path):
    for folder in ("csrc", "cuda", "torch_ext"):
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    shutil.copy(ROOT / "setup.py", tmp_path)
    cxx = tmp_path / "g++-static"
    cxx.write_text(STATIC_CXX)
    cxx.chmod(0o755)
    env = {**os.environ, "CXX": str(cxx), "MYDROPOUT_CUDA": "0"}
    build = subprocess.run([sys.executable, "setup.py", "-q", "build_clib", "build_ext",
                            "--inplace"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    assert (tmp_path / "g++-static.linked").exists()

    run = subprocess.run([sys.executable, "-c", CHECK, str(tmp_path)], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    message, mask = run.stdout.splitlines()
    # Without the fix the number is lost ("of shape [") or the process crashes.
    assert message.endswith("but got Float of shape [2]")
    assert mask == str(torch_ext.mydropout(torch.ones(16), 0.5, seed=3).tolist())
