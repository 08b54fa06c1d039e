#!/usr/bin/env bash
# Another revision's CUDA unit kernel, for the speed stage (benchmarks/cuda_kernel_speed.cu) to
# time beside the working tree's in one process, in turn, where one machine's drift between
# calls is as large as the changes measured (a point or two). REV's csrc/philox.h and
# cuda/dropout_work.cuh, renamed out of the way (base_philox*, BASE_PHILOX_*, namespace
# base_gpu), go to .kernel-base/ (or DIR); both kernels share csrc/mydropout.h, so REV's
# mydropout_params must be the working tree's. A lent GPU machine's .git is no guide (on
# 2026-11-26 it held the session's first commit, not the tree's): make it here, then name
# .kernel-base in the device call's carry:
#   bash tools/kernel_base.sh main && bash tools/gpu_session.sh speed
# DIR, where relative, is from the project root, as tests/cuda/Makefile's BASE is. The three
# files are made aside and moved in together, so that a failure leaves DIR as it was.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: tools/kernel_base.sh REV [DIR]}
out=${2:-.kernel-base}
rename() {
  sed -e 's/\bphilox/base_philox/g; s/\bPHILOX_/BASE_PHILOX_/g; s/\bmydropout_gpu\b/base_gpu/g' \
    -e 's/\bMYDROPOUT_\(PHILOX_H\|DROPOUT_WORK_CUH\)\b/BASE_\1/g'
}
made=$(mktemp -d)
trap 'rm -rf "$made"' EXIT
git show "$rev:csrc/philox.h" | rename >"$made/base_philox.h"
git show "$rev:cuda/dropout_work.cuh" | rename >"$made/base_dropout_work.cuh"
git rev-parse --short "$rev" >"$made/REV"
mkdir -p "$out"
mv "$made"/* "$out"/
