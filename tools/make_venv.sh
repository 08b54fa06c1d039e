#!/usr/bin/env bash
# Creates the virtual environment DIR (tools/setup.sh's .venv) with torch in it: python3's own
# where python3 has torch (a lent GPU machine's, say), else TORCH_SPEC (default torch==2.14.1,
# a CUDA build, so the CUDA part compiles even with no GPU).
set -euo pipefail
dir=$1
# A venv left half made would pass for a whole one in tools/setup.sh's next run.
trap 'rm -rf "$dir"' ERR
if python3 -c "import torch" 2>/dev/null; then
  # --without-pip: venv's pip comes from ensurepip, which a Debian or Ubuntu python3 lacks
  # without python3-venv; pip is taken from python3's packages instead, as torch is.
  python3 -m venv --system-site-packages --without-pip "$dir"
  # --system-site-packages reaches the base interpreter's packages only. Where python3 is
  # itself a venv (the GPU machine's is /opt/torch/.venv), that venv's own site-packages come in
  # through a .pth file, their .pth files processed as they are for python3.
  purelib=$("$dir/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  python3 -c "import os, site, sys
for d in site.getsitepackages():
    if sys.prefix != sys.base_prefix and d.startswith(sys.prefix + os.sep):
        print(f'import site; site.addsitedir({d!r})')" >"$purelib/_python3_packages.pth"
  "$dir/bin/python" -m pip --version >/dev/null 2>&1 || "$dir/bin/python" -m ensurepip -q
else
  python3 -m venv "$dir"
  "$dir/bin/python" -m pip install -q "${TORCH_SPEC:-torch==2.14.1}"
fi
