// The C kernels without Python: Philox against the Random123 known answers, the scalar path
// against the mask contract written out again here, and every other path the CPU supports
// against the scalar path, bit for bit.
//
// Build and run with `make -C tests/c`, or by hand from the project root:
//   gcc -std=c11 -O2 -Wall -Wextra -Icsrc tests/c/test_kernels.c csrc/*.c -lm -o test_kernels
//   ./test_kernels ../shared/reference/philox4x32_kat.txt
// Add -fsanitize=address,undefined -fno-sanitize-recover=all for the sanitizer build.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halfconv.h"
#include "mydropout.h"
#include "philox.h"

static long passed, failed;

static void check(int ok, const char *what) {
    if (ok) {
        ++passed;
    } else {
        if (failed < 20) printf("FAIL: %s\n", what);
        ++failed;
    }
}

/* ---- Philox known answers ---- */

static void test_kat(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        check(0, "known-answer file opens");
        return;
    }
    char line[512];
    int vectors = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (line[0] == '#' || strspn(line, " \t\r\n") == strlen(line)) continue;
        int rounds;
        unsigned ctr[4], key[2], want[4];
        int got = sscanf(line, "%d %x %x %x %x %x %x %x %x %x %x", &rounds, &ctr[0], &ctr[1],
                         &ctr[2], &ctr[3], &key[0], &key[1], &want[0], &want[1], &want[2],
                         &want[3]);
        if (got != 11) {
            check(0, "known-answer line parses");
            continue;
        }
        const uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]}, k[2] = {key[0], key[1]};
        uint32_t out[4];
        philox4x32_rounds(rounds, c, k, out);
        char what[600];
        snprintf(what, sizeof what, "Philox known answer: %.*s (got %08x %08x %08x %08x)",
                 (int)strcspn(line, "\r\n"), line, out[0], out[1], out[2], out[3]);
        check(out[0] == want[0] && out[1] == want[1] && out[2] == want[2] && out[3] == want[3],
              what);
        ++vectors;
    }
    fclose(f);
    check(vectors >= 6, "known-answer file holds the six Random123 vectors");

    /* the file's long-run vector, from its comment */
    const uint32_t c[4] = {2499, 0, 0, 0}, k[2] = {20111115, 0};
    uint32_t out[4];
    philox4x32_rounds(10, c, k, out);
    check(out[3] == 1955073260u, "Philox long-run vector (word 3 = 1955073260)");

    /* philox_dropout_block splits seed, q and offset low word first */
    uint32_t a[4], b[4];
    const uint32_t c2[4] = {0x89abcdefu, 0x01234567u, 0x76543210u, 0xfedcba98u};
    const uint32_t k2[2] = {0x33333333u, 0x11111111u};
    philox4x32_rounds(10, c2, k2, a);
    philox_dropout_block(0x1111111133333333ull, 0xfedcba9876543210ull, 0x0123456789abcdefull, b);
    check(memcmp(a, b, sizeof a) == 0, "philox_dropout_block word order");
}

/* ---- inputs ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t width_of(mydropout_dtype dt) {
    return dt == MYDROPOUT_F64 ? 8 : dt == MYDROPOUT_F32 ? 4 : 2;
}

static const char *dtype_name(mydropout_dtype dt) {
    static const char *const names[] = {"float32", "float64", "float16", "bfloat16"};
    return names[dt];
}

/* Random bits (every NaN payload, subnormal and inf), special values, and values with few
 * significant bits, whose scaled products land on rounding ties. */
static void fill(mydropout_dtype dt, void *buf, int64_t n) {
    static const uint16_t sp16[] = {0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x7d00, 0xfe01,
                                    0x0001, 0x8001, 0x03ff, 0x0400, 0x7bff, 0xfbff, 0x3c00,
                                    0x7bfe, 0x0002, 0x0003, 0x3c01, 0x3c03, 0x5bff};
    static const uint16_t spb[] = {0x0000, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0x7f81, 0xffc1,
                                   0x0001, 0x8001, 0x007f, 0x0080, 0x7f7f, 0xff7f, 0x3f80,
                                   0x3f81, 0x3f83, 0x7f7e, 0x0003, 0x3fff, 0x4001};
    static const uint32_t sp32[] = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u,
                                    0x7fc00000u, 0x7f800001u, 0xffc12345u, 0x7fbfffffu,
                                    0x00000001u, 0x80000001u, 0x007fffffu, 0x00800000u,
                                    0x7f7fffffu, 0xff7fffffu, 0x3f800000u, 0x3f800001u,
                                    0x477ff000u, 0x477fefffu, 0x33000000u, 0x387fc000u};
    static const uint64_t sp64[] = {0, 0x8000000000000000ull, 0x7ff0000000000000ull,
                                    0xfff0000000000000ull, 0x7ff8000000000000ull,
                                    0x7ff0000000000001ull, 0xfff8000000012345ull, 1,
                                    0x8000000000000001ull, 0x000fffffffffffffull,
                                    0x7fefffffffffffffull, 0x3ff0000000000001ull};
    for (int64_t i = 0; i < n; ++i) {
        uint64_t r = rnd(), kind = r & 7, v = r >> 8;
        switch (dt) {
        case MYDROPOUT_F16:
        case MYDROPOUT_BF16: {
            const uint16_t *sp = dt == MYDROPOUT_F16 ? sp16 : spb;
            uint16_t h = kind < 3   ? (uint16_t)v
                         : kind < 5 ? sp[v % 20]
                         /* a few significant bits: 1.5 * 2**e, 1.75 * 2**e, ... */
                                    : (uint16_t)((v & 0xff80u) | ((v >> 16) & 0x60u));
            ((uint16_t *)buf)[i] = h;
            break;
        }
        case MYDROPOUT_F32: {
            uint32_t u = kind < 3   ? (uint32_t)v
                         : kind < 5 ? sp32[v % 20]
                         : kind < 6 ? (uint32_t)((v & 0xfff00000u) | ((v >> 32) & 0xe0000u))
                                    : f32_bits((float)((double)(int32_t)v * 1e-3));
            memcpy((uint32_t *)buf + i, &u, 4);
            break;
        }
        case MYDROPOUT_F64: {
            uint64_t u = kind < 3 ? rnd() : kind < 5 ? sp64[v % 12] : 0;
            if (kind >= 5) {
                double d = (double)(int64_t)rnd() * 1e-15;
                memcpy(&u, &d, 8);
            }
            memcpy((uint64_t *)buf + i, &u, 8);
            break;
        }
        }
    }
}

/* ---- the scalar path against the contract, written out again ---- */

static void test_scalar_contract(void) {
    const double ps[] = {0.0, 0.1, 0.5, 0.9, 0.999, 1.0};
    const int64_t n = 1003;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    double *xd = malloc(n * sizeof *xd), *yd = malloc(n * sizeof *yd);
    for (size_t ip = 0; ip < sizeof ps / sizeof ps[0]; ++ip) {
        for (int fi = 0; fi < 4; ++fi) {
            uint64_t first = fi == 3 ? UINT64_MAX - 500 : (uint64_t)fi * 0x40000001ull;
            mydropout_params prm = mydropout_params_make(ps[ip], 0xfedcba9876543210ull + fi,
                                                         UINT64_MAX - (uint64_t)fi, first);
            double threshold = ceil(ps[ip] * 4294967296.0);
            /* p * 2**32 has a fraction for 0.1, 0.9 and 0.999, so floor would differ */
            check((double)prm.threshold == threshold, "threshold = ceil(p * 2**32)");
            if (ps[ip] == 0.5) {
                /* a threshold equal to a draw: that element is kept */
                uint32_t tie[4];
                philox_dropout_block(prm.seed, prm.offset, (first + 7) / 4, tie);
                prm.threshold = tie[(first + 7) % 4];
                threshold = prm.threshold;
            }
            fill(MYDROPOUT_F32, x, n);
            fill(MYDROPOUT_F64, xd, n);
            mydropout_cpu_on_path(MYDROPOUT_PATH_SCALAR, MYDROPOUT_F32, x, y, n, &prm);
            mydropout_cpu_on_path(MYDROPOUT_PATH_SCALAR, MYDROPOUT_F64, xd, yd, n, &prm);
            const float s = (float)(1.0 / (1.0 - ps[ip]));
            const double sd = 1.0 / (1.0 - ps[ip]);
            int ok = 1;
            int64_t kept = 0;
            for (int64_t k = 0; k < n; ++k) {
                uint64_t g = first + (uint64_t)k;
                uint32_t w[4];
                philox_dropout_block(prm.seed, prm.offset, g / 4, w);
                int keep = (double)w[g % 4] >= threshold;
                kept += keep;
                float ef = keep ? x[k] * s : 0.0f;
                double ed = keep ? xd[k] * sd : 0.0;
                ok &= memcmp(&ef, &y[k], 4) == 0 && memcmp(&ed, &yd[k], 8) == 0;
            }
            /* a loose look at the keep rate: within 6 standard deviations */
            double drop = fmin(threshold / 4294967296.0, 1.0);
            double mean = n * (1.0 - drop), sd6 = 6 * sqrt(n * drop * (1.0 - drop)) + 1;
            char what[200];
            snprintf(what, sizeof what, "scalar path = contract, p=%g first_index=%llu (kept %lld)",
                     ps[ip], (unsigned long long)first, (long long)kept);
            check(ok && fabs((double)kept - mean) <= sd6, what);
        }
    }
    free(x), free(y), free(xd), free(yd);
}

/* ---- every path against the scalar path ---- */

static mydropout_path paths[MYDROPOUT_PATH_COUNT];
static int npaths;

/* Runs dtype on every path, x shifted by `shift` elements (0 or 1) from an aligned
 * allocation, in place or not; compares with the scalar path's bits and checks that nothing
 * outside y[0..n) is written. */
static void compare(mydropout_dtype dt, int64_t n, const mydropout_params *prm, int shift,
                    int in_place, const void *given) {
    const size_t w = width_of(dt), bytes = (size_t)n * w;
    /* exactly sized, so the sanitizer sees any access past the end */
    unsigned char *x = malloc(bytes + shift * w + 1), *want = malloc(bytes + 1);
    unsigned char *xs = x + shift * w;
    if (given != NULL) {
        memcpy(xs, given, bytes);
    } else {
        fill(dt, xs, n);
    }
    mydropout_cpu_on_path(MYDROPOUT_PATH_SCALAR, dt, xs, want, n, prm);
    for (int i = 0; i < npaths; ++i) {
        unsigned char *ybuf = malloc(bytes + shift * w + 1), *y = ybuf + shift * w;
        memset(ybuf, 0xa5, shift * w);
        if (in_place) memcpy(y, xs, bytes);
        mydropout_cpu_on_path(paths[i], dt, in_place ? y : xs, y, n, prm);
        int ok = memcmp(y, want, bytes) == 0;
        for (size_t b = 0; b < shift * w; ++b) ok &= ybuf[b] == 0xa5;
        char what[300];
        int at = 0;
        if (!ok) {
            for (int64_t k = 0; k < n; ++k) {
                if (memcmp(y + k * w, want + k * w, w) != 0) {
                    at = (int)k;
                    break;
                }
            }
        }
        snprintf(what, sizeof what,
                 "%s %s n=%lld first_index=%llu seed=%llx offset=%llx threshold=%llu "
                 "scale=%a shift=%d in_place=%d (first difference at %d)",
                 mydropout_cpu_path_name(paths[i]), dtype_name(dt), (long long)n,
                 (unsigned long long)prm->first_index, (unsigned long long)prm->seed,
                 (unsigned long long)prm->offset, (unsigned long long)prm->threshold,
                 prm->scale_f32, shift, in_place, at);
        check(ok, what);
        free(ybuf);
    }
    free(x);
    free(want);
}

static const double ps[] = {0.0, 0.1, 0.5, 0.9, 0.999};
#define NP (int)(sizeof ps / sizeof ps[0])

static void test_small_sizes(void) {
    for (int64_t n = 0; n <= 300; ++n) {
        for (int dt = 0; dt < 4; ++dt) {
            for (int r = 0; r < 4; ++r) {
                int variant = (int)(n + r + dt);
                uint64_t first = (rnd() >> 3 & ~3ull) + (uint64_t)r;
                mydropout_params prm = mydropout_params_make(ps[variant % NP], rnd(), rnd(), first);
                compare((mydropout_dtype)dt, n, &prm, variant & 1, (variant >> 1) & 1, NULL);
            }
        }
    }
}

static void test_large_sizes(void) {
    const int64_t ns[] = {9999, 10000, 10001, 10003, 12345};
    const uint64_t firsts[] = {0, 1, 2, 3, (1ull << 32) - 4003, (1ull << 32) - 1,
                               UINT64_MAX - 999, UINT64_MAX - 1000, UINT64_MAX - 1001,
                               UINT64_MAX - 1002, (1ull << 62) * 3 - 5};
    const uint64_t seeds[] = {0, UINT64_MAX, UINT64_MAX - 12345, 0x123456789abcdefull};
    int variant = 0;
    for (size_t in = 0; in < sizeof ns / sizeof ns[0]; ++in)
        for (size_t f = 0; f < sizeof firsts / sizeof firsts[0]; ++f)
            for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; ++s)
                for (int dt = 0; dt < 4; ++dt, ++variant) {
                    mydropout_params prm = mydropout_params_make(
                        ps[variant % NP], seeds[s], seeds[(s + 1 + variant) % 4] - in, firsts[f]);
                    compare((mydropout_dtype)dt, ns[in], &prm, variant & 1, (variant >> 2) & 1,
                            NULL);
                }
}

/* Hand-made parameters: scales p never gives (below one, few significant bits, so products
 * fall on ties and into subnormals) and thresholds at the ends. */
static void test_odd_params(void) {
    const float scales[] = {1.5f, 0.75f, 3.0f, 1.0f + 0x1p-10f, 0x1p-20f, 1e30f, 1.0f};
    const uint64_t thresholds[] = {0, 1, 0x80000000u, 0xffffffffu};
    int variant = 0;
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; ++s)
        for (size_t t = 0; t < sizeof thresholds / sizeof thresholds[0]; ++t)
            for (int dt = 0; dt < 4; ++dt, ++variant) {
                mydropout_params prm = mydropout_params_make(0.5, rnd(), rnd(), rnd() >> 1);
                prm.scale_f32 = scales[s];
                prm.scale_f64 = (double)scales[s] * (1.0 + 0x1p-40);
                prm.threshold = thresholds[t];
                if (t == 2) {
                    /* a draw equal to the threshold, which is kept */
                    uint32_t w[4];
                    philox_dropout_block(prm.seed, prm.offset, (prm.first_index + 500) / 4, w);
                    prm.threshold = w[(prm.first_index + 500) % 4];
                }
                compare((mydropout_dtype)dt, 1000 + variant, &prm, variant & 1,
                        (variant >> 1) & 1, NULL);
            }
}

/* Every float16 and bfloat16 bit pattern through every path, kept and dropped. */
static void test_all_half_inputs(void) {
    uint16_t *all = malloc(65536 * sizeof *all);
    for (uint32_t i = 0; i < 65536; ++i) all[i] = (uint16_t)i;
    const float scales[] = {2.0f, 1.5f, 0.75f, 1.0f / 0.9f, 1.0f + 0x1p-9f, 3.0f};
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; ++s) {
        for (int t = 0; t < 2; ++t) {
            mydropout_params prm = mydropout_params_make(0.5, 7, 11, 4 * s + t);
            prm.scale_f32 = scales[s];
            prm.threshold = t ? 0x40000000u : 0;
            compare(MYDROPOUT_F16, 65536, &prm, t, (int)s & 1, all);
            compare(MYDROPOUT_BF16, 65536, &prm, t, (int)s & 1, all);
        }
    }
    free(all);
}

/* ---- channel dropout's pass against the elementwise kernel ---- */

/* Expected: every element of a kept pair as the elementwise kernel scales it when it keeps
 * everything, every element of a dropped pair +0; in both memory orders, over two row ranges,
 * out of place and in place. */
static void test_channels(void) {
    const mydropout_dtype dts[] = {MYDROPOUT_F32, MYDROPOUT_F64, MYDROPOUT_F16, MYDROPOUT_BF16};
    /* with {3, 3, 300} and {2, 600, 3}: channels-last runs of many rows a tile, and rows
     * wider than a tile */
    const int64_t shapes[][3] = {{1, 1, 1}, {2, 3, 5},   {3, 17, 1},
                                 {4, 1, 33}, {5, 8, 64}, {3, 3, 300}, {2, 600, 3}};
    for (size_t d = 0; d < 4; ++d) {
        const mydropout_dtype dt = dts[d];
        const size_t w = width_of(dt), mw = dt == MYDROPOUT_F64 ? 8 : 4;
        const mydropout_dtype mdt = dt == MYDROPOUT_F64 ? MYDROPOUT_F64 : MYDROPOUT_F32;
        for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; ++sh) {
            const int64_t N = shapes[sh][0], C = shapes[sh][1], S = shapes[sh][2];
            const int64_t n = N * C * S;
            unsigned char *x = malloc(n * w), *y = malloc(n * w), *scaled = malloc(n * w);
            unsigned char *expected = malloc(n * w), *ones = malloc(N * C * mw);
            unsigned char *mult = malloc(N * C * mw);
            const mydropout_params prm = mydropout_params_make(0.4, rnd(), rnd(), rnd() >> 40);
            mydropout_params keep_all = prm;
            keep_all.threshold = 0;
            for (int64_t q = 0; q < N * C; ++q) {
                if (mw == 8) ((double *)ones)[q] = 1.0;
                else ((float *)ones)[q] = 1.0f;
            }
            mydropout_cpu(mdt, ones, mult, N * C, &prm);
            fill(dt, x, n);
            mydropout_cpu(dt, x, scaled, n, &keep_all);
            for (int cl = 0; cl < 2; ++cl) {
                for (int64_t k = 0; k < n; ++k) {
                    const int64_t q = cl ? k / (C * S) * C + k % C : k / S;
                    const int kept =
                        mw == 8 ? ((double *)mult)[q] != 0 : ((float *)mult)[q] != 0;
                    if (kept) memcpy(expected + k * w, scaled + k * w, w);
                    else memset(expected + k * w, 0, w);
                }
                const int64_t rows = cl ? N * S : N * C, half = rows / 2;
                for (int in_place = 0; in_place < 2; ++in_place) {
                    if (in_place) memcpy(y, x, n * w);
                    else memset(y, 0xA5, n * w);
                    const unsigned char *src = in_place ? y : x;
                    mydropout_channels_cpu(dt, src, y, mult, C, S, cl, 0, half);
                    mydropout_channels_cpu(dt, src, y, mult, C, S, cl, half, rows);
                    char what[96];
                    snprintf(what, sizeof what,
                             "channels %s N=%lld C=%lld S=%lld cl=%d in place=%d",
                             dtype_name(dt), (long long)N, (long long)C, (long long)S, cl,
                             in_place);
                    check(memcmp(y, expected, n * w) == 0, what);
                }
            }
            free(x), free(y), free(scaled), free(expected), free(ones), free(mult);
        }
    }
}

/* Rows of no element (C or S of 0): nothing to do, nothing written, no division by zero. */
static void test_channels_of_no_element(void) {
    const float x[4] = {1, 2, 3, 4}, m[4] = {1, 1, 1, 1};
    float y[4] = {0};
    for (int cl = 0; cl < 2; ++cl) {
        mydropout_channels_cpu(MYDROPOUT_F32, x, y, m, 0, 2, cl, 0, 4);
        mydropout_channels_cpu(MYDROPOUT_F32, x, y, m, 2, 0, cl, 0, 4);
        mydropout_channels_cpu(MYDROPOUT_BF16, x, y, m, 0, 2, cl, 0, 4);
    }
    check(y[0] == 0 && y[1] == 0 && y[2] == 0 && y[3] == 0, "channels of no element");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s philox4x32_kat.txt\n", argv[0]);
        return 2;
    }
    test_kat(argv[1]);
    test_scalar_contract();

    for (int p = 0; p < MYDROPOUT_PATH_COUNT; ++p) {
        if (p != MYDROPOUT_PATH_SCALAR && mydropout_cpu_path_supported((mydropout_path)p))
            paths[npaths++] = (mydropout_path)p;
    }
    printf("paths compared with scalar:");
    for (int i = 0; i < npaths; ++i) printf(" %s", mydropout_cpu_path_name(paths[i]));
    printf("%s\n", npaths ? "" : " none (this CPU supports only the scalar path)");

    test_small_sizes();
    test_large_sizes();
    test_odd_params();
    test_all_half_inputs();
    test_channels();
    test_channels_of_no_element();

    printf("%ld passed, %ld failed\n", passed, failed);
    return failed != 0;
}
