// One thread per Philox block: four consecutive elements from one Philox call, so the CUDA
// mask is the CPU mask bit for bit. Indices are 64-bit: tensors may pass 2**31 elements.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "mydropout_cuda.h"
#include "philox.h"

namespace {

// The product is in float32 for every dtype but float64, rounded once to the dtype. Zero is
// spelled per type: torch builds with the half and bfloat16 conversions switched off.
template <typename T> struct Scaled;
template <> struct Scaled<float> {
  static __device__ float apply(float x, const mydropout_params &p) { return x * p.scale_f32; }
  static __device__ float zero() { return 0.0f; }
};
template <> struct Scaled<double> {
  static __device__ double apply(double x, const mydropout_params &p) { return x * p.scale_f64; }
  static __device__ double zero() { return 0.0; }
};
template <> struct Scaled<__half> {
  static __device__ __half apply(__half x, const mydropout_params &p) {
    return __float2half_rn(__half2float(x) * p.scale_f32);
  }
  static __device__ __half zero() { return __ushort_as_half(0); }
};
template <> struct Scaled<__nv_bfloat16> {
  static __device__ __nv_bfloat16 apply(__nv_bfloat16 x, const mydropout_params &p) {
    return __float2bfloat16_rn(__bfloat162float(x) * p.scale_f32);
  }
  static __device__ __nv_bfloat16 zero() { return __ushort_as_bfloat16(0); }
};

template <typename T>
__global__ void dropout_kernel(const T *__restrict__ x, T *__restrict__ y, int64_t n,
                               mydropout_params prm, const int64_t *state) {
  if (state != nullptr) {
    prm.seed = static_cast<uint64_t>(state[0]);
    prm.offset = static_cast<uint64_t>(state[1]);
  }
  const uint64_t first = prm.first_index;
  const uint64_t q_end = (first + static_cast<uint64_t>(n) + 3) >> 2;
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t q = (first >> 2) + static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       q < q_end; q += stride) {
    uint32_t r[4];
    philox_dropout_block(prm.seed, prm.offset, q, r);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint64_t k = 4 * q + j - first;  // wraps past n for the partial first block
      if (k < static_cast<uint64_t>(n)) {
        y[k] = r[j] >= prm.threshold ? Scaled<T>::apply(x[k], prm) : Scaled<T>::zero();
      }
    }
  }
}

__global__ void store_state_kernel(int64_t *state, const int64_t *seed_ptr,
                                   const int64_t *offset_ptr, uint64_t seed, uint64_t offset) {
  state[0] = seed_ptr != nullptr ? *seed_ptr : static_cast<int64_t>(seed);
  state[1] = static_cast<int64_t>((offset_ptr != nullptr ? static_cast<uint64_t>(*offset_ptr) : 0) +
                                  offset);
}

template <typename T>
cudaError_t launch(const void *x, void *y, int64_t n, const mydropout_params &prm,
                   const int64_t *state, cudaStream_t stream) {
  constexpr int kThreads = 256;
  int device = 0, sms = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) return err;
  const uint64_t blocks_needed =
      ((prm.first_index + n + 3) / 4 - prm.first_index / 4 + kThreads - 1) / kThreads;
  // A grid-stride loop over a few waves of blocks: enough to fill every SM.
  const uint64_t cap = static_cast<uint64_t>(sms) * 16;
  const unsigned blocks = static_cast<unsigned>(blocks_needed < cap ? blocks_needed : cap);
  dropout_kernel<T><<<blocks, kThreads, 0, stream>>>(static_cast<const T *>(x),
                                                      static_cast<T *>(y), n, prm, state);
  return cudaGetLastError();
}

}  // namespace

extern "C" cudaError_t mydropout_cuda(mydropout_dtype dtype, const void *x, void *y, int64_t n,
                                      const mydropout_params *prm, const int64_t *state,
                                      cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  if (prm->threshold > 0xffffffffu) {  // p == 1: zero everything, whatever x holds
    const size_t width = dtype == MYDROPOUT_F64 ? 8 : dtype == MYDROPOUT_F32 ? 4 : 2;
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

extern "C" cudaError_t mydropout_cuda_store_state(int64_t *state, const int64_t *seed_ptr,
                                                  const int64_t *offset_ptr, uint64_t seed,
                                                  uint64_t offset, cudaStream_t stream) {
  store_state_kernel<<<1, 1, 0, stream>>>(state, seed_ptr, offset_ptr, seed, offset);
  return cudaGetLastError();
}
