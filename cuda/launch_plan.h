// How a CUDA call is cut into launches and sized, as host code of its own, so that
// tests/cuda/emulate.cu plans exactly as cuda/mydropout.cu does.
#ifndef MYDROPOUT_LAUNCH_PLAN_H
#define MYDROPOUT_LAUNCH_PLAN_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#include "mydropout.h"

namespace mydropout_gpu {

// Threads per block of every kernel of cuda/mydropout.cu; units each thread of the unit kernel
// loads before it computes; and elements each thread of the channel kernel loads before it
// computes: 2 to 8 bytes each, so more of them than the unit kernel's units. Here, so that
// benchmarks/cuda_kernel_speed.cu and tests/cuda/emulate.cu launch as the product does.
constexpr unsigned kThreads = 256;
constexpr int kUnroll = 1;
constexpr int kChannelUnroll = 4;
// CUDA's limit on a grid's x dimension.
constexpr unsigned kMaxBlocks = 0x7fffffff;

// Elements [0, head) and [tail, n) take the per-block kernel, the units between them the unit
// kernel. The head ends at the first element that starts a Philox block and sits on 16-byte
// boundaries of both x and y; where none of the first unit's elements does (x and y
// misaligned to each other), head == tail == n.
struct LaunchPlan {
  int64_t head;
  uint64_t units;
  int64_t tail;
};

inline LaunchPlan plan_launch(uintptr_t x, uintptr_t y, uint64_t elem_size, int64_t unit_elems,
                              int64_t n, uint64_t first_index) {
  for (int64_t h = 0; h < unit_elems && h < n; ++h) {
    const uint64_t skip = static_cast<uint64_t>(h) * elem_size;
    if ((first_index + h) % 4 == 0 && (x + skip) % 16 == 0 && (y + skip) % 16 == 0) {
      const uint64_t units = static_cast<uint64_t>(n - h) / unit_elems;
      return {h, units, h + static_cast<int64_t>(units) * unit_elems};
    }
  }
  return {n, 0, n};
}

// Cuts a call by plan_launch and runs its three parts, in order, through `run`: the launchers
// of cuda/mydropout.cu, or tests/cuda/emulate.cu's emulation of them. Its blocks(x, y, n, prm)
// and units(x, y, units, prm) return a cudaError_t.
template <typename T, typename Run>
cudaError_t run_plan(const T *x, T *y, int64_t n, int64_t unit_elems,
                     const mydropout_params &prm, const Run &run) {
  const LaunchPlan plan = plan_launch(reinterpret_cast<uintptr_t>(x),
                                      reinterpret_cast<uintptr_t>(y), sizeof(T), unit_elems, n,
                                      prm.first_index);
  mydropout_params body = prm, rest = prm;
  body.first_index += plan.head;
  rest.first_index += plan.tail;
  cudaError_t err = run.blocks(x, y, plan.head, prm);
  if (err == cudaSuccess) err = run.units(x + plan.head, y + plan.head, plan.units, body);
  if (err == cudaSuccess) err = run.blocks(x + plan.tail, y + plan.tail, n - plan.tail, rest);
  return err;
}

// Blocks of `threads` for `work` threads' worth of work: one step for each thread, up to
// max_blocks, past which the kernels' grid-stride loops take more. On an H100
// (benchmarks/cuda_kernel_speed.cu), from 2**26 elements up, the unit kernel runs at
// cudaMemcpyAsync's speed on such a grid, and at 87-94% of it on a grid of only the blocks the
// GPU keeps resident at once, looping: the walk, not the arithmetic, was what held it back.
inline unsigned grid_blocks(uint64_t work, unsigned threads, unsigned max_blocks) {
  const uint64_t needed = (work + threads - 1) / threads;
  return static_cast<unsigned>(needed < max_blocks ? needed : max_blocks);
}

// Philox blocks that elements [first_index, first_index + n) touch: the per-block kernel's work.
inline uint64_t philox_blocks(uint64_t first_index, int64_t n) {
  return (first_index + n + 3) / 4 - first_index / 4;
}

// Whether the unit kernel's indices (up to units + unroll * threads) fit in 32 bits.
inline bool fits_index32(uint64_t units, uint64_t threads, int unroll) {
  return units + static_cast<uint64_t>(unroll) * threads <= UINT32_MAX;
}

}  // namespace mydropout_gpu

#endif
