/* The driver that csrc/dropout_avx2.c and csrc/dropout_avx512.c share, written once and
 * compiled into each for its own ISA. Before including it, the path defines:
 *   SIMD_PATH    the entry's name (csrc/paths.h)
 *   SIMD_TARGET  the entry's function attributes (its target ISA)
 *   SIMD_GEN     the generator's state: gen_init(&g, prm, q0) starts it at Philox block q0
 *   SIMD_MASK    one keep mask: gen_masks(&g, m) fills m[2 * SETS] for the next CHUNK elements
 *                and apply(dtype, x, y, m, prm) writes those elements
 *   SETS, CHUNK  as above; CHUNK_ALIGN the alignment of a vector
 * and, if the path reads its input ahead by hand, PREFETCH_AHEAD: how many bytes ahead. */
#include <stdint.h>
#include <string.h>

#ifdef PREFETCH_AHEAD
/* A prefetch never faults, so it may look past the end of x; the address is formed as an
 * integer, since a pointer that far past would be undefined. */
static inline void prefetch_ahead(const void *x, size_t bytes) {
    for (size_t b = 0; b < bytes; b += 64)
        __builtin_prefetch((const void *)((uintptr_t)x + PREFETCH_AHEAD + b));
}
#else
static inline void prefetch_ahead(const void *x, size_t bytes) { (void)x, (void)bytes; }
#endif

/* One loop per dtype, so the switch stays out of the loop. */
#define MAIN_LOOP(DT, T)                                                              \
    for (; k + CHUNK <= n; k += CHUNK) {                                              \
        prefetch_ahead((const T *)x + k, CHUNK * sizeof(T));                          \
        gen_masks(&g, m);                                                             \
        apply(DT, (const T *)x + k, (T *)y + k, m, prm);                              \
    }

SIMD_TARGET void SIMD_PATH(mydropout_dtype dtype, const void *x, void *y, int64_t n,
                           const mydropout_params *prm) {
    const size_t width = mydropout_dtype_size(dtype);
    /* elements before the first whole Philox block */
    int64_t k = (int64_t)((4u - (prm->first_index & 3u)) & 3u);
    if (k > n) k = n;
    mydropout_scalar(dtype, x, y, k, prm);
    if (k == n) return;

    SIMD_GEN g;
    gen_init(&g, prm, (prm->first_index + (uint64_t)k) >> 2);
    SIMD_MASK m[2 * SETS];
    switch (dtype) {
    case MYDROPOUT_F32: MAIN_LOOP(MYDROPOUT_F32, float); break;
    case MYDROPOUT_F64: MAIN_LOOP(MYDROPOUT_F64, double); break;
    case MYDROPOUT_F16: MAIN_LOOP(MYDROPOUT_F16, uint16_t); break;
    case MYDROPOUT_BF16: MAIN_LOOP(MYDROPOUT_BF16, uint16_t); break;
    }
    if (k < n) {
        /* the tail runs as one whole chunk through a buffer, for the same bits as above */
        _Alignas(CHUNK_ALIGN) unsigned char buf[CHUNK * 8];
        size_t bytes = (size_t)(n - k) * width;
        memset(buf, 0, sizeof buf);
        memcpy(buf, (const unsigned char *)x + (size_t)k * width, bytes);
        gen_masks(&g, m);
        apply(dtype, buf, buf, m, prm);
        memcpy((unsigned char *)y + (size_t)k * width, buf, bytes);
    }
}

#undef MAIN_LOOP
