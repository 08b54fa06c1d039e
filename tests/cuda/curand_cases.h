// What tests/cuda/curand_host.cu (the C kernel) and tests/cuda/curand_mask.cu (the CUDA kernel)
// share: the cases, the sample of indices, and the comparison of a kernel's output on ones with
// cuRAND's draws, element i kept iff the curand() after curand_init(seed, offset, i) is at least
// the threshold (the README's mask contract).
#ifndef MYDROPOUT_CURAND_CASES_H
#define MYDROPOUT_CURAND_CASES_H

#include <cstdio>
#include <vector>

#include "mydropout.h"

struct CurandCase {
  uint64_t seed, offset, first_index;
  double p;
  int64_t n;
};

// Indices past 2**32 and 2**62, offsets up to 2**64 - 1.
const CurandCase kCurandCases[] = {
    {0x123456789ABCDEF0ull, 77, 0, 0.5, 1 << 20},
    {~0ull - 1, (1ull << 33) + 1, 1, 0.3, (1 << 20) + 7},
    {42, 0, (1ull << 32) - 2, 0.9, 100003},
    {7, ~0ull, (1ull << 62) + 3, 0.1, 50001},
};

// The positions compared: every one below 4096 and every 997th after it.
inline std::vector<int64_t> curand_sample(int64_t n) {
  std::vector<int64_t> sample;
  for (int64_t k = 0; k < n; k += k < 4096 ? 1 : 997) sample.push_back(k);
  return sample;
}

// y: the kernel's output on n ones; draw[j]: cuRAND's draw for mask index first_index +
// sample[j]. Prints the first differences and a summary; true if there are none.
inline bool matches_curand(const CurandCase &c, const std::vector<int64_t> &sample,
                           const std::vector<float> &y, const std::vector<uint32_t> &draw) {
  const mydropout_params prm = mydropout_params_make(c.p, c.seed, c.offset, c.first_index);
  int wrong = 0;
  for (size_t j = 0; j < sample.size(); ++j) {
    const bool kept = y[sample[j]] != 0.0f, curand_keeps = draw[j] >= prm.threshold;
    if (kept != curand_keeps && ++wrong <= 5)
      std::printf("index %llu: mydropout %s, cuRAND draw %u against threshold %llu\n",
                  static_cast<unsigned long long>(c.first_index + sample[j]),
                  kept ? "keeps" : "drops", draw[j],
                  static_cast<unsigned long long>(prm.threshold));
  }
  std::printf("seed %llu offset %llu first_index %llu p %g: %d of %zu sampled elements differ\n",
              static_cast<unsigned long long>(c.seed), static_cast<unsigned long long>(c.offset),
              static_cast<unsigned long long>(c.first_index), c.p, wrong, sample.size());
  return wrong == 0;
}

#endif
