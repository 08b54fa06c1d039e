/* The CUDA dropout kernels: raw device pointers, counts and a stream, nothing of torch. */
#ifndef MYDROPOUT_CUDA_H
#define MYDROPOUT_CUDA_H

#include <cuda_runtime.h>
#include <stdint.h>

#include "mydropout.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y[k] = dropout(x[k]) for k < n, as mydropout_cpu does, on `stream`. The seed and offset come
 * from prm, or, when state is not NULL, from state[0] and state[1] in device memory, read when
 * the kernel runs (so a CUDA graph replays with whatever the state holds then). x NULL, for
 * float32 and float64 only, stands for ones: channel dropout's multipliers. */
cudaError_t mydropout_cuda(mydropout_dtype dtype, const void *x, void *y, int64_t n,
                           const mydropout_params *prm, const int64_t *state,
                           cudaStream_t stream);

/* Channel dropout's pass, as mydropout_channels_cpu (csrc/mydropout.h) does it over all its
 * rows: x, y (n elements) and mult (N * C multipliers, float or double for float64) in device
 * memory, on `stream`. */
cudaError_t mydropout_cuda_channels(mydropout_dtype dtype, const void *x, void *y,
                                    const void *mult, int64_t n, int64_t channels,
                                    int64_t spatial, int channels_last, cudaStream_t stream);

/* Bit 63, set in every offset drawn from a CUDA generator. Torch's own random kernels take
 * counter (offset / 4 + j, thread index) from the same generator and key (curand_init(seed,
 * thread, offset)); an offset of ours with the top bit set is never a thread index, so our
 * counters (i / 4, offset) never meet theirs. */
#define MYDROPOUT_CUDA_OWN_OFFSETS (UINT64_C(1) << 63)

/* Writes (seed, offset) into state[0..1] on the device: seed = *seed_ptr or seed, offset =
 * *offset_ptr + offset or offset, with MYDROPOUT_CUDA_OWN_OFFSETS set; pointers read when the
 * kernel runs (graph capture). */
cudaError_t mydropout_cuda_store_state(int64_t *state, const int64_t *seed_ptr,
                                       const int64_t *offset_ptr, uint64_t seed,
                                       uint64_t offset, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
