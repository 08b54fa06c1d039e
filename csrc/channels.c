/* Channel dropout's pass over the input, one read and one write per element, after the pairs'
 * multipliers were drawn (mydropout_cpu on ones). Plain loops: the compiler vectorizes them,
 * and the random numbers, which need SIMD by hand, are not drawn here. */
#include <string.h>

#include "halfconv.h"
#include "mydropout.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_F16C_ROWS 1
#endif

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

#ifdef HAVE_F16C_ROWS
/* float16 by F16C, which the compiler does not reach from f16_to_f32 and f32_to_f16's bit
 * arithmetic (20 times slower). vcvtph2ps and vcvtps2ph round as those do, NaN included, as
 * csrc/dropout_avx2.c relies on too. m is one multiplier for the whole span, or one per
 * element (per_element). */
__attribute__((target("avx,f16c"))) static void f16c_span(const uint16_t *x, uint16_t *y,
                                                          int64_t n, const float *m,
                                                          int per_element) {
    int64_t e = 0;
    for (; e + 8 <= n; e += 8) {
        const __m256 mv = per_element ? _mm256_loadu_ps(m + e) : _mm256_broadcast_ss(m);
        __m256 v = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + e))), mv);
        v = _mm256_and_ps(v, _mm256_cmp_ps(mv, _mm256_setzero_ps(), _CMP_NEQ_OQ));
        _mm_storeu_si128((__m128i *)(y + e),
                         _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    for (; e < n; ++e) {
        const float me = per_element ? m[e] : m[0];
        y[e] = u16_kept(f16_scaled(x[e], me), me != 0);
    }
}

__attribute__((target("avx,f16c"))) static void f16c_rows(const uint16_t *xs, uint16_t *ys,
                                                          const float *ms, int64_t channels,
                                                          int64_t spatial, int channels_last,
                                                          int64_t row_begin, int64_t row_end) {
    for (int64_t r = row_begin; r < row_end; ++r) {
        if (channels_last) {
            f16c_span(xs + r * channels, ys + r * channels, channels,
                      ms + r / spatial * channels, 1);
        } else if (ms[r] == 0) {
            memset(ys + r * spatial, 0, (size_t)spatial * sizeof(uint16_t));
        } else {
            f16c_span(xs + r * spatial, ys + r * spatial, spatial, ms + r, 0);
        }
    }
}
#endif

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
    case MYDROPOUT_F16:
#ifdef HAVE_F16C_ROWS
        /* Every CPU of the AVX2 and AVX-512 paths has F16C; MYDROPOUT_CPU_PATH=scalar keeps
         * the portable rows, for the tests that compare paths. */
        if (mydropout_cpu_path() != MYDROPOUT_PATH_SCALAR) {
            f16c_rows(x, y, mult, channels, spatial, channels_last, row_begin, row_end);
            break;
        }
#endif
        CHANNEL_ROWS(uint16_t, float, f16_scaled, u16_kept);
        break;
    case MYDROPOUT_BF16: CHANNEL_ROWS(uint16_t, float, bf16_scaled, u16_kept); break;
    }
}
