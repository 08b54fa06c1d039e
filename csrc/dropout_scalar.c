/* The portable path: plain C, one Philox block per four elements. Every other path must give
 * its bits exactly. */
#include "halfconv.h"
#include "paths.h"
#include "philox.h"

/* static void NAME(const T *x, T *y, int64_t n, prm): walks the Philox blocks covering mask
 * indices first_index .. first_index + n - 1 (the first and last may be partial), writing
 * KEPT(x[k], s) for a kept element, s being prm->SCALE as an S, and ZERO for a dropped one. */
#define SCALAR_PATH(NAME, T, S, SCALE, KEPT, ZERO)                                    \
    static void NAME(const T *x, T *y, int64_t n, const mydropout_params *prm) {      \
        const S s = prm->SCALE;                                                       \
        int64_t k = 0;                                                                \
        while (k < n) {                                                               \
            uint64_t g = prm->first_index + (uint64_t)k;                              \
            uint32_t r[4];                                                            \
            philox_dropout_block(prm->seed, prm->offset, g >> 2, r);                  \
            for (unsigned j = (unsigned)(g & 3u); j < 4 && k < n; ++j, ++k)           \
                y[k] = r[j] >= prm->threshold ? KEPT(x[k], s) : ZERO;                 \
        }                                                                             \
    }

#define MUL(x, s) ((x) * (s))
SCALAR_PATH(run_f32, float, float, scale_f32, MUL, 0.0f)
SCALAR_PATH(run_f64, double, double, scale_f64, MUL, 0.0)
SCALAR_PATH(run_f16, uint16_t, float, scale_f32, f16_scaled, 0)
SCALAR_PATH(run_bf16, uint16_t, float, scale_f32, bf16_scaled, 0)

void mydropout_scalar(mydropout_dtype dtype, const void *x, void *y, int64_t n,
                      const mydropout_params *prm) {
    switch (dtype) {
    case MYDROPOUT_F32: run_f32(x, y, n, prm); break;
    case MYDROPOUT_F64: run_f64(x, y, n, prm); break;
    case MYDROPOUT_F16: run_f16(x, y, n, prm); break;
    case MYDROPOUT_BF16: run_bf16(x, y, n, prm); break;
    }
}
