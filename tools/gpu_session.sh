#!/usr/bin/env bash
# A lent GPU machine's work in one call: builds for the GPU it finds, then runs the stages
# named, in order (default: all five, most needed first):
#   tests     the tests that need a CUDA device (pytest --cuda-only; CI runs the rest)
#   bench     benchmarks/bench.py --device cuda at p = 0.5: the JSON and PNG of
#             benchmarks/results/ (saved after each dtype and size, so a cut-off sweep keeps
#             what it measured), and benchmarks/channels.py (MyDropout2d against nn.Dropout2d)
#   memcheck  compute-sanitizer --tool memcheck over the CUDA cases of tests/test_cuda.py,
#             tests/test_contract.py and tests/test_channel.py, with torch's caching allocator
#             off: an access past a tensor inside one of its pooled blocks goes unseen. The
#             slow test is left out, and the cuda_graphs ones, since capture forbids cudaMalloc;
#             and the cuRAND one, whose nvcc build the tests stage has timed already; and the
#             launch counts, whose profiler (CUPTI) would hook the CUDA API beside the sanitizer.
#   speed     benchmarks/cuda_kernel_speed.cu: the unit kernel over threads per block and
#             units in flight, against cudaMemcpyAsync (pick kThreads and kUnroll from it),
#             and the channel pass; where .kernel-base/ is (tools/kernel_base.sh, carried to the
#             machine), that revision's unit kernel too, in turn with this one's
#   profile   benchmarks/host_overhead.py: where a call of 2**20 elements spends its time,
#             ours and nn.Dropout's, forward and forward+backward (the small sizes' gap)
#   models    benchmarks/models.py: training steps of whole models, torch's dropout and ours;
#             run only when named (LIMIT_MODELS=40), after the others, if time is left.
# e.g. `bash tools/gpu_session.sh tests bench`. Logs and results go to $OUT (what the device
# tool brings back; at most 8 files, so channels.py and models.py print into bench.log), else
# to gpu-out/. A failing stage does not stop the next.
# A task lent a GPU has 15 minutes of device time in all, each machine's start included (about
# 30 s), and a call runs 10 minutes at most: so a session is one or two calls (timeout_s 560).
# Each stage is cut off after its own limit, in seconds: LIMIT_TESTS=180, LIMIT_BENCH=90 (and
# LIMIT_CHANNELS=30), LIMIT_MEMCHECK=125, LIMIT_SPEED=45 (75 with a base), LIMIT_PROFILE=30;
# and none runs past SESSION_LIMIT=540 from the start (the build included), so the call ends
# with its logs. On the H100 (2026-11-26) all six stages took 244 s with the build; the machine
# goes back 30 s after a call, and a later call starts a new one and rebuilds. pip is kept off
# the network (there is none): a missing package fails at once instead of after retries.
# Compiler warnings fail no build there (MYDROPOUT_WERROR=, tests/cuda/Makefile): its host
# compiler is not CI's.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 MYDROPOUT_CUDA=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} PIP_NO_INDEX=1 \
  MYDROPOUT_WERROR=
export PATH="$PATH:${CUDA_HOME:-/usr/local/cuda}/bin"
# The machine's image sets CC and CXX to a gcc of its own (/opt/gcc) that links libstdc++
# statically; the system's compilers build what a user's machine would (setup.py copes with
# either: tests/test_build.py).
unset CC CXX
deadline=$((SECONDS + ${SESSION_LIMIT:-540}))
# A stage's limit: its own, or what is left before the deadline if that is less.
within() {
  local left=$((deadline - SECONDS))
  [ "$left" -ge 1 ] || left=1  # timeout 0 would mean no limit at all
  echo $(($1 < left ? $1 : left))
}
if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
  TORCH_CUDA_ARCH_LIST=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1)
  export TORCH_CUDA_ARCH_LIST
fi
arch=sm_${TORCH_CUDA_ARCH_LIST//./}
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(tests bench memcheck speed profile)
{
  nvidia-smi; nvcc --version; python3 -c "import torch; print('torch', torch.__version__)"
  for tool in python3 make gcc g++ ninja nvcc compute-sanitizer; do
    echo "$tool: $(command -v "$tool" || echo missing)"
  done
} >"$out/setup.log" 2>&1
bash tools/setup.sh >>"$out/setup.log" 2>&1 || { tail -n 40 "$out/setup.log"; exit 1; }
tail -n 1 "$out/setup.log"

status=0
for stage in "${stages[@]}"; do
  echo "== $stage"
  if [ $((deadline - SECONDS)) -lt 10 ]; then
    echo "skipped: SESSION_LIMIT is spent"
    status=1
    continue
  fi
  case $stage in
    speed)
      # run_speed LIMIT [BASE=...]: the program built and run in a fresh folder
      run_speed() {
        timeout "$(within "$1")" make -s -C tests/cuda speed OUT="$(mktemp -d)" ARCH="$arch" \
          "${@:2}"
      }
      {
        if [ -d .kernel-base ]; then
          echo "base: $(cat .kernel-base/REV)"
          # a base that does not build here costs the base's rows, not the stage's
          run_speed "${LIMIT_SPEED:-75}" "BASE=$PWD/.kernel-base" ||
            { echo "speed with the base failed; without it:" && run_speed "${LIMIT_SPEED:-45}"; }
        else
          run_speed "${LIMIT_SPEED:-45}"
        fi
      } 2>&1 | tee "$out/kernel_speed.txt" ;;
    tests)
      # In worker processes of pytest-xdist where it is there (the GPU image has it), a test
      # that crashes its process fails alone; in one process (2026-11-26) it took every test
      # after it along.
      workers=()
      .venv/bin/python -c "import xdist" 2>/dev/null && workers=(-n 4)
      timeout "$(within "${LIMIT_TESTS:-180}")" .venv/bin/python -m pytest tests -q \
        -p no:cacheprovider --cuda-only --durations=15 "${workers[@]}" 2>&1 |
        tee "$out/tests.log" | tail -n 25 ;;
    memcheck)
      PYTORCH_NO_CUDA_MEMORY_CACHING=1 timeout "$(within "${LIMIT_MEMCHECK:-125}")" \
        compute-sanitizer --tool memcheck --error-exitcode 1 .venv/bin/python -m pytest \
        tests/test_cuda.py tests/test_contract.py tests/test_channel.py --cuda-only \
        -m "not slow and not cuda_graphs" -k "not curands_own and not launches" -q \
        -p no:cacheprovider 2>&1 |
        tee "$out/memcheck.log" | tail -n 15 ;;
    bench)
      stamp=$(mktemp)
      timeout "$(within "${LIMIT_BENCH:-90}")" .venv/bin/python benchmarks/bench.py \
        --device cuda --p 0.5 --min-run-time 0.1 2>&1 | tee "$out/bench.log"
      swept=$?
      if [ "$swept" -ne 0 ]; then  # cut off before its table and plot: them, of what it measured
        find benchmarks/results -name '*.json' -newer "$stamp" | while read -r json; do
          .venv/bin/python benchmarks/report.py "$json" --plot "${json%.json}.png"
        done 2>&1 | tee -a "$out/bench.log"
      fi
      find benchmarks/results -type f ! -name '*.partial' -newer "$stamp" -exec cp {} "$out" \;
      timeout "$(within "${LIMIT_CHANNELS:-30}")" .venv/bin/python benchmarks/channels.py \
        --device cuda --min-run-time 0.05 2>&1 |
        tee -a "$out/bench.log" && [ "$swept" -eq 0 ] ;;
    profile)
      timeout "$(within "${LIMIT_PROFILE:-30}")" .venv/bin/python benchmarks/host_overhead.py \
        --device cuda 2>&1 | tee "$out/profile.txt" ;;
    models)  # not in the default list: for a rerun with time to spare
      models=mlp
      .venv/bin/python -c "import transformers" 2>/dev/null && models=mlp,bert
      timeout "$(within "${LIMIT_MODELS:-40}")" .venv/bin/python benchmarks/models.py \
        --device cuda --models "$models" --rounds 3 --min-run-time 0.1 2>&1 |
        tee -a "$out/bench.log" ;;
    *) echo "unknown stage $stage"; false ;;
  esac || status=1
done
exit $status
