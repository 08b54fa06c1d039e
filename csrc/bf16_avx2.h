/* f32_to_bf16 (csrc/halfconv.h) on the 8 lanes of an AVX2 register, for csrc/dropout_avx2.c
 * and csrc/channels.c: round to nearest even, NaN made quiet; each bfloat16 is left in the
 * upper half of its lane. */
#ifndef MYDROPOUT_BF16_AVX2_H
#define MYDROPOUT_BF16_AVX2_H

#include <immintrin.h>

static inline __attribute__((always_inline, target("avx2"))) __m256i bf16_round_avx2(__m256 p) {
    __m256i u = _mm256_castps_si256(p);
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), odd);
    __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(p, p, _CMP_UNORD_Q));
    return _mm256_blendv_epi8(r, _mm256_or_si256(u, _mm256_set1_epi32(0x400000)), nan);
}

#endif
