/* Parameters from p, and the choice of CPU path: once per process, from what the CPU
 * supports or from MYDROPOUT_CPU_PATH. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"

static const char *const path_names[MYDROPOUT_PATH_COUNT] = {"scalar", "avx2", "avx512"};

static mydropout_kernel path_kernel(mydropout_path path) {
    switch (path) {
    case MYDROPOUT_PATH_SCALAR: return mydropout_scalar;
#if defined(__x86_64__) || defined(_M_X64)
    case MYDROPOUT_PATH_AVX2:
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c") &&
            __builtin_cpu_supports("fma"))
            return mydropout_avx2;
        return NULL;
    case MYDROPOUT_PATH_AVX512:
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
            return mydropout_avx512;
        return NULL;
#endif
    default: return NULL;
    }
}

mydropout_params mydropout_params_make(double p, uint64_t seed, uint64_t offset,
                                       uint64_t first_index) {
    mydropout_params prm;
    prm.seed = seed;
    prm.offset = offset;
    prm.first_index = first_index;
    /* p * 2**32 is exact in double, so the threshold is exactly ceil(p * 2**32). */
    prm.threshold = (uint64_t)ceil(p * 4294967296.0);
    prm.scale_f64 = 1.0 / (1.0 - p);
    prm.scale_f32 = (float)prm.scale_f64;
    return prm;
}

int mydropout_cpu_path_supported(mydropout_path path) {
    return path >= 0 && path < MYDROPOUT_PATH_COUNT && path_kernel(path) != NULL;
}

const char *mydropout_cpu_path_name(mydropout_path path) {
    return path >= 0 && path < MYDROPOUT_PATH_COUNT ? path_names[path] : "unknown";
}

static mydropout_path choose_path(void) {
    const char *forced = getenv("MYDROPOUT_CPU_PATH");
    if (forced != NULL) {
        for (int i = 0; i < MYDROPOUT_PATH_COUNT; ++i) {
            if (strcmp(forced, path_names[i]) == 0 && mydropout_cpu_path_supported(i)) return i;
        }
    }
    for (int i = MYDROPOUT_PATH_COUNT - 1; i > 0; --i) {
        if (mydropout_cpu_path_supported(i)) return i;
    }
    return MYDROPOUT_PATH_SCALAR;
}

mydropout_path mydropout_cpu_path(void) {
    /* Every thread computes the same answer, so threads racing on first use agree. */
    static _Atomic int chosen = -1;
    int path = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (path < 0) {
        path = choose_path();
        atomic_store_explicit(&chosen, path, memory_order_relaxed);
    }
    return (mydropout_path)path;
}

void mydropout_cpu_on_path(mydropout_path path, mydropout_dtype dtype, const void *x, void *y,
                           int64_t n, const mydropout_params *prm) {
    if (n <= 0) return;
    if (prm->threshold > 0xffffffffu) {
        /* p == 1: a select of zero for every element, whatever x holds */
        size_t width = mydropout_dtype_size(dtype);
        memset(y, 0, (size_t)n * width);
        return;
    }
    path_kernel(path)(dtype, x, y, n, prm);
}

void mydropout_cpu(mydropout_dtype dtype, const void *x, void *y, int64_t n,
                   const mydropout_params *prm) {
    mydropout_cpu_on_path(mydropout_cpu_path(), dtype, x, y, n, prm);
}
