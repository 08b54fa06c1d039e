/* The portable path: plain C, one Philox block per four elements. Every other path must give
 * its bits exactly. */
#include "halfconv.h"
#include "paths.h"
#include "philox.h"

/* Walks the Philox blocks covering mask indices first_index .. first_index + n - 1; the first
 * and last blocks may be partial. KEEP(k) writes element k scaled, DROP(k) writes zero. */
#define SCALAR_LOOP(KEEP, DROP)                                                       \
    do {                                                                              \
        int64_t k = 0;                                                                \
        while (k < n) {                                                               \
            uint64_t g = prm->first_index + (uint64_t)k;                              \
            uint32_t r[4];                                                            \
            philox_dropout_block(prm->seed, prm->offset, g >> 2, r);                  \
            for (unsigned j = (unsigned)(g & 3u); j < 4 && k < n; ++j, ++k) {         \
                if (r[j] >= prm->threshold) {                                         \
                    KEEP(k);                                                          \
                } else {                                                              \
                    DROP(k);                                                          \
                }                                                                     \
            }                                                                         \
        }                                                                             \
    } while (0)

static void run_f32(const float *x, float *y, int64_t n, const mydropout_params *prm) {
    const float s = prm->scale_f32;
#define KEEP(k) y[k] = x[k] * s
#define DROP(k) y[k] = 0.0f
    SCALAR_LOOP(KEEP, DROP);
#undef KEEP
#undef DROP
}

static void run_f64(const double *x, double *y, int64_t n, const mydropout_params *prm) {
    const double s = prm->scale_f64;
#define KEEP(k) y[k] = x[k] * s
#define DROP(k) y[k] = 0.0
    SCALAR_LOOP(KEEP, DROP);
#undef KEEP
#undef DROP
}

static void run_f16(const uint16_t *x, uint16_t *y, int64_t n, const mydropout_params *prm) {
    const float s = prm->scale_f32;
#define KEEP(k) y[k] = f16_scaled(x[k], s)
#define DROP(k) y[k] = 0
    SCALAR_LOOP(KEEP, DROP);
#undef KEEP
#undef DROP
}

static void run_bf16(const uint16_t *x, uint16_t *y, int64_t n, const mydropout_params *prm) {
    const float s = prm->scale_f32;
#define KEEP(k) y[k] = bf16_scaled(x[k], s)
#define DROP(k) y[k] = 0
    SCALAR_LOOP(KEEP, DROP);
#undef KEEP
#undef DROP
}

void mydropout_scalar(mydropout_dtype dtype, const void *x, void *y, int64_t n,
                      const mydropout_params *prm) {
    switch (dtype) {
    case MYDROPOUT_F32: run_f32(x, y, n, prm); break;
    case MYDROPOUT_F64: run_f64(x, y, n, prm); break;
    case MYDROPOUT_F16: run_f16(x, y, n, prm); break;
    case MYDROPOUT_BF16: run_bf16(x, y, n, prm); break;
    }
}
