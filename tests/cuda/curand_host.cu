// The C kernel's mask against cuRAND's own Philox4_32_10 code, with no GPU: curand_kernel.h
// lets its functions' qualifiers be chosen, so they are compiled for the host here. Run by
// tests/test_philox.py through tests/cuda/Makefile; tests/cuda/curand_mask.cu checks the CUDA
// kernel on a GPU.
#define QUALIFIERS static __forceinline__ __host__ __device__
#include <curand_kernel.h>

#include "curand_cases.h"

int main() {
  bool all = true;
  for (const CurandCase &c : kCurandCases) {
    std::vector<float> ones(c.n, 1.0f), y(c.n);
    const mydropout_params prm = mydropout_params_make(c.p, c.seed, c.offset, c.first_index);
    mydropout_cpu(MYDROPOUT_F32, ones.data(), y.data(), c.n, &prm);
    const std::vector<int64_t> sample = curand_sample(c.n);
    std::vector<uint32_t> draw;
    for (int64_t k : sample) {
      curandStatePhilox4_32_10_t state;
      curand_init(c.seed, c.offset, c.first_index + k, &state);
      draw.push_back(curand(&state));
    }
    all = matches_curand(c, sample, y, draw) && all;
  }
  if (!all) return 1;
  std::printf("the C mask is cuRAND's\n");
  return 0;
}
