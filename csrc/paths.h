/* One entry per CPU path; dispatch.c picks among them. */
#ifndef MYDROPOUT_PATHS_H
#define MYDROPOUT_PATHS_H

#include "mydropout.h"

typedef void (*mydropout_kernel)(mydropout_dtype dtype, const void *x, void *y, int64_t n,
                                 const mydropout_params *params);

void mydropout_scalar(mydropout_dtype dtype, const void *x, void *y, int64_t n,
                      const mydropout_params *params);

#if defined(__x86_64__) || defined(_M_X64)
void mydropout_avx2(mydropout_dtype dtype, const void *x, void *y, int64_t n,
                    const mydropout_params *params);
void mydropout_avx512(mydropout_dtype dtype, const void *x, void *y, int64_t n,
                      const mydropout_params *params);
#endif

#endif
