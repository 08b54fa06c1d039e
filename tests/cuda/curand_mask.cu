// The CUDA kernel's mask against cuRAND itself, on a GPU: mydropout_cuda (cuda/mydropout.cu)
// drops a tensor of ones, and a second kernel asks cuRAND for the sampled indices' draws. Run
// by tests/test_cuda.py through tests/cuda/Makefile; tests/cuda/curand_host.cu checks the C
// kernel the same way without a GPU.
#include <curand_kernel.h>

#include "curand_cases.h"
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

// The kernel's output on ones (y) and cuRAND's draws at the sample (draw), from the GPU.
bool run(const CurandCase &c, const std::vector<int64_t> &sample, std::vector<float> &y,
         std::vector<uint32_t> &draw) {
  const int count = static_cast<int>(sample.size());
  std::vector<uint64_t> mask_index;
  for (int64_t k : sample) mask_index.push_back(c.first_index + k);
  std::vector<float> ones(c.n, 1.0f);
  y.resize(c.n);
  draw.resize(count);
  float *dx = nullptr, *dy = nullptr;
  uint64_t *didx = nullptr;
  uint32_t *ddraw = nullptr;
  const mydropout_params prm = mydropout_params_make(c.p, c.seed, c.offset, c.first_index);
  bool fine = ok(cudaMalloc(&dx, c.n * sizeof(float)), "malloc") &&
              ok(cudaMalloc(&dy, c.n * sizeof(float)), "malloc") &&
              ok(cudaMalloc(&didx, count * sizeof(uint64_t)), "malloc") &&
              ok(cudaMalloc(&ddraw, count * sizeof(uint32_t)), "malloc") &&
              ok(cudaMemcpy(dx, ones.data(), c.n * sizeof(float), cudaMemcpyHostToDevice),
                 "copy") &&
              ok(cudaMemcpy(didx, mask_index.data(), count * sizeof(uint64_t),
                            cudaMemcpyHostToDevice), "copy") &&
              ok(mydropout_cuda(MYDROPOUT_F32, dx, dy, c.n, &prm, nullptr, 0), "mydropout_cuda");
  if (fine) {
    curand_draws<<<(count + 255) / 256, 256>>>(c.seed, c.offset, didx, count, ddraw);
    fine = ok(cudaGetLastError(), "curand_draws") &&
           ok(cudaMemcpy(y.data(), dy, c.n * sizeof(float), cudaMemcpyDeviceToHost), "copy") &&
           ok(cudaMemcpy(draw.data(), ddraw, count * sizeof(uint32_t), cudaMemcpyDeviceToHost),
              "copy");
  }
  cudaFree(dx);
  cudaFree(dy);
  cudaFree(didx);
  cudaFree(ddraw);
  return fine;
}

}  // namespace

int main() {
  bool all = true;
  for (const CurandCase &c : kCurandCases) {
    const std::vector<int64_t> sample = curand_sample(c.n);
    std::vector<float> y;
    std::vector<uint32_t> draw;
    all = run(c, sample, y, draw) && matches_curand(c, sample, y, draw) && all;
  }
  if (!all) return 1;
  std::printf("the CUDA mask is cuRAND's\n");
  return 0;
}
