// The CUDA dropout launchers: the CPU mask bit for bit (csrc/philox.h). A call is cut by
// plan_launch (launch_plan.h) into the per-block kernel for a misaligned head and the tail,
// and the unit kernel, with 16-byte loads and stores, for the rest (dropout_work.cuh).
#include <stdint.h>

#include "dropout_work.cuh"
#include "launch_plan.h"
#include "mydropout_cuda.h"

namespace {

using namespace mydropout_gpu;

template <auto kKernel, typename... Args>
cudaError_t launch_grid(unsigned grid, cudaStream_t stream, Args... args) {
  kKernel<<<grid, kThreads, 0, stream>>>(args...);
  return cudaGetLastError();
}

// The grid for a kernel whose threads each take `unroll` of `count` items, and whether its
// indices (up to count plus unroll per thread) fit in 32 bits with it (fits_index32): the
// kernel built with 32-bit indices runs then, else the one with 64-bit ones.
unsigned index_grid(uint64_t count, int unroll, bool *narrow) {
  const unsigned grid = grid_blocks((count + unroll - 1) / unroll, kThreads, kMaxBlocks);
  *narrow = fits_index32(count, uint64_t{grid} * kThreads, unroll);
  return grid;
}

// The launchers that run_plan (launch_plan.h) calls.
struct Launch {
  const int64_t *state;
  cudaStream_t stream;

  template <typename T, typename Source>
  cudaError_t blocks(Source x, T *y, int64_t n, const mydropout_params &prm) const {
    if (n <= 0) return cudaSuccess;
    const unsigned grid = grid_blocks(philox_blocks(prm.first_index, n), kThreads, kMaxBlocks);
    return launch_grid<dropout_block_kernel<T, Source>>(grid, stream, x, y, n, prm, state);
  }

  template <typename T>
  cudaError_t units(const T *x, T *y, uint64_t units, const mydropout_params &prm) const {
    if (units == 0) return cudaSuccess;
    constexpr auto kNarrow = dropout_unit_kernel<T, uint32_t, kUnroll>;
    constexpr auto kWide = dropout_unit_kernel<T, uint64_t, kUnroll>;
    bool narrow = false;
    const unsigned grid = index_grid(units, kUnroll, &narrow);
    if (narrow)
      return launch_grid<kNarrow>(grid, stream, x, y, static_cast<uint32_t>(units), prm, state);
    return launch_grid<kWide>(grid, stream, x, y, units, prm, state);
  }
};

template <typename T>
cudaError_t launch(const void *x, void *y, int64_t n, const mydropout_params &prm,
                   const int64_t *state, cudaStream_t stream) {
  return run_plan(static_cast<const T *>(x), static_cast<T *>(y), n, Unit<T>::kElems, prm,
                  Launch{state, stream});
}

// The dropout of n ones, in one per-block launch: channel dropout's N * C multipliers, few
// beside the elements they scale.
template <typename T>
cudaError_t launch_ones(void *y, int64_t n, const mydropout_params &prm, const int64_t *state,
                        cudaStream_t stream) {
  return Launch{state, stream}.blocks(Ones<T>{}, static_cast<T *>(y), n, prm);
}

template <typename T>
cudaError_t launch_channels(const void *xv, void *yv, const void *mult, int64_t n,
                            int64_t channels, int64_t spatial, bool channels_last,
                            cudaStream_t stream) {
  using Mult = typename Scaled<T>::Mult;
  constexpr auto kNarrow = channel_kernel<T, uint32_t, kChannelUnroll>;
  constexpr auto kWide = channel_kernel<T, uint64_t, kChannelUnroll>;
  const T *x = static_cast<const T *>(xv);
  T *y = static_cast<T *>(yv);
  const Mult *m = static_cast<const Mult *>(mult);
  const uint64_t count = static_cast<uint64_t>(n);
  bool narrow = false;
  const unsigned grid = index_grid(count, kChannelUnroll, &narrow);
  if (narrow) {
    return launch_grid<kNarrow>(grid, stream, x, y, static_cast<uint32_t>(n), m,
                                static_cast<uint32_t>(channels), static_cast<uint32_t>(spatial),
                                channels_last);
  }
  return launch_grid<kWide>(grid, stream, x, y, count, m, static_cast<uint64_t>(channels),
                            static_cast<uint64_t>(spatial), channels_last);
}

__global__ void store_state_kernel(int64_t *state, const int64_t *seed_ptr,
                                   const int64_t *offset_ptr, uint64_t seed, uint64_t offset) {
  state[0] = seed_ptr != nullptr ? *seed_ptr : static_cast<int64_t>(seed);
  const uint64_t base = offset_ptr != nullptr ? static_cast<uint64_t>(*offset_ptr) : 0;
  state[1] = static_cast<int64_t>((base + offset) | MYDROPOUT_CUDA_OWN_OFFSETS);
}

}  // namespace

extern "C" cudaError_t mydropout_cuda(mydropout_dtype dtype, const void *x, void *y, int64_t n,
                                      const mydropout_params *prm, const int64_t *state,
                                      cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  if (prm->threshold > 0xffffffffu) {  // p == 1: zero everything, whatever x holds
    const size_t width = mydropout_dtype_size(dtype);
    return cudaMemsetAsync(y, 0, static_cast<size_t>(n) * width, stream);
  }
  if (x == nullptr) {
    switch (dtype) {
      case MYDROPOUT_F32: return launch_ones<float>(y, n, *prm, state, stream);
      case MYDROPOUT_F64: return launch_ones<double>(y, n, *prm, state, stream);
      default: return cudaErrorInvalidValue;
    }
  }
  switch (dtype) {
    case MYDROPOUT_F32: return launch<float>(x, y, n, *prm, state, stream);
    case MYDROPOUT_F64: return launch<double>(x, y, n, *prm, state, stream);
    case MYDROPOUT_F16: return launch<__half>(x, y, n, *prm, state, stream);
    case MYDROPOUT_BF16: return launch<__nv_bfloat16>(x, y, n, *prm, state, stream);
  }
  return cudaErrorInvalidValue;
}

extern "C" cudaError_t mydropout_cuda_channels(mydropout_dtype dtype, const void *x, void *y,
                                               const void *mult, int64_t n, int64_t channels,
                                               int64_t spatial, int channels_last,
                                               cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  const bool cl = channels_last != 0;
  switch (dtype) {
    case MYDROPOUT_F32: return launch_channels<float>(x, y, mult, n, channels, spatial, cl, stream);
    case MYDROPOUT_F64:
      return launch_channels<double>(x, y, mult, n, channels, spatial, cl, stream);
    case MYDROPOUT_F16:
      return launch_channels<__half>(x, y, mult, n, channels, spatial, cl, stream);
    case MYDROPOUT_BF16:
      return launch_channels<__nv_bfloat16>(x, y, mult, n, channels, spatial, cl, stream);
  }
  return cudaErrorInvalidValue;
}

extern "C" cudaError_t mydropout_cuda_store_state(int64_t *state, const int64_t *seed_ptr,
                                                  const int64_t *offset_ptr, uint64_t seed,
                                                  uint64_t offset, cudaStream_t stream) {
  store_state_kernel<<<1, 1, 0, stream>>>(state, seed_ptr, offset_ptr, seed, offset);
  return cudaGetLastError();
}
