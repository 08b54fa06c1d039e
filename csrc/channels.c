/* Channel dropout's pass over the input, one read and one write per element, after the pairs'
 * multipliers were drawn (mydropout_cpu on ones). Plain loops: the compiler vectorizes them,
 * and the random numbers, which need SIMD by hand, are not drawn here. */
#include <string.h>

#include "halfconv.h"
#include "mydropout.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include "bf16_avx2.h"
#define HAVE_SIMD16_ROWS 1
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

/* Channels-last rows of one batch share its C multipliers; a row of a few channels is too short
 * a loop to vectorize. So the rows go `step` at a time, as one run of step * C elements against
 * as many multipliers: copies of the batch's side by side in a tile of TILE_BYTES, as many rows
 * as it holds, up to the end of the batch or of the range (`end`); one row at a time straight
 * from mult where not even one fits, or one is all that is left. */
#define TILE_BYTES 2048
typedef struct {
    int64_t end, step;
    const void *mult;
} tile_run;

static tile_run tile_rows(const void *mult, void *tile, size_t msize, int64_t channels,
                          int64_t spatial, int64_t r, int64_t row_end) {
    const int64_t batch_end = (r / spatial + 1) * spatial;
    const int64_t end = batch_end < row_end ? batch_end : row_end;
    const int64_t fits = TILE_BYTES / ((int64_t)msize * channels);
    const int64_t step = fits < end - r ? fits : end - r;
    const char *batch = (const char *)mult + r / spatial * channels * (int64_t)msize;
    if (step == 0 || end - r == 1) return (tile_run){end, 1, batch};
    for (int64_t i = 0; i < step; ++i)
        memcpy((char *)tile + i * channels * (int64_t)msize, batch, (size_t)channels * msize);
    return (tile_run){end, step, tile};
}

/* Rows [row_begin, row_end) of type T with multipliers of type M; MUL(x, m) is the contract's
 * product, KEPT(v, keep) as above. A pair-major row shares one multiplier, so it is either
 * zeroed or scaled whole; a channels-last run meets the multipliers of tile_rows. */
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
            M tile[TILE_BYTES / sizeof(M)];                                                  \
            for (int64_t r = row_begin; r < row_end;) {                                      \
                const tile_run run =                                                         \
                    tile_rows(ms, tile, sizeof(M), channels, spatial, r, row_end);           \
                const M *m = run.mult;                                                       \
                for (int64_t rows; r < run.end; r += rows) {                                 \
                    rows = run.step < run.end - r ? run.step : run.end - r;                  \
                    const T *xr = xs + r * channels;                                         \
                    T *yr = ys + r * channels;                                               \
                    for (int64_t e = 0; e < rows * channels; ++e)                            \
                        yr[e] = KEPT(MUL(xr[e], m[e]), m[e] != 0);                           \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    } while (0)

#define MUL_PLAIN(x, m) ((x) * (m))

#ifdef HAVE_SIMD16_ROWS
/* The 16-bit rows 8 elements at a time, for the CPUs of the AVX2 and AVX-512 paths: the
 * compiler does not vectorize f16_to_f32 and f32_to_f16's bit arithmetic (float16 ran 20 times
 * slower than nn.Dropout2d), nor bfloat16's as well as this. F16C converts float16 and AVX2
 * integers widen and round bfloat16 as csrc/halfconv.h does, NaN included (csrc/dropout_avx2.c
 * relies on the same). */
#define SIMD16 static inline __attribute__((always_inline, target("avx2,f16c")))

SIMD16 __m256 widen8(mydropout_dtype dtype, const uint16_t *x) {
    const __m128i h = _mm_loadu_si128((const __m128i *)x);
    if (dtype == MYDROPOUT_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

SIMD16 void narrow8(mydropout_dtype dtype, __m256 v, uint16_t *y) {
    __m128i h;
    if (dtype == MYDROPOUT_F16) {
        h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    } else { /* the upper halves packed in lane order: quadwords 0 and 2 of the pack */
        const __m256i r = _mm256_srli_epi32(bf16_round_avx2(v), 16);
        h = _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08));
    }
    _mm_storeu_si128((__m128i *)y, h);
}

/* y = x * m rounded, +0 where m is 0; m is one multiplier for the span or one per element. */
SIMD16 void span16(mydropout_dtype dtype, const uint16_t *x, uint16_t *y, int64_t n,
                   const float *m, int per_element) {
    int64_t e = 0;
    for (; e + 8 <= n; e += 8) {
        const __m256 mv = per_element ? _mm256_loadu_ps(m + e) : _mm256_broadcast_ss(m);
        const __m256 keep = _mm256_cmp_ps(mv, _mm256_setzero_ps(), _CMP_NEQ_OQ);
        narrow8(dtype, _mm256_and_ps(_mm256_mul_ps(widen8(dtype, x + e), mv), keep), y + e);
    }
    for (; e < n; ++e) {
        const float me = per_element ? m[e] : m[0];
        const uint16_t v = dtype == MYDROPOUT_F16 ? f16_scaled(x[e], me) : bf16_scaled(x[e], me);
        y[e] = u16_kept(v, me != 0);
    }
}

__attribute__((target("avx2,f16c"))) static void rows16(
    mydropout_dtype dtype, const uint16_t *xs, uint16_t *ys, const float *ms, int64_t channels,
    int64_t spatial, int channels_last, int64_t row_begin, int64_t row_end) {
    if (channels_last) {
        float tile[TILE_BYTES / sizeof(float)];
        for (int64_t r = row_begin; r < row_end;) {
            const tile_run run = tile_rows(ms, tile, sizeof(float), channels, spatial, r, row_end);
            for (int64_t rows; r < run.end; r += rows) {
                rows = run.step < run.end - r ? run.step : run.end - r;
                span16(dtype, xs + r * channels, ys + r * channels, rows * channels, run.mult, 1);
            }
        }
        return;
    }
    for (int64_t r = row_begin; r < row_end; ++r) {
        if (ms[r] == 0) {
            memset(ys + r * spatial, 0, (size_t)spatial * sizeof(uint16_t));
        } else {
            span16(dtype, xs + r * spatial, ys + r * spatial, spatial, ms + r, 0);
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
    if (channels <= 0 || spatial <= 0) return; /* rows of no element */
#ifdef HAVE_SIMD16_ROWS
    /* Every CPU of the AVX2 and AVX-512 paths has AVX2 and F16C; MYDROPOUT_CPU_PATH=scalar
     * keeps the portable rows, for the tests that compare paths. */
    if ((dtype == MYDROPOUT_F16 || dtype == MYDROPOUT_BF16) &&
        mydropout_cpu_path() != MYDROPOUT_PATH_SCALAR) {
        rows16(dtype, x, y, mult, channels, spatial, channels_last, row_begin, row_end);
        return;
    }
#endif
    switch (dtype) {
    case MYDROPOUT_F32: CHANNEL_ROWS(float, float, MUL_PLAIN, f32_kept); break;
    case MYDROPOUT_F64: CHANNEL_ROWS(double, double, MUL_PLAIN, f64_kept); break;
    case MYDROPOUT_F16: CHANNEL_ROWS(uint16_t, float, f16_scaled, u16_kept); break;
    case MYDROPOUT_BF16: CHANNEL_ROWS(uint16_t, float, bf16_scaled, u16_kept); break;
    }
}
