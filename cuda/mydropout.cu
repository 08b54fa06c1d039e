// The CUDA dropout launchers: the CPU mask bit for bit (csrc/philox.h). A call is cut by
// plan_launch (launch_plan.h) into the per-block kernel for a misaligned head and the tail,
// and the unit kernel, with 16-byte loads and stores, for the rest (dropout_work.cuh).
#include <stdint.h>

#include <atomic>

#include "dropout_work.cuh"
#include "launch_plan.h"
#include "mydropout_cuda.h"

namespace {

using namespace mydropout_gpu;

// Units each thread loads before it computes; see benchmarks/cuda_kernel_speed.cu.
constexpr int kUnroll = 2;

// The grid for `work` threads' worth of kKernel on the current device (grid_blocks). How many
// blocks of kThreads one SM keeps resident depends only on the kernel and the device, so it is
// asked once per kernel and device (of the first kMaxDevices).
constexpr int kMaxDevices = 64;

template <auto kKernel>
cudaError_t grid_for(uint64_t work, unsigned *grid) {
  static std::atomic<int> cached[kMaxDevices];
  int device = 0, sms = 0, per_sm = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) return err;
  std::atomic<int> *slot = device < kMaxDevices ? &cached[device] : nullptr;
  if (slot != nullptr) per_sm = slot->load(std::memory_order_relaxed);
  if (per_sm == 0) {
    err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kKernel, kThreads, 0);
    if (err != cudaSuccess) return err;
    if (slot != nullptr) slot->store(per_sm, std::memory_order_relaxed);
  }
  *grid = grid_blocks(work, kThreads, sms, per_sm);
  return cudaSuccess;
}

template <auto kKernel, typename... Args>
cudaError_t launch_grid(unsigned grid, cudaStream_t stream, Args... args) {
  kKernel<<<grid, kThreads, 0, stream>>>(args...);
  return cudaGetLastError();
}

// The grid for a kernel whose threads each take `unroll` of `count` items, built with 32-bit
// indices (kNarrow) and 64-bit ones (kWide): kNarrow's grid, and *narrow set, where its indices
// (up to count plus unroll per thread) fit in 32 bits with that grid (fits_index32); else
// kWide's.
template <auto kNarrow, auto kWide>
cudaError_t index_grid(uint64_t count, int unroll, unsigned *grid, bool *narrow) {
  const uint64_t work = (count + unroll - 1) / unroll;
  cudaError_t err = grid_for<kNarrow>(work, grid);
  if (err != cudaSuccess) return err;
  *narrow = fits_index32(count, uint64_t{*grid} * kThreads, unroll);
  return *narrow ? cudaSuccess : grid_for<kWide>(work, grid);
}

// The launchers that run_plan (launch_plan.h) calls.
struct Launch {
  const int64_t *state;
  cudaStream_t stream;

  template <typename T, typename Source>
  cudaError_t blocks(Source x, T *y, int64_t n, const mydropout_params &prm) const {
    if (n <= 0) return cudaSuccess;
    constexpr auto kKernel = dropout_block_kernel<T, Source>;
    unsigned grid = 0;
    cudaError_t err = grid_for<kKernel>(philox_blocks(prm.first_index, n), &grid);
    if (err != cudaSuccess) return err;
    return launch_grid<kKernel>(grid, stream, x, y, n, prm, state);
  }

  template <typename T>
  cudaError_t units(const T *x, T *y, uint64_t units, const mydropout_params &prm) const {
    if (units == 0) return cudaSuccess;
    constexpr auto kNarrow = dropout_unit_kernel<T, uint32_t, kUnroll>;
    constexpr auto kWide = dropout_unit_kernel<T, uint64_t, kUnroll>;
    unsigned grid = 0;
    bool narrow = false;
    const cudaError_t err = index_grid<kNarrow, kWide>(units, kUnroll, &grid, &narrow);
    if (err != cudaSuccess) return err;
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
  unsigned grid = 0;
  bool narrow = false;
  const cudaError_t err = index_grid<kNarrow, kWide>(count, kChannelUnroll, &grid, &narrow);
  if (err != cudaSuccess) return err;
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
