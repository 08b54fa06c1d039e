// The C kernel's mask against cuRAND's own Philox4_32_10 code, with no GPU: curand_kernel.h
// lets its functions' qualifiers be chosen, so they are compiled for the host here, and element
// i must be kept iff the curand() that follows curand_init(seed, offset, i) is at least the
// threshold (the README's mask contract). Run by tests/test_philox.py through tests/cuda/Makefile;
// tests/cuda/curand_mask.cu checks the CUDA kernel against cuRAND on a GPU.
#define QUALIFIERS static __forceinline__ __host__ __device__
#include <curand_kernel.h>

#include <cstdio>
#include <vector>

#include "mydropout.h"

namespace {

// One (seed, offset, first_index, p): mydropout_cpu drops n ones; the sample is every index
// below 4096 and every 997th after it.
int check(uint64_t seed, uint64_t offset, uint64_t first_index, double p, int64_t n) {
  std::vector<float> ones(n, 1.0f), y(n);
  const mydropout_params prm = mydropout_params_make(p, seed, offset, first_index);
  mydropout_cpu(MYDROPOUT_F32, ones.data(), y.data(), n, &prm);
  int wrong = 0, count = 0;
  for (int64_t k = 0; k < n; k += k < 4096 ? 1 : 997, ++count) {
    curandStatePhilox4_32_10_t state;
    curand_init(seed, offset, first_index + k, &state);
    const uint32_t draw = curand(&state);
    const bool kept = y[k] != 0.0f, curand_keeps = draw >= prm.threshold;
    if (kept != curand_keeps && ++wrong <= 5)
      std::printf("index %llu: mydropout %s, cuRAND draw %u against threshold %llu\n",
                  static_cast<unsigned long long>(first_index + k), kept ? "keeps" : "drops",
                  draw, static_cast<unsigned long long>(prm.threshold));
  }
  std::printf("seed %llu offset %llu first_index %llu p %g: %d of %d sampled elements differ\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(offset),
              static_cast<unsigned long long>(first_index), p, wrong, count);
  return wrong != 0;
}

}  // namespace

int main() {
  int failed = 0;
  failed += check(0x123456789ABCDEF0ull, 77, 0, 0.5, 1 << 20);
  failed += check(~0ull - 1, (1ull << 33) + 1, 1, 0.3, (1 << 20) + 7);
  failed += check(42, 0, (1ull << 32) - 2, 0.9, 100003);
  failed += check(7, ~0ull, (1ull << 62) + 3, 0.1, 50001);
  if (failed) return 1;
  std::printf("the C mask is cuRAND's\n");
  return 0;
}
