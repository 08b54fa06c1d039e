/* The AVX-512 path: the scalar path's bits, 8 * SETS Philox blocks per iteration. */
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include "paths.h"
#include "philox.h"

#define ISA512 "avx512f,avx512bw,avx512dq,avx512vl"
#define T512 __attribute__((target(ISA512)))
#define INLINE512 static inline __attribute__((always_inline, target(ISA512)))

/* Sets of 8 Philox blocks in flight per iteration: enough independent chains to hide the
 * multiply latency; 4 measured fastest on Zen 4 (2, 3, 6, 8 slower; 6 and up spill). */
#ifndef AVX512_SETS
#define AVX512_SETS 4
#endif
#define SETS AVX512_SETS
#define CHUNK (32 * SETS) /* elements per iteration */

typedef struct {
    __m512i k0[10], k1[10]; /* the key of each round, in every lane */
    __m512i c2, c3;         /* the counter's offset words */
    __m512i q;              /* the first set's block numbers, 64-bit lanes */
    __m512i thr;
} gen512;

/* Each block sits in a 64-bit lane with its words in the low halves: _mm512_mul_epu32 reads
 * only those, so the high halves may hold garbage and a round costs no shuffles. The lanes
 * hold blocks 0,4,1,5,2,6,3,7 so that the final 64-bit unpacks give element order. */
INLINE512 void gen_masks(gen512 *g, __mmask16 m[2 * SETS]) {
    const __m512i mul0 = _mm512_set1_epi64(0xD2511F53u), mul1 = _mm512_set1_epi64(0xCD9E8D57u);
    __m512i c0[SETS], c1[SETS], c2[SETS], c3[SETS];
#pragma GCC unroll 8
    for (int s = 0; s < SETS; ++s) {
        c0[s] = _mm512_add_epi64(g->q, _mm512_set1_epi64(8 * s));
        /* q wraps at 2**62 as the scalar path's 64-bit element index does */
        c1[s] = _mm512_and_si512(_mm512_srli_epi64(c0[s], 32), _mm512_set1_epi64(0x3fffffff));
        c2[s] = g->c2;
        c3[s] = g->c3;
    }
    g->q = _mm512_add_epi64(g->q, _mm512_set1_epi64(8 * SETS));
#pragma GCC unroll 10
    for (int r = 0; r < 10; ++r) {
#pragma GCC unroll 8
        for (int s = 0; s < SETS; ++s) {
            __m512i p0 = _mm512_mul_epu32(c0[s], mul0), p1 = _mm512_mul_epu32(c2[s], mul1);
            c0[s] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), c1[s], g->k0[r], 0x96);
            c2[s] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), c3[s], g->k1[r], 0x96);
            c1[s] = p1;
            c3[s] = p0;
        }
    }
#pragma GCC unroll 8
    for (int s = 0; s < SETS; ++s) {
        __m512i w01 = _mm512_mask_shuffle_epi32(c0[s], 0xAAAA, c1[s], _MM_PERM_CCAA);
        __m512i w23 = _mm512_mask_shuffle_epi32(c2[s], 0xAAAA, c3[s], _MM_PERM_CCAA);
        m[2 * s] = _mm512_cmpge_epu32_mask(_mm512_unpacklo_epi64(w01, w23), g->thr);
        m[2 * s + 1] = _mm512_cmpge_epu32_mask(_mm512_unpackhi_epi64(w01, w23), g->thr);
    }
}

/* One CHUNK of elements; m[i] covers elements 16i .. 16i+15. A dropped lane is a select of
 * zero (maskz), never a multiply, so NaN and inf drop to +0. */
INLINE512 void apply_f32(const float *x, float *y, const __mmask16 *m, __m512 s) {
#pragma GCC unroll 8
    for (int i = 0; i < 2 * SETS; ++i)
        _mm512_storeu_ps(y + 16 * i, _mm512_maskz_mul_ps(m[i], _mm512_loadu_ps(x + 16 * i), s));
}

INLINE512 void apply_f64(const double *x, double *y, const __mmask16 *m, __m512d s) {
#pragma GCC unroll 8
    for (int i = 0; i < 2 * SETS; ++i) {
        __mmask8 lo = (__mmask8)m[i], hi = (__mmask8)(m[i] >> 8);
        _mm512_storeu_pd(y + 16 * i, _mm512_maskz_mul_pd(lo, _mm512_loadu_pd(x + 16 * i), s));
        _mm512_storeu_pd(y + 16 * i + 8,
                         _mm512_maskz_mul_pd(hi, _mm512_loadu_pd(x + 16 * i + 8), s));
    }
}

/* vcvtps2ph makes NaN quiet and keeps the top mantissa bits, as f32_to_f16 does. */
INLINE512 void apply_f16(const uint16_t *x, uint16_t *y, const __mmask16 *m, __m512 s) {
#pragma GCC unroll 8
    for (int i = 0; i < 2 * SETS; ++i) {
        __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + 16 * i)));
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_mul_ps(m[i], v, s),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_storeu_si256((__m256i *)(y + 16 * i), h);
    }
}

/* f32_to_bf16 in integers: round to nearest even, NaN made quiet. */
INLINE512 __m512i round_bf16(__m512 p) {
    __m512i u = _mm512_castps_si512(p);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), odd);
    __mmask16 nan = _mm512_cmp_ps_mask(p, p, _CMP_UNORD_Q);
    return _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x400000));
}

/* Even and odd elements widen in place (shift or mask), so no lane crossing is needed. */
INLINE512 void apply_bf16(const uint16_t *x, uint16_t *y, const __mmask16 *m, __m512 s) {
    const __m512i hi16 = _mm512_set1_epi32((int)0xffff0000u);
#pragma GCC unroll 8
    for (int i = 0; i < SETS; ++i) {
        __m512i v = _mm512_loadu_si512(x + 32 * i);
        __m512 even = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
        __m512 odd = _mm512_castsi512_ps(_mm512_and_si512(v, hi16));
        __m512i re = round_bf16(_mm512_mul_ps(even, s)), ro = round_bf16(_mm512_mul_ps(odd, s));
        __m512i r = _mm512_mask_blend_epi16(0xAAAAAAAAu, _mm512_srli_epi32(re, 16), ro);
        __mmask32 keep = _mm512_kunpackw((__mmask32)m[2 * i + 1], (__mmask32)m[2 * i]);
        _mm512_storeu_si512(y + 32 * i, _mm512_maskz_mov_epi16(keep, r));
    }
}

INLINE512 void apply(mydropout_dtype dtype, const void *x, void *y, const __mmask16 *m,
                     const mydropout_params *prm) {
    switch (dtype) {
    case MYDROPOUT_F32: apply_f32(x, y, m, _mm512_set1_ps(prm->scale_f32)); break;
    case MYDROPOUT_F64: apply_f64(x, y, m, _mm512_set1_pd(prm->scale_f64)); break;
    case MYDROPOUT_F16: apply_f16(x, y, m, _mm512_set1_ps(prm->scale_f32)); break;
    case MYDROPOUT_BF16: apply_bf16(x, y, m, _mm512_set1_ps(prm->scale_f32)); break;
    }
}

/* The generator at Philox block q0 of the call's (seed, offset). */
INLINE512 void gen_init(gen512 *g, const mydropout_params *prm, uint64_t q0) {
    uint32_t k0[10], k1[10];
    philox_round_keys(prm->seed, k0, k1);
    for (int r = 0; r < 10; ++r) {
        g->k0[r] = _mm512_set1_epi32((int)k0[r]);
        g->k1[r] = _mm512_set1_epi32((int)k1[r]);
    }
    g->c2 = _mm512_set1_epi32((int)(uint32_t)prm->offset);
    g->c3 = _mm512_set1_epi32((int)(uint32_t)(prm->offset >> 32));
    g->q = _mm512_add_epi64(_mm512_set1_epi64((long long)q0),
                            _mm512_setr_epi64(0, 4, 1, 5, 2, 6, 3, 7));
    g->thr = _mm512_set1_epi32((int)(uint32_t)prm->threshold);
}

#define SIMD_PATH mydropout_avx512
#define SIMD_TARGET T512
#define SIMD_GEN gen512
#define SIMD_MASK __mmask16
#define CHUNK_ALIGN 64
/* The hardware prefetcher alone keeps up poorly, as the loads come in bursts between long
 * stretches of arithmetic: on Zen 4, benchmarks/c_kernel_speed.c (2**22 elements, one thread)
 * ran float32 at 1.2-1.8 G elements/s without this and 4.9-5.4 with it, float64 at 0.95-1.14 and
 * 2.6-2.9; bfloat16 stayed at 4.1-4.3. 1 to 16 KiB ahead measured alike. The AVX2 path, bound by
 * its arithmetic at about 1.9, gained nothing from it and has none. */
#define PREFETCH_AHEAD 2048
#include "simd_driver.h"

#else
typedef int mydropout_avx512_not_x86; /* ISO C wants something in every file */
#endif
