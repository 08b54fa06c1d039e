// Single-thread speed of each CPU path, against a plain float32 scale-copy loop.
// Build and run from the project root:
//   gcc -std=c11 -O3 -Icsrc benchmarks/c_kernel_speed.c csrc/*.c -lm -o c_kernel_speed
//   ./c_kernel_speed
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mydropout.h"

#define N (1 << 22)
#define RUNS 15

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* the median over RUNS of elements per second, in billions */
static double median_gps(double *t) {
    qsort(t, RUNS, sizeof *t, by_value);
    return N / t[RUNS / 2] * 1e-9;
}

/* what memory and a plain loop give, for reference; noinline keeps it honest */
static __attribute__((noinline)) void scale_copy(const float *x, float *y, int64_t n, float s) {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * s;
}

int main(void) {
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    double *xd = malloc(N * sizeof *xd), *yd = malloc(N * sizeof *yd);
    for (int64_t i = 0; i < N; ++i) xd[i] = x[i] = (float)(i % 1000) * 0.001f - 0.5f;
    double t[RUNS];

    for (int r = 0; r < RUNS; ++r) {
        double t0 = now();
        scale_copy(x, y, N, 2.0f);
        t[r] = now() - t0;
    }
    printf("%-8s %-9s %6.3f G elements/s\n", "copy", "float32", median_gps(t));

    const mydropout_dtype dtypes[] = {MYDROPOUT_F32, MYDROPOUT_BF16, MYDROPOUT_F64};
    const char *const dtype_names[] = {"float32", "bfloat16", "float64"};
    for (int p = 0; p < MYDROPOUT_PATH_COUNT; ++p) {
        if (!mydropout_cpu_path_supported((mydropout_path)p)) continue;
        for (int d = 0; d < 3; ++d) {
            const int wide = dtypes[d] == MYDROPOUT_F64;
            const void *in = wide ? (const void *)xd : x;
            void *out = wide ? (void *)yd : y;
            mydropout_params prm = mydropout_params_make(0.5, 1234, 5678, 0);
            mydropout_cpu_on_path((mydropout_path)p, dtypes[d], in, out, N, &prm); /* warm up */
            for (int r = 0; r < RUNS; ++r) {
                prm.offset += 1;
                double t0 = now();
                mydropout_cpu_on_path((mydropout_path)p, dtypes[d], in, out, N, &prm);
                t[r] = now() - t0;
            }
            printf("%-8s %-9s %6.3f G elements/s\n", mydropout_cpu_path_name((mydropout_path)p),
                   dtype_names[d], median_gps(t));
        }
    }
    free(x);
    free(y);
    free(xd);
    free(yd);
    return 0;
}
