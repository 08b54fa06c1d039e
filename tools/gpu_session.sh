#!/usr/bin/env bash
# A lent GPU machine's work, in as few calls as its time allows: builds for the GPU it finds,
# then runs the stages named, in order (default: all four):
#   speed     benchmarks/cuda_kernel_speed.cu: the unit kernel over threads per block and
#             units in flight, against cudaMemcpyAsync (pick kThreads and kUnroll from it)
#   tests     the README's test suite, CUDA tests included
#   memcheck  compute-sanitizer --tool memcheck over tests/test_cuda.py (the slow test left out)
#   bench     benchmarks/bench.py --device cuda: the JSON and PNG of benchmarks/results/, and
#             benchmarks/channels.py (MyDropout2d against nn.Dropout2d)
# e.g. `bash tools/gpu_session.sh speed tests`. Logs and results go to $OUT (what the device
# tool brings back; at most 8 files), else to gpu-out/. A failing stage does not stop the next.
# A device call runs 10 minutes at most, so a session takes two calls, back to back while the
# machine is warm (the build is kept):  speed tests,  then  memcheck bench.  Each stage is cut
# off after STAGE_LIMIT seconds (default 240), so that one slow stage leaves the next, and the
# call, time to finish and bring the logs back.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 MYDROPOUT_CUDA=1 MAX_JOBS=${MAX_JOBS:-$(nproc)}
if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
  TORCH_CUDA_ARCH_LIST=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1)
  export TORCH_CUDA_ARCH_LIST
fi
arch=sm_${TORCH_CUDA_ARCH_LIST//./}
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(speed tests memcheck bench)

limit=${STAGE_LIMIT:-240}
{ nvidia-smi; nvcc --version; python3 -c "import torch; print('torch', torch.__version__)"; } \
  >"$out/setup.log" 2>&1
bash tools/setup.sh >>"$out/setup.log" 2>&1 || { tail -n 40 "$out/setup.log"; exit 1; }
tail -n 1 "$out/setup.log"

status=0
for stage in "${stages[@]}"; do
  echo "== $stage"
  case $stage in
    speed)
      timeout "$limit" make -s -C tests/cuda speed OUT="$(mktemp -d)" ARCH="$arch" 2>&1 |
        tee "$out/kernel_speed.txt" ;;
    tests)
      timeout "$limit" .venv/bin/python -m pytest tests -q -p no:cacheprovider 2>&1 |
        tee "$out/tests.log" | tail -n 15 ;;
    memcheck)
      timeout "$limit" compute-sanitizer --tool memcheck --error-exitcode 1 \
        .venv/bin/python -m pytest tests/test_cuda.py -q -m "not slow" -p no:cacheprovider 2>&1 |
        tee "$out/memcheck.log" | tail -n 15 ;;
    bench)
      stamp=$(mktemp)
      timeout "$limit" .venv/bin/python benchmarks/bench.py --device cuda 2>&1 |
        tee "$out/bench.log" &&
        find benchmarks/results -type f -newer "$stamp" -exec cp {} "$out" \; &&
        timeout 120 .venv/bin/python benchmarks/channels.py --device cuda 2>&1 |
          tee "$out/channels.txt" ;;
    *) echo "unknown stage $stage"; false ;;
  esac || status=1
done
exit $status
