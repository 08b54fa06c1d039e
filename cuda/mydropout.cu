// The CUDA dropout: the CPU mask bit for bit (csrc/philox.h), with 16-byte loads and stores.
// A thread takes one unit: 16 bytes of float32 or float16/bfloat16 (one or two Philox blocks),
// or two 16-byte vectors of float64 (one block). Elements before the first unit that starts on
// a Philox block and on 16-byte boundaries of x and y, and those after the last whole unit,
// take the per-block kernel; so does everything when x and y are misaligned to each other.
// Indices are 32-bit where the unit count allows and 64-bit past that.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <stdint.h>

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

template <typename T> struct Unit {
  static constexpr int kElems = sizeof(T) == 2 ? 8 : 4;       // elements per thread step
  static constexpr int kVecs = kElems * (int)sizeof(T) / 16;  // 16-byte vectors per step
  static constexpr int kBlocks = kElems / 4;                  // Philox calls per step
};

constexpr int kThreads = 256;

__device__ __forceinline__ void read_state(mydropout_params &prm, const int64_t *state) {
  if (state != nullptr) {  // read at run time, so a CUDA graph replay sees the current state
    prm.seed = static_cast<uint64_t>(state[0]);
    prm.offset = static_cast<uint64_t>(state[1]);
  }
}

template <typename T>
__device__ __forceinline__ T drop(T x, uint32_t r, const mydropout_params &prm) {
  return r >= prm.threshold ? Scaled<T>::apply(x, prm) : Scaled<T>::zero();
}

// One thread per Philox block, element by element: any alignment, any first_index.
template <typename T>
__global__ void dropout_block_kernel(const T *x, T *y, int64_t n, mydropout_params prm,
                                     const int64_t *state) {
  read_state(prm, state);
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
      if (k < static_cast<uint64_t>(n)) y[k] = drop(x[k], r[j], prm);
    }
  }
}

// Whole units from 16-byte aligned x and y; prm.first_index is a multiple of 4.
template <typename T, typename Index>
__global__ void dropout_unit_kernel(const T *x, T *y, Index units, mydropout_params prm,
                                    const int64_t *state) {
  using U = Unit<T>;
  read_state(prm, state);
  const uint64_t q0 = prm.first_index >> 2;
  const uint4 *src = reinterpret_cast<const uint4 *>(x);
  uint4 *dst = reinterpret_cast<uint4 *>(y);
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index u = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; u < units;
       u += stride) {
    uint4 raw[U::kVecs];
#pragma unroll
    for (int v = 0; v < U::kVecs; ++v) raw[v] = src[static_cast<uint64_t>(u) * U::kVecs + v];
    T *e = reinterpret_cast<T *>(raw);
#pragma unroll
    for (int b = 0; b < U::kBlocks; ++b) {
      uint32_t r[4];
      philox_dropout_block(prm.seed, prm.offset, q0 + static_cast<uint64_t>(u) * U::kBlocks + b,
                           r);
#pragma unroll
      for (int j = 0; j < 4; ++j) e[4 * b + j] = drop(e[4 * b + j], r[j], prm);
    }
#pragma unroll
    for (int v = 0; v < U::kVecs; ++v) dst[static_cast<uint64_t>(u) * U::kVecs + v] = raw[v];
  }
}

// A grid-stride loop over a few waves of blocks: enough to fill every SM.
cudaError_t grid_size(uint64_t work, unsigned *blocks) {
  int device = 0, sms = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) return err;
  const uint64_t needed = (work + kThreads - 1) / kThreads;
  const uint64_t cap = static_cast<uint64_t>(sms) * 16;
  *blocks = static_cast<unsigned>(needed < cap ? needed : cap);
  return cudaSuccess;
}

template <typename T>
cudaError_t launch_blocks(const T *x, T *y, int64_t n, const mydropout_params &prm,
                          const int64_t *state, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  unsigned blocks = 0;
  cudaError_t err = grid_size((prm.first_index + n + 3) / 4 - prm.first_index / 4, &blocks);
  if (err != cudaSuccess) return err;
  dropout_block_kernel<T><<<blocks, kThreads, 0, stream>>>(x, y, n, prm, state);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_units(const T *x, T *y, uint64_t units, const mydropout_params &prm,
                         const int64_t *state, cudaStream_t stream) {
  if (units == 0) return cudaSuccess;
  unsigned blocks = 0;
  cudaError_t err = grid_size(units, &blocks);
  if (err != cudaSuccess) return err;
  if (units + static_cast<uint64_t>(blocks) * kThreads <= UINT32_MAX) {
    dropout_unit_kernel<T, uint32_t>
        <<<blocks, kThreads, 0, stream>>>(x, y, static_cast<uint32_t>(units), prm, state);
  } else {
    dropout_unit_kernel<T, uint64_t><<<blocks, kThreads, 0, stream>>>(x, y, units, prm, state);
  }
  return cudaGetLastError();
}

bool aligned16(const void *p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <typename T>
cudaError_t launch(const void *xv, void *yv, int64_t n, const mydropout_params &prm,
                   const int64_t *state, cudaStream_t stream) {
  constexpr int64_t kElems = Unit<T>::kElems;
  const T *x = static_cast<const T *>(xv);
  T *y = static_cast<T *>(yv);
  int64_t head = -1;
  for (int64_t h = 0; h < kElems && h < n; ++h) {
    if ((prm.first_index + h) % 4 == 0 && aligned16(x + h) && aligned16(y + h)) {
      head = h;
      break;
    }
  }
  if (head < 0) return launch_blocks(x, y, n, prm, state, stream);
  const uint64_t units = static_cast<uint64_t>(n - head) / kElems;
  const int64_t tail = head + static_cast<int64_t>(units) * kElems;
  mydropout_params body = prm, rest = prm;
  body.first_index += head;
  rest.first_index += tail;
  cudaError_t err = launch_blocks(x, y, head, prm, state, stream);
  if (err == cudaSuccess) err = launch_units(x + head, y + head, units, body, state, stream);
  if (err == cudaSuccess) err = launch_blocks(x + tail, y + tail, n - tail, rest, state, stream);
  return err;
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

extern "C" cudaError_t mydropout_cuda_store_state(int64_t *state, const int64_t *seed_ptr,
                                                  const int64_t *offset_ptr, uint64_t seed,
                                                  uint64_t offset, cudaStream_t stream) {
  store_state_kernel<<<1, 1, 0, stream>>>(state, seed_ptr, offset_ptr, seed, offset);
  return cudaGetLastError();
}
