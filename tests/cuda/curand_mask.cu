// The CUDA kernel's mask against cuRAND itself: element i is kept iff the curand() that
// follows curand_init(seed, offset, i) is at least the threshold (the README's mask contract).
// mydropout_cuda (cuda/mydropout.cu) drops a tensor of ones; a second kernel asks cuRAND for
// a sample of indices. Needs a GPU; run by tests/test_cuda.py through tests/cuda/Makefile.
#include <curand_kernel.h>

#include <cstdio>
#include <vector>

#include "mydropout_cuda.h"

namespace {

__global__ void curand_draws(uint64_t seed, uint64_t offset, const uint64_t *index, int count,
                             uint32_t *draw) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= count) return;
  curandStatePhilox4_32_10_t state;
  curand_init(seed, offset, index[k], &state);
  draw[k] = curand(&state);
}

bool ok(cudaError_t err, const char *what) {
  if (err != cudaSuccess) std::printf("%s: %s\n", what, cudaGetErrorString(err));
  return err == cudaSuccess;
}

// One (seed, offset, first_index, p) over n elements; the sample is every index below 4096
// and every 997th after it.
int check(uint64_t seed, uint64_t offset, uint64_t first_index, double p, int64_t n) {
  std::vector<uint64_t> index;
  for (int64_t k = 0; k < n; k += k < 4096 ? 1 : 997) index.push_back(k);
  const int count = static_cast<int>(index.size());
  std::vector<uint64_t> mask_index(index);
  for (uint64_t &i : mask_index) i += first_index;

  std::vector<float> ones(n, 1.0f), y(n);
  std::vector<uint32_t> draw(count);
  float *dx = nullptr, *dy = nullptr;
  uint64_t *didx = nullptr;
  uint32_t *ddraw = nullptr;
  const mydropout_params prm = mydropout_params_make(p, seed, offset, first_index);
  bool fine = ok(cudaMalloc(&dx, n * sizeof(float)), "malloc") &&
              ok(cudaMalloc(&dy, n * sizeof(float)), "malloc") &&
              ok(cudaMalloc(&didx, count * sizeof(uint64_t)), "malloc") &&
              ok(cudaMalloc(&ddraw, count * sizeof(uint32_t)), "malloc") &&
              ok(cudaMemcpy(dx, ones.data(), n * sizeof(float), cudaMemcpyHostToDevice), "copy") &&
              ok(cudaMemcpy(didx, mask_index.data(), count * sizeof(uint64_t),
                            cudaMemcpyHostToDevice), "copy") &&
              ok(mydropout_cuda(MYDROPOUT_F32, dx, dy, n, &prm, nullptr, 0), "mydropout_cuda");
  if (fine) {
    curand_draws<<<(count + 255) / 256, 256>>>(seed, offset, didx, count, ddraw);
    fine = ok(cudaGetLastError(), "curand_draws") &&
           ok(cudaMemcpy(y.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost), "copy") &&
           ok(cudaMemcpy(draw.data(), ddraw, count * sizeof(uint32_t), cudaMemcpyDeviceToHost),
              "copy");
  }
  cudaFree(dx);
  cudaFree(dy);
  cudaFree(didx);
  cudaFree(ddraw);
  if (!fine) return 1;
  int wrong = 0;
  for (int k = 0; k < count; ++k) {
    const bool kept = y[index[k]] != 0.0f, curand_keeps = draw[k] >= prm.threshold;
    if (kept != curand_keeps && ++wrong <= 5)
      std::printf("index %llu: mydropout %s, cuRAND draw %u against threshold %llu\n",
                  static_cast<unsigned long long>(mask_index[k]), kept ? "keeps" : "drops",
                  draw[k], static_cast<unsigned long long>(prm.threshold));
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
  if (failed) return 1;
  std::printf("the CUDA mask is cuRAND's\n");
  return 0;
}
