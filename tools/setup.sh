#!/usr/bin/env bash
# Sets up .venv with torch and the test tools, and builds the extension when its sources or
# build settings changed. Used by `make test`, `make bench` and .ci/run.
#
# .venv, where missing, comes from tools/make_venv.sh (torch in it).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
[ -x "$PY" ] || bash tools/make_venv.sh .venv

# module[:what pip installs when it is missing] (a package name of its own, or a pinned version)
missing=()
for entry in pytest numpy hypothesis matplotlib setuptools \
    transformers:transformers==5.24.0 sklearn:scikit-learn==1.9.1 onnx:onnx==1.23.2 \
    onnxscript:onnxscript==0.7.2; do
  module=${entry%%:*}
  "$PY" -c "import $module" 2>/dev/null || missing+=("${entry#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  # A machine without a package index (a lent GPU machine, say) still runs what it can.
  "$PY" -m pip install -q "${missing[@]}" ||
    echo "setup.sh: could not install ${missing[*]}: tests that need them will fail or skip" >&2
fi

# The extension is rebuilt when its sources or build settings differ from the last build's, by
# content: a copied working tree (a lent GPU machine's, on each call) may have new times.
built=$(ls torch_ext/_C*.so 2>/dev/null | head -n 1 || true)
inputs=$({
  find csrc cuda torch_ext/csrc setup.py -type f | LC_ALL=C sort | xargs sha256sum
  echo "MYDROPOUT_CUDA=${MYDROPOUT_CUDA:-} TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-}" \
    "CC=${CC:-} CXX=${CXX:-}"
  "$PY" -c "import importlib.metadata as m, sys; print(sys.version, 'torch', m.version('torch'))"
} | sha256sum)
# In .venv: a new .venv has no editable install of torch_ext yet, whatever the library.
stamp=.venv/torch_ext-build.sha256
# --use-pep517: without it, a pip that finds no pyproject.toml may call setuptools' develop,
# which runs a pip of its own that ignores --no-build-isolation and needs an index (the lent GPU
# machine's pip did so: no setuptools to be had, no build).
if [ -z "$built" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$inputs" ]; then
  "$PY" -m pip install -q --no-build-isolation --use-pep517 -e .
  echo "$inputs" >"$stamp"
fi
"$PY" -c "import torch, torch_ext; print('torch', torch.__version__, '| CUDA build:', torch.version.cuda, '| GPU:', torch.cuda.is_available(), '| CPU path:', torch.ops.torch_ext.cpu_path())"
