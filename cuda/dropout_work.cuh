// What one CUDA thread does, written __host__ __device__: the kernels below run it on the GPU,
// and tests/cuda/emulate.cu runs the same code on the CPU for every thread of a grid, so the
// indexing is checked where there is no GPU.
#ifndef MYDROPOUT_DROPOUT_WORK_CUH
#define MYDROPOUT_DROPOUT_WORK_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <stdint.h>
#include <string.h>

#include "mydropout.h"
#include "philox.h"

namespace mydropout_gpu {

// The product is in float32 for every dtype but float64 (Mult: the multiplier's type),
// rounded once to the dtype; a dropped element is Mult's +0, which every dtype rounds to +0.
// The select comes before the rounding, on 32-bit values, so that the GPU rounds and packs
// two 16-bit results in one instruction (widen2 and narrow2).
template <typename T> struct Scaled;
template <> struct Scaled<float> {
  using Mult = float;
  static __host__ __device__ float widen(float x) { return x; }
  static __host__ __device__ float narrow(float v) { return v; }
};
template <> struct Scaled<double> {
  using Mult = double;
  static __host__ __device__ double widen(double x) { return x; }
  static __host__ __device__ double narrow(double v) { return v; }
};
template <> struct Scaled<__half> {
  using Mult = float;
  static __host__ __device__ float widen(__half x) { return __half2float(x); }
  static __host__ __device__ __half narrow(float v) { return __float2half_rn(v); }
  using Pair = __half2;
  static __host__ __device__ float2 widen2(__half2 x) { return __half22float2(x); }
  static __host__ __device__ __half2 narrow2(float2 v) { return __float22half2_rn(v); }
};
template <> struct Scaled<__nv_bfloat16> {
  using Mult = float;
  static __host__ __device__ float widen(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __host__ __device__ __nv_bfloat16 narrow(float v) { return __float2bfloat16_rn(v); }
  using Pair = __nv_bfloat162;
  // A bfloat16 is the high half of a float32, put in place by bit operations: sm_90's
  // __bfloat1622float2 and a shift by 16 take IMADs, on the pipe that Philox's multiplies fill.
  static __host__ __device__ float2 widen2(__nv_bfloat162 x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
#ifdef __CUDA_ARCH__
    const uint32_t lo = __byte_perm(bits, 0, 0x1044);  // bits << 16, as a PRMT
#else
    const uint32_t lo = bits << 16;
#endif
    const uint32_t hi = bits & 0xffff0000u;
    float2 f;
    memcpy(&f.x, &lo, sizeof lo);
    memcpy(&f.y, &hi, sizeof hi);
    return f;
  }
  static __host__ __device__ __nv_bfloat162 narrow2(float2 v) { return __float22bfloat162_rn(v); }
};

template <typename Mult>
__host__ __device__ __forceinline__ Mult product_or_zero(Mult w, bool keep, Mult m) {
  return keep ? w * m : Mult(0);
}

// x * m rounded to T where keep, else +0.
template <typename T>
__host__ __device__ __forceinline__ T scaled_or_zero(T x, bool keep,
                                                     typename Scaled<T>::Mult m) {
  return Scaled<T>::narrow(product_or_zero(Scaled<T>::widen(x), keep, m));
}

// The keep threshold in 32 bits, one compare instruction where 64 bits take two: the kernels
// never run with p == 1 (threshold 2**32), which mydropout_cuda zeroes with a memset.
__host__ __device__ __forceinline__ uint32_t threshold32(const mydropout_params &prm) {
  return static_cast<uint32_t>(prm.threshold);
}

template <typename T>
__host__ __device__ __forceinline__ T drop(T x, uint32_t r, const mydropout_params &prm) {
  using Mult = typename Scaled<T>::Mult;
  const Mult s = sizeof(Mult) == 8 ? static_cast<Mult>(prm.scale_f64) : prm.scale_f32;
  return scaled_or_zero(x, r >= threshold32(prm), s);
}

// The four elements of one Philox block, with its draws r[0..3]: one by one, or for 16-bit
// types as two pairs (__half2, __nv_bfloat162), each widened, selected, and rounded and
// packed by one instruction on the GPU. Elements built up from 16-bit halves instead cost a
// permute per element.
template <typename T>
__host__ __device__ __forceinline__ void drop4(T *v, const uint32_t r[4],
                                               const mydropout_params &prm) {
  if constexpr (sizeof(T) == 2) {
    using Pair = typename Scaled<T>::Pair;
    Pair *pairs = reinterpret_cast<Pair *>(v);
    const float s = prm.scale_f32;
    const uint32_t threshold = threshold32(prm);
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      float2 f = Scaled<T>::widen2(pairs[j]);
      f.x = product_or_zero(f.x, r[2 * j] >= threshold, s);
      f.y = product_or_zero(f.y, r[2 * j + 1] >= threshold, s);
      pairs[j] = Scaled<T>::narrow2(f);
    }
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] = drop(v[j], r[j], prm);
  }
}

// A unit is what a thread takes from one Philox-aligned place: 16 bytes of float32,
// float16 or bfloat16 (one or two Philox blocks), 32 bytes of float64 (one block). Its
// alignment makes each load and store 128-bit wide.
template <typename T> struct alignas(16) Unit {
  static constexpr int kElems = sizeof(T) == 2 ? 8 : 4;
  static constexpr int kBlocks = kElems / 4;  // Philox calls per unit
  T v[kElems];
};

// An input of ones, read as a pointer is: channel dropout's multipliers are the dropout of
// ones, drawn with no tensor of ones to fill and read.
template <typename T> struct Ones {
  __host__ __device__ T operator[](uint64_t) const { return T(1); }
};

// Per-block work: one thread per Philox block q, element by element, so any alignment and
// any first_index. Blocks thread, thread + threads, ... up to the one holding element n - 1.
// x is a const T * or Ones<T>.
template <typename T, typename Source>
__host__ __device__ void block_work(Source x, T *y, int64_t n, const mydropout_params &prm,
                                    uint64_t thread, uint64_t threads) {
  const uint64_t first = prm.first_index;
  const uint64_t q_end = (first + static_cast<uint64_t>(n) + 3) >> 2;
  for (uint64_t q = (first >> 2) + thread; q < q_end; q += threads) {
    uint32_t r[4];
    philox_dropout_block(prm.seed, prm.offset, q, r);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint64_t k = 4 * q + j - first;  // wraps past n for the partial first block
      if (k < static_cast<uint64_t>(n)) y[k] = drop(x[k], r[j], prm);
    }
  }
}

// Unit work: x and y 16-byte aligned, prm.first_index a multiple of 4. Each step loads
// kUnroll units (thread, thread + threads, ...) before it computes, a warp's loads contiguous;
// the product takes one unit a step (kUnroll in launch_plan.h), benchmarks/cuda_kernel_speed.cu
// more. Index is uint32_t only where
// units + kUnroll * threads fits in it (fits_index32 in launch_plan.h).
template <typename T, typename Index, int kUnroll>
__host__ __device__ void unit_work(const T *x, T *y, Index units, const mydropout_params &prm,
                                   Index thread, Index threads) {
  using U = Unit<T>;
  const U *src = reinterpret_cast<const U *>(x);
  U *dst = reinterpret_cast<U *>(y);
  const uint64_t q0 = prm.first_index >> 2;
  for (Index u0 = thread; u0 < units; u0 += kUnroll * threads) {
    U unit[kUnroll];
#pragma unroll
    for (int i = 0; i < kUnroll; ++i) {
      const Index u = u0 + i * threads;
      if (u < units) unit[i] = src[u];
    }
#pragma unroll
    for (int i = 0; i < kUnroll; ++i) {
      const Index u = u0 + i * threads;
      if (u >= units) break;
#pragma unroll
      for (int b = 0; b < U::kBlocks; ++b) {
        uint32_t r[4];
        philox_dropout_block(prm.seed, prm.offset, q0 + static_cast<uint64_t>(u) * U::kBlocks + b,
                             r);
        drop4(unit[i].v + 4 * b, r, prm);
      }
      dst[u] = unit[i];
    }
  }
}

// (k / d, k % d) for a k that moves by a fixed step: one division when made, none after.
// rem + step_rem <= k + step, so nothing overflows while k + step fits in Index.
template <typename Index> struct DivMod {
  Index d, quot, rem, step_quot, step_rem;
  __host__ __device__ DivMod(Index k, Index divisor, Index step)
      : d(divisor), quot(k / divisor), rem(k % divisor), step_quot(step / divisor),
        step_rem(step % divisor) {}
  __host__ __device__ void advance() {
    quot += step_quot;
    rem += step_rem;
    if (rem >= d) {
      rem -= d;
      ++quot;
    }
  }
};

// Channel dropout's pass, the pairs' multipliers drawn (mult: 0 or the scale, Scaled<T>::Mult):
// elements thread, thread + threads, ... of a dense (N, C, S) tensor in memory order (n, c, s),
// or (n, s, c) when channels_last; csrc/channels.c does the same on the CPU. Each step loads
// kUnroll elements and their multipliers before it computes, and the pairs' indices are kept
// by DivMod rather than divided out per element. Index is uint32_t where n + kUnroll * threads
// fits in it (fits_index32).
template <typename T, typename Index, int kUnroll>
__host__ __device__ void channel_work(const T *x, T *y, Index n,
                                      const typename Scaled<T>::Mult *mult, Index channels,
                                      Index spatial, bool channels_last, Index thread,
                                      Index threads) {
  using Mult = typename Scaled<T>::Mult;
  // pair q = k / spatial, or k / (channels * spatial) * channels + k % channels
  DivMod<Index> outer(thread, channels_last ? channels * spatial : spatial, threads);
  DivMod<Index> inner(thread, channels_last ? channels : 1, threads);
  for (Index k0 = thread; k0 < n; k0 += kUnroll * threads) {
    T v[kUnroll];
    Mult m[kUnroll];
#pragma unroll
    for (int i = 0; i < kUnroll; ++i) {
      if (k0 + i * threads < n) {
        v[i] = x[k0 + i * threads];
        m[i] = mult[channels_last ? outer.quot * channels + inner.rem : outer.quot];
      }
      outer.advance();
      inner.advance();
    }
#pragma unroll
    for (int i = 0; i < kUnroll; ++i) {
      if (k0 + i * threads < n) y[k0 + i * threads] = scaled_or_zero(v[i], m[i] != 0, m[i]);
    }
  }
}

#ifdef __CUDACC__
// Seed and offset from device memory when state is given, read when the kernel runs, so a
// CUDA graph replay sees whatever the state holds then.
__device__ __forceinline__ void read_state(mydropout_params &prm, const int64_t *state) {
  if (state != nullptr) {
    prm.seed = static_cast<uint64_t>(state[0]);
    prm.offset = static_cast<uint64_t>(state[1]);
  }
}

template <typename T, typename Source>
__global__ void dropout_block_kernel(Source x, T *y, int64_t n, mydropout_params prm,
                                     const int64_t *state) {
  read_state(prm, state);
  block_work(x, y, n, prm, static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x,
             static_cast<uint64_t>(gridDim.x) * blockDim.x);
}

template <typename T, typename Index, int kUnroll>
__global__ void dropout_unit_kernel(const T *x, T *y, Index units, mydropout_params prm,
                                    const int64_t *state) {
  read_state(prm, state);
  unit_work<T, Index, kUnroll>(x, y, units, prm,
                               static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x,
                               static_cast<Index>(gridDim.x) * blockDim.x);
}
template <typename T, typename Index, int kUnroll>
__global__ void channel_kernel(const T *x, T *y, Index n, const typename Scaled<T>::Mult *mult,
                               Index channels, Index spatial, bool channels_last) {
  channel_work<T, Index, kUnroll>(x, y, n, mult, channels, spatial, channels_last,
                                  static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x,
                                  static_cast<Index>(gridDim.x) * blockDim.x);
}
#endif

}  // namespace mydropout_gpu

#endif
