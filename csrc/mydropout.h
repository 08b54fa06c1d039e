/* The CPU dropout kernels: raw pointers and counts, nothing of torch. The mask contract
 * (README, "Mask contract") is implemented here and in cuda/; both read philox.h. */
#ifndef MYDROPOUT_H
#define MYDROPOUT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { MYDROPOUT_F32, MYDROPOUT_F64, MYDROPOUT_F16, MYDROPOUT_BF16 } mydropout_dtype;

static inline size_t mydropout_dtype_size(mydropout_dtype dtype) {
    return dtype == MYDROPOUT_F64 ? 8 : dtype == MYDROPOUT_F32 ? 4 : 2;
}

typedef enum {
    MYDROPOUT_PATH_SCALAR,
    MYDROPOUT_PATH_AVX2,
    MYDROPOUT_PATH_AVX512,
    MYDROPOUT_PATH_COUNT
} mydropout_path;

typedef struct {
    uint64_t seed;
    uint64_t offset;
    uint64_t first_index; /* mask index of element 0 */
    uint64_t threshold;   /* keep iff the 32-bit draw >= threshold; 2**32 drops every element */
    float scale_f32;      /* float16, bfloat16, float32 multiply in float32 */
    double scale_f64;
} mydropout_params;

/* Threshold and scales from p in [0, 1], exactly as the contract defines them. */
mydropout_params mydropout_params_make(double p, uint64_t seed, uint64_t offset,
                                       uint64_t first_index);

/* y[k] = dropout(x[k]) for k < n, element k having mask index first_index + k.
 * x == y is allowed (in place); any other overlap is not. Here and below, x and y are aligned
 * to their element's size: C leaves any other access undefined. */
void mydropout_cpu(mydropout_dtype dtype, const void *x, void *y, int64_t n,
                   const mydropout_params *params);

/* The same on a chosen path; the caller makes sure the CPU supports it. */
void mydropout_cpu_on_path(mydropout_path path, mydropout_dtype dtype, const void *x, void *y,
                           int64_t n, const mydropout_params *params);

/* The path mydropout_cpu uses: the best the CPU supports, or MYDROPOUT_CPU_PATH
 * (scalar, avx2, avx512) when that is set and supported. */
mydropout_path mydropout_cpu_path(void);
int mydropout_cpu_path_supported(mydropout_path path);
const char *mydropout_cpu_path_name(mydropout_path path);

/* Channel dropout's pass over a dense tensor seen as (N, C, S), S the spatial sizes' product;
 * element e of pair q = n * C + c becomes +0 where mult[q] is 0, else x * mult[q] in the
 * contract's arithmetic. mult holds the N * C pairs' multipliers, mydropout_cpu of ones: float,
 * or double for float64. Rows [row_begin, row_end) only, so that callers can split the work:
 * - channels_last == 0, memory order (n, c, s): row r is pair r, S elements;
 * - channels_last != 0, memory order (n, s, c): row r is (n, s) = (r / S, r % S), C elements.
 * x == y is allowed. */
void mydropout_channels_cpu(mydropout_dtype dtype, const void *x, void *y, const void *mult,
                            int64_t channels, int64_t spatial, int channels_last,
                            int64_t row_begin, int64_t row_end);

#ifdef __cplusplus
}
#endif

#endif
