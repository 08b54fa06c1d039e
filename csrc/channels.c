/* Channel dropout's pass over the input, one read and one write per element, after the pairs'
 * multipliers were drawn (mydropout_cpu on ones). Plain loops: the compiler vectorizes them,
 * and the random numbers, which need SIMD by hand, are not drawn here. */
#include <string.h>

#include "halfconv.h"
#include "mydropout.h"

/* v where keep is 1, +0 where it is 0: a mask on the bits rather than a select, which the
 * compiler vectorizes for SSE2 too. */
static inline float f32_kept(float v, int keep) {
    return f32_from_bits(f32_bits(v) & (0u - (uint32_t)keep));
}
static inline double f64_kept(double v, int keep) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    u &= 0u - (uint64_t)keep;
    memcpy(&v, &u, sizeof v);
    return v;
}
static inline uint16_t u16_kept(uint16_t v, int keep) {
    return v & (uint16_t)(0u - (unsigned)keep);
}

/* Rows [row_begin, row_end) of type T with multipliers of type M; MUL(x, m) is the contract's
 * product, KEPT(v, keep) as above. A pair-major row shares one multiplier, so it is either
 * zeroed or scaled whole; a channels-last row meets each of its n's C multipliers in turn. */
#define CHANNEL_ROWS(T, M, MUL, KEPT)                                                        \
    do {                                                                                     \
        const T *xs = x;                                                                     \
        T *ys = y;                                                                           \
        const M *ms = mult;                                                                  \
        if (!channels_last) {                                                                \
            for (int64_t r = row_begin; r < row_end; ++r) {                                  \
                const T *xr = xs + r * spatial;                                              \
                T *yr = ys + r * spatial;                                                    \
                const M m = ms[r];                                                           \
                if (m == 0) {                                                                \
                    memset(yr, 0, (size_t)spatial * sizeof(T));                              \
                } else {                                                                     \
                    for (int64_t e = 0; e < spatial; ++e) yr[e] = MUL(xr[e], m);             \
                }                                                                            \
            }                                                                                \
        } else {                                                                             \
            for (int64_t r = row_begin; r < row_end; ++r) {                                  \
                const T *xr = xs + r * channels;                                             \
                T *yr = ys + r * channels;                                                   \
                const M *mr = ms + r / spatial * channels;                                   \
                for (int64_t c = 0; c < channels; ++c)                                       \
                    yr[c] = KEPT(MUL(xr[c], mr[c]), mr[c] != 0);                             \
            }                                                                                \
        }                                                                                    \
    } while (0)

#define MUL_PLAIN(x, m) ((x) * (m))

/* Built for AVX-512 and AVX2 as well as the baseline, the loader picking by CPU: the same
 * loops, wider vectors, the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__ELF__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void mydropout_channels_cpu(mydropout_dtype dtype, const void *x, void *y, const void *mult,
                            int64_t channels, int64_t spatial, int channels_last,
                            int64_t row_begin, int64_t row_end) {
    switch (dtype) {
    case MYDROPOUT_F32: CHANNEL_ROWS(float, float, MUL_PLAIN, f32_kept); break;
    case MYDROPOUT_F64: CHANNEL_ROWS(double, double, MUL_PLAIN, f64_kept); break;
    case MYDROPOUT_F16: CHANNEL_ROWS(uint16_t, float, f16_scaled, u16_kept); break;
    case MYDROPOUT_BF16: CHANNEL_ROWS(uint16_t, float, bf16_scaled, u16_kept); break;
    }
}
