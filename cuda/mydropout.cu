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

constexpr unsigned kThreads = 256;
// Units each thread loads before it computes; see benchmarks/cuda_kernel_speed.cu.
constexpr int kUnroll = 2;
// Elements each thread of the channel kernel loads before it computes: 2 to 8 bytes each, so
// more of them than units (not yet measured on a GPU).
constexpr int kChannelUnroll = 4;

// SMs, and blocks of kThreads that one SM keeps resident running kKernel. The latter depends
// only on the kernel's registers, so it is asked once per kernel.
template <auto kKernel>
cudaError_t residency(int *sms, int *blocks_per_sm) {
  static std::atomic<int> cached{0};
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(sms, cudaDevAttrMultiProcessorCount, device);
  *blocks_per_sm = cached.load(std::memory_order_relaxed);
  if (err == cudaSuccess && *blocks_per_sm == 0) {
    err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks_per_sm, kKernel, kThreads, 0);
    cached.store(*blocks_per_sm, std::memory_order_relaxed);
  }
  return err;
}

template <auto kKernel, typename... Args>
cudaError_t launch_resident(uint64_t work, cudaStream_t stream, Args... args) {
  int sms = 0, blocks_per_sm = 0;
  cudaError_t err = residency<kKernel>(&sms, &blocks_per_sm);
  if (err != cudaSuccess) return err;
  kKernel<<<grid_blocks(work, kThreads, sms, blocks_per_sm), kThreads, 0, stream>>>(args...);
  return cudaGetLastError();
}

// The launchers that run_plan (launch_plan.h) calls.
struct Launch {
  const int64_t *state;
  cudaStream_t stream;

  template <typename T>
  cudaError_t blocks(const T *x, T *y, int64_t n, const mydropout_params &prm) const {
    if (n <= 0) return cudaSuccess;
    return launch_resident<dropout_block_kernel<T>>(philox_blocks(prm.first_index, n), stream,
                                                    x, y, n, prm, state);
  }

  template <typename T>
  cudaError_t units(const T *x, T *y, uint64_t units, const mydropout_params &prm) const {
    if (units == 0) return cudaSuccess;
    const uint64_t work = (units + kUnroll - 1) / kUnroll;
    // 32-bit indices where they fit with the grid the 32-bit kernel would get.
    int sms = 0, blocks_per_sm = 0;
    cudaError_t err = residency<dropout_unit_kernel<T, uint32_t, kUnroll>>(&sms, &blocks_per_sm);
    if (err != cudaSuccess) return err;
    const uint64_t threads = uint64_t{grid_blocks(work, kThreads, sms, blocks_per_sm)} * kThreads;
    if (fits_index32(units, threads, kUnroll)) {
      return launch_resident<dropout_unit_kernel<T, uint32_t, kUnroll>>(
          work, stream, x, y, static_cast<uint32_t>(units), prm, state);
    }
    return launch_resident<dropout_unit_kernel<T, uint64_t, kUnroll>>(work, stream, x, y, units,
                                                                       prm, state);
  }
};

template <typename T>
cudaError_t launch(const void *x, void *y, int64_t n, const mydropout_params &prm,
                   const int64_t *state, cudaStream_t stream) {
  return run_plan(static_cast<const T *>(x), static_cast<T *>(y), n, Unit<T>::kElems, prm,
                  Launch{state, stream});
}

template <typename T>
cudaError_t launch_channels(const void *xv, void *yv, const void *mult, int64_t n,
                            int64_t channels, int64_t spatial, bool channels_last,
                            cudaStream_t stream) {
  using Mult = typename Scaled<T>::Mult;
  const T *x = static_cast<const T *>(xv);
  T *y = static_cast<T *>(yv);
  const Mult *m = static_cast<const Mult *>(mult);
  const uint64_t count = static_cast<uint64_t>(n);
  const uint64_t work = (count + kChannelUnroll - 1) / kChannelUnroll;
  // 32-bit indices where they fit, with the grid the 32-bit kernel would get.
  int sms = 0, blocks_per_sm = 0;
  cudaError_t err =
      residency<channel_kernel<T, uint32_t, kChannelUnroll>>(&sms, &blocks_per_sm);
  if (err != cudaSuccess) return err;
  const uint64_t threads = uint64_t{grid_blocks(work, kThreads, sms, blocks_per_sm)} * kThreads;
  if (fits_index32(count, threads, kChannelUnroll)) {
    return launch_resident<channel_kernel<T, uint32_t, kChannelUnroll>>(
        work, stream, x, y, static_cast<uint32_t>(n), m, static_cast<uint32_t>(channels),
        static_cast<uint32_t>(spatial), channels_last);
  }
  return launch_resident<channel_kernel<T, uint64_t, kChannelUnroll>>(
      work, stream, x, y, count, m, static_cast<uint64_t>(channels),
      static_cast<uint64_t>(spatial), channels_last);
}

__global__ void store_state_kernel(int64_t *state, const int64_t *seed_ptr,
                                   const int64_t *offset_ptr, uint64_t seed, uint64_t offset) {
  state[0] = seed_ptr != nullptr ? *seed_ptr : static_cast<int64_t>(seed);
  state[1] = static_cast<int64_t>(
      (offset_ptr != nullptr ? static_cast<uint64_t>(*offset_ptr) : 0) + offset);
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
