/* The AVX2 path: the scalar path's bits, 4 * SETS Philox blocks per iteration. */
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include "bf16_avx2.h"
#include "paths.h"
#include "philox.h"

/* No FMA is used: the product must round once, as a plain float multiply. */
#define T256 __attribute__((target("avx2,fma,f16c")))
#define INLINE256 static inline __attribute__((always_inline, target("avx2,fma,f16c")))

/* Sets of 4 Philox blocks in flight per iteration: more independent chains hide the multiply
 * latency; 6 measured fastest on Zen 4 (3, 4, 5, 8 slower), though 16 ymm registers spill. */
#ifndef AVX2_SETS
#define AVX2_SETS 6
#endif
#define SETS AVX2_SETS
#define CHUNK (16 * SETS) /* elements per iteration */

typedef struct {
    __m256i k0[10], k1[10]; /* the key of each round, in every lane */
    __m256i c2, c3;         /* the counter's offset words */
    __m256i q;              /* the first set's block numbers, 64-bit lanes */
    __m256i thr;
} gen256;

/* As in the AVX-512 path: a block per 64-bit lane, words in the low halves, which is all
 * _mm256_mul_epu32 reads. Lanes hold blocks 0,2,1,3 so the 64-bit unpacks give element
 * order. m[i] gets all ones where element 8i + j is kept. */
INLINE256 void gen_masks(gen256 *g, __m256i m[2 * SETS]) {
    const __m256i mul0 = _mm256_set1_epi64x(0xD2511F53u), mul1 = _mm256_set1_epi64x(0xCD9E8D57u);
    __m256i c0[SETS], c1[SETS], c2[SETS], c3[SETS];
#pragma GCC unroll 8
    for (int s = 0; s < SETS; ++s) {
        c0[s] = _mm256_add_epi64(g->q, _mm256_set1_epi64x(4 * s));
        /* q wraps at 2**62 as the scalar path's 64-bit element index does */
        c1[s] = _mm256_and_si256(_mm256_srli_epi64(c0[s], 32), _mm256_set1_epi64x(0x3fffffff));
        c2[s] = g->c2;
        c3[s] = g->c3;
    }
    g->q = _mm256_add_epi64(g->q, _mm256_set1_epi64x(4 * SETS));
#pragma GCC unroll 10
    for (int r = 0; r < 10; ++r) {
#pragma GCC unroll 8
        for (int s = 0; s < SETS; ++s) {
            __m256i p0 = _mm256_mul_epu32(c0[s], mul0), p1 = _mm256_mul_epu32(c2[s], mul1);
            c0[s] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1[s]), g->k0[r]);
            c2[s] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3[s]), g->k1[r]);
            c1[s] = p1;
            c3[s] = p0;
        }
    }
    /* unsigned w >= thr  <=>  max(w, thr) == w */
#pragma GCC unroll 8
    for (int s = 0; s < SETS; ++s) {
        __m256i w01 = _mm256_blend_epi32(c0[s], _mm256_slli_epi64(c1[s], 32), 0xAA);
        __m256i w23 = _mm256_blend_epi32(c2[s], _mm256_slli_epi64(c3[s], 32), 0xAA);
        __m256i lo = _mm256_unpacklo_epi64(w01, w23), hi = _mm256_unpackhi_epi64(w01, w23);
        m[2 * s] = _mm256_cmpeq_epi32(_mm256_max_epu32(lo, g->thr), lo);
        m[2 * s + 1] = _mm256_cmpeq_epi32(_mm256_max_epu32(hi, g->thr), hi);
    }
}

/* A dropped lane is a select of zero (and with the mask), never a multiply, so NaN and inf
 * drop to +0. */
INLINE256 void apply_f32(const float *x, float *y, const __m256i *m, __m256 s) {
#pragma GCC unroll 8
    for (int i = 0; i < 2 * SETS; ++i) {
        __m256 p = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * i), s);
        _mm256_storeu_ps(y + 8 * i, _mm256_and_ps(p, _mm256_castsi256_ps(m[i])));
    }
}

INLINE256 void apply_f64(const double *x, double *y, const __m256i *m, __m256d s) {
#pragma GCC unroll 8
    for (int i = 0; i < 2 * SETS; ++i) {
        __m256i lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(m[i]));
        __m256i hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(m[i], 1));
        __m256d p0 = _mm256_mul_pd(_mm256_loadu_pd(x + 8 * i), s);
        __m256d p1 = _mm256_mul_pd(_mm256_loadu_pd(x + 8 * i + 4), s);
        _mm256_storeu_pd(y + 8 * i, _mm256_and_pd(p0, _mm256_castsi256_pd(lo)));
        _mm256_storeu_pd(y + 8 * i + 4, _mm256_and_pd(p1, _mm256_castsi256_pd(hi)));
    }
}

/* vcvtps2ph makes NaN quiet and keeps the top mantissa bits, as f32_to_f16 does. */
INLINE256 void apply_f16(const uint16_t *x, uint16_t *y, const __m256i *m, __m256 s) {
#pragma GCC unroll 8
    for (int i = 0; i < 2 * SETS; ++i) {
        __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 8 * i)));
        __m256 p = _mm256_and_ps(_mm256_mul_ps(v, s), _mm256_castsi256_ps(m[i]));
        _mm_storeu_si128((__m128i *)(y + 8 * i),
                         _mm256_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
}

/* Even and odd elements widen in place (shift or mask), so no lane crossing is needed
 * except for packing the masks. */
INLINE256 void apply_bf16(const uint16_t *x, uint16_t *y, const __m256i *m, __m256 s) {
    const __m256i hi16 = _mm256_set1_epi32((int)0xffff0000u);
#pragma GCC unroll 8
    for (int i = 0; i < SETS; ++i) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(x + 16 * i));
        __m256 even = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        __m256 odd = _mm256_castsi256_ps(_mm256_and_si256(v, hi16));
        __m256i re = bf16_round_avx2(_mm256_mul_ps(even, s)),
                ro = bf16_round_avx2(_mm256_mul_ps(odd, s));
        __m256i r = _mm256_blend_epi16(_mm256_srli_epi32(re, 16), ro, 0xAA);
        __m256i keep = _mm256_permute4x64_epi64(_mm256_packs_epi32(m[2 * i], m[2 * i + 1]), 0xD8);
        _mm256_storeu_si256((__m256i *)(y + 16 * i), _mm256_and_si256(r, keep));
    }
}

INLINE256 void apply(mydropout_dtype dtype, const void *x, void *y, const __m256i *m,
                     const mydropout_params *prm) {
    switch (dtype) {
    case MYDROPOUT_F32: apply_f32(x, y, m, _mm256_set1_ps(prm->scale_f32)); break;
    case MYDROPOUT_F64: apply_f64(x, y, m, _mm256_set1_pd(prm->scale_f64)); break;
    case MYDROPOUT_F16: apply_f16(x, y, m, _mm256_set1_ps(prm->scale_f32)); break;
    case MYDROPOUT_BF16: apply_bf16(x, y, m, _mm256_set1_ps(prm->scale_f32)); break;
    }
}

/* The generator at Philox block q0 of the call's (seed, offset). */
INLINE256 void gen_init(gen256 *g, const mydropout_params *prm, uint64_t q0) {
    uint32_t k0[10], k1[10];
    philox_round_keys(prm->seed, k0, k1);
    for (int r = 0; r < 10; ++r) {
        g->k0[r] = _mm256_set1_epi32((int)k0[r]);
        g->k1[r] = _mm256_set1_epi32((int)k1[r]);
    }
    g->c2 = _mm256_set1_epi32((int)(uint32_t)prm->offset);
    g->c3 = _mm256_set1_epi32((int)(uint32_t)(prm->offset >> 32));
    g->q = _mm256_add_epi64(_mm256_set1_epi64x((long long)q0), _mm256_setr_epi64x(0, 2, 1, 3));
    g->thr = _mm256_set1_epi32((int)(uint32_t)prm->threshold);
}

#define SIMD_PATH mydropout_avx2
#define SIMD_TARGET T256
#define SIMD_GEN gen256
#define SIMD_MASK __m256i
#define CHUNK_ALIGN 32
#include "simd_driver.h"

#else
typedef int mydropout_avx2_not_x86; /* ISO C wants something in every file */
#endif
