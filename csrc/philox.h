/* Philox4x32 (Salmon et al., SC'11, as in Random123): one header for C, C++ and CUDA,
 * so the CPU and the GPU compute the same bits from the same counter and key. */
#ifndef MYDROPOUT_PHILOX_H
#define MYDROPOUT_PHILOX_H

#include <stdint.h>

#if defined(__CUDACC__)
#define PHILOX_FN static __host__ __device__ __forceinline__
#else
#define PHILOX_FN static inline
#endif

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

PHILOX_FN uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi) {
#if defined(__CUDA_ARCH__)
    /* From the 64-bit product's high word ptxas makes an IMAD.WIDE plus an add of zero;
     * __umulhi beside the low product fuses into the one IMAD.WIDE (sm_90 SASS). */
    *hi = __umulhi(a, b);
    return a * b;
#else
    uint64_t product = (uint64_t)a * b;
    *hi = (uint32_t)(product >> 32);
    return (uint32_t)product;
#endif
}

/* `rounds` rounds on ctr[4] with key[2], result in out[4]. Dropout uses 10; the 7-round form
 * exists because the known-answer vectors cover it. A constant `rounds` unrolls fully. */
PHILOX_FN void philox4x32_rounds(int rounds, const uint32_t ctr[4], const uint32_t key[2],
                                 uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < rounds; ++r) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint32_t hi0, hi1;
        uint32_t lo0 = philox_mulhilo(PHILOX_M0, c0, &hi0);
        uint32_t lo1 = philox_mulhilo(PHILOX_M1, c2, &hi1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* The key of each of the 10 rounds from a 64-bit seed, for paths that broadcast them once. */
PHILOX_FN void philox_round_keys(uint64_t seed, uint32_t k0[10], uint32_t k1[10]) {
    k0[0] = (uint32_t)seed;
    k1[0] = (uint32_t)(seed >> 32);
    for (int r = 1; r < 10; ++r) {
        k0[r] = k0[r - 1] + PHILOX_W0;
        k1[r] = k1[r - 1] + PHILOX_W1;
    }
}

/* The mask contract's draw for Philox block q (elements 4q .. 4q+3): key = seed, counter =
 * (q, offset), each split into 32-bit words low word first. This is cuRAND's
 * curand_init(seed, offset, 4q) state. */
PHILOX_FN void philox_dropout_block(uint64_t seed, uint64_t offset, uint64_t q, uint32_t out[4]) {
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr[4] = {(uint32_t)q, (uint32_t)(q >> 32), (uint32_t)offset,
                             (uint32_t)(offset >> 32)};
    philox4x32_rounds(10, ctr, key, out);
}

#endif
