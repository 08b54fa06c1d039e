// Speed of the CUDA unit kernel (cuda/dropout_work.cuh) over its tuning choices, threads per
// block and units each thread loads before it computes (kUnroll), against
// cudaMemcpyAsync device to device, the copy ceiling, on one GPU in one run. The product's
// choice is kThreads and kUnroll in cuda/launch_plan.h, and its grid grid_blocks'. Each
// variant's output is checked against the first one's; the per-block kernel, the fallback for
// unaligned calls, too. Plain copies in 16-byte vectors, timed beside them, are the unit
// kernel without its Philox arithmetic; they and the unit kernel are also timed on a grid of
// only the blocks the GPU keeps resident at once, the launch before commit b51d224. Channel
// dropout's pass, last, is timed for its element-by-element loads. Built with KERNEL_BASE, it
// also times another revision's unit kernel (tools/kernel_base.sh) in turn with this one's.
// Built and run on a GPU machine by tests/cuda/Makefile:
//   make -C tests/cuda speed          (ARCH=sm_90 to name the GPU's architecture, BASE=DIR for
//                                      tools/kernel_base.sh's folder)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dropout_work.cuh"
#include "launch_plan.h"
#ifdef KERNEL_BASE
#include "base_dropout_work.cuh"
#endif

using namespace mydropout_gpu;

namespace {

constexpr int kRuns = 30;

void check(cudaError_t err, const char *what) {
  if (err != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(err));
    std::exit(1);
  }
}

// The median of kRuns timings of `run`, in milliseconds, after a warm-up.
template <typename Run> float median_ms(Run run) {
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "event");
  check(cudaEventCreate(&stop), "event");
  run();
  std::vector<float> ms(kRuns);
  for (float &t : ms) {
    check(cudaEventRecord(start), "record");
    run();
    check(cudaEventRecord(stop), "record");
    check(cudaEventSynchronize(stop), "sync");
    check(cudaEventElapsedTime(&t, start, stop), "elapsed");
  }
  check(cudaGetLastError(), "launch");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::nth_element(ms.begin(), ms.begin() + kRuns / 2, ms.end());
  return ms[kRuns / 2];
}

// Arbitrary input bits, eight bytes at a time (splitmix64): the bytes of 2**28 float32 elements
// took seconds through std::rand().
void fill_bits(std::vector<unsigned char> &host) {
  uint64_t state = 0;
  for (size_t i = 0; i < host.size(); i += 8) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    std::memcpy(&host[i], &z, std::min<size_t>(8, host.size() - i));
  }
}

// Blocks of kKernel that the GPU keeps resident at once: `resident` grids' size.
template <auto kKernel> unsigned resident_blocks(unsigned threads, int sms) {
  int per_sm = 0;
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kKernel, threads, 0),
        "occupancy");
  return static_cast<unsigned>(std::max(1, sms * per_sm));
}

// kKernel timed on the grid the product's launchers give `work` threads' worth of it
// (grid_blocks, launch_plan.h), or, where `resident`, on no more blocks than the GPU keeps
// resident at once.
template <auto kKernel, typename... Args>
float time_kernel(uint64_t work, unsigned threads, int sms, bool resident, Args... args) {
  const unsigned blocks = grid_blocks(
      work, threads, resident ? resident_blocks<kKernel>(threads, sms) : kMaxBlocks);
  return median_ms([&] { kKernel<<<blocks, threads, 0, 0>>>(args...); });
}

const mydropout_params kParams = mydropout_params_make(0.5, 42, 7, 0);
const int64_t *const kNoState = nullptr;  // the state by value, in kParams

// kBase: tools/kernel_base.sh's kernel instead of this tree's.
template <typename T, int kUnroll, bool kBase = false>
float time_unit_kernel(const T *x, T *y, uint64_t n, unsigned threads, int sms,
                       bool resident = false) {
  const uint64_t units = n / Unit<T>::kElems;
  const uint64_t work = (units + kUnroll - 1) / kUnroll;
  const uint32_t units32 = static_cast<uint32_t>(units);
#ifdef KERNEL_BASE
  if constexpr (kBase)
    return time_kernel<base_gpu::dropout_unit_kernel<T, uint32_t, kUnroll>>(
        work, threads, sms, resident, x, y, units32, kParams, kNoState);
#endif
  return time_kernel<dropout_unit_kernel<T, uint32_t, kUnroll>>(work, threads, sms, resident, x,
                                                                 y, units32, kParams, kNoState);
}

// The per-block kernel, which a call runs where no aligned unit exists (a view off 16-byte
// alignment, a first_index not a multiple of 4): the price of that fallback.
template <typename T>
float time_block_kernel(const T *x, T *y, uint64_t n, unsigned threads, int sms) {
  return time_kernel<dropout_block_kernel<T, const T *>>(philox_blocks(0, n), threads, sms, false,
                                                         x, y, static_cast<int64_t>(n), kParams,
                                                         kNoState);
}

// Channel dropout's pass over an (N, 64, 4096) tensor, pair-major or channels_last, launched
// as the product launches it (kThreads, kChannelUnroll: launch_plan.h): whether its
// element-by-element loads keep up with a copy.
constexpr uint32_t kChannels = 64, kSpatial = 4096;

template <typename T>
float time_channel_pass(const T *x, T *y, uint64_t n, const float *mult, bool channels_last,
                        int sms) {
  return time_kernel<channel_kernel<T, uint32_t, kChannelUnroll>>(
      (n + kChannelUnroll - 1) / kChannelUnroll, kThreads, sms, false, x, y,
      static_cast<uint32_t>(n), mult, kChannels, kSpatial, channels_last);
}

// Copies in 16-byte vectors with nothing computed, in the unit kernel's grid-stride loop: where
// it runs at cudaMemcpyAsync's speed and the unit kernel does not, the arithmetic is what is
// slower.
__global__ void vector_copy_kernel(const uint4 *x, uint4 *y, uint32_t vectors) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < vectors;
       i += gridDim.x * blockDim.x)
    y[i] = x[i];
}

float time_vector_copy(const void *x, void *y, size_t bytes, int sms, bool resident) {
  const uint32_t vectors = static_cast<uint32_t>(bytes / sizeof(uint4));
  return time_kernel<vector_copy_kernel>(vectors, kThreads, sms, resident,
                                         static_cast<const uint4 *>(x), static_cast<uint4 *>(y),
                                         vectors);
}

template <typename T>
void run_dtype(const char *name, uint64_t n, int sms) {
  const size_t bytes = n * sizeof(T);
  T *x, *y;
  check(cudaMalloc(&x, bytes), "malloc");
  check(cudaMalloc(&y, bytes), "malloc");
  std::vector<unsigned char> host(bytes), first(bytes);
  fill_bits(host);
  check(cudaMemcpy(x, host.data(), bytes, cudaMemcpyHostToDevice), "upload");

  const float copy_ms =
      median_ms([&] { cudaMemcpyAsync(y, x, bytes, cudaMemcpyDeviceToDevice); });
  auto add = [&](const std::string &variant, float ms) {
    std::printf("%-9s %11llu %-26s %9.4f %8.1f %7.1f%%\n", name,
                static_cast<unsigned long long>(n), variant.c_str(), ms,
                2.0 * bytes / (ms * 1e6), 100.0 * copy_ms / ms);
  };
  add("cudaMemcpy", copy_ms);
  // y zeroed before each variant that is checked, so that one which leaves part of it unwritten
  // does not pass on the output of the one before.
  auto clear = [&] { check(cudaMemset(y, 0, bytes), "memset"); };
  clear();
  auto copied = [&](const std::string &variant, float ms) {
    check(cudaMemcpy(first.data(), y, bytes, cudaMemcpyDeviceToHost), "download");
    if (first != host)
      std::printf("MISMATCH: %s %s differs from its input\n", name, variant.c_str());
    add(variant, ms);
    clear();
  };
  copied("vector copy, no Philox", time_vector_copy(x, y, bytes, sms, false));
  copied("vector copy, resident grid", time_vector_copy(x, y, bytes, sms, true));

  bool have_first = false;
  auto variant = [&](const std::string &label, float ms) {
    check(cudaMemcpy(host.data(), y, bytes, cudaMemcpyDeviceToHost), "download");
    if (!have_first) {
      first = host;
      have_first = true;
    } else if (host != first) {
      std::printf("MISMATCH: %s %s differs from the first variant\n", name, label.c_str());
    }
    add(label, ms);
    clear();
  };
  for (unsigned threads : {128u, 256u, 512u}) {
    const std::string label = "threads=" + std::to_string(threads) + " unroll=";
    variant(label + "1", time_unit_kernel<T, 1>(x, y, n, threads, sms));
    variant(label + "2", time_unit_kernel<T, 2>(x, y, n, threads, sms));
    variant(label + "4", time_unit_kernel<T, 4>(x, y, n, threads, sms));
  }
  variant("threads=256 unroll=2, resident", time_unit_kernel<T, 2>(x, y, n, 256, sms, true));
  variant("per-block fallback", time_block_kernel<T>(x, y, n, kThreads, sms));
#ifdef KERNEL_BASE
  // The base's kernel and this tree's in turn, twice over, launched as the product launches
  // (kThreads, kUnroll): the drift of the machine shows between the rounds, the kernels'
  // difference within them.
  for (int round = 0; round < 2; ++round) {
    variant("base, as the product", time_unit_kernel<T, kUnroll, true>(x, y, n, kThreads, sms));
    variant("this tree, as the product", time_unit_kernel<T, kUnroll>(x, y, n, kThreads, sms));
  }
#endif

  std::vector<float> host_mult(n / kSpatial);  // every other pair dropped
  for (size_t i = 0; i < host_mult.size(); ++i) host_mult[i] = i % 2 ? 2.0f : 0.0f;
  float *mult;
  check(cudaMalloc(&mult, host_mult.size() * sizeof(float)), "malloc");
  check(cudaMemcpy(mult, host_mult.data(), host_mult.size() * sizeof(float),
                   cudaMemcpyHostToDevice), "upload");
  add("channel pass", time_channel_pass(x, y, n, mult, false, sms));
  add("channel pass, last", time_channel_pass(x, y, n, mult, true, sms));
  cudaFree(mult);
  cudaFree(x);
  cudaFree(y);
}

}  // namespace

int main() {
  // Each row as it is measured, also into a pipe: a run cut off by a time limit keeps them.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, 0), "device");
  std::printf("%s, %d SMs; median of %d runs; GB/s counts bytes read plus written\n",
              prop.name, prop.multiProcessorCount, kRuns);
  std::printf("%-9s %11s %-26s %9s %8s %8s\n", "dtype", "n", "variant", "ms", "GB/s",
              "of copy");
  // At 2**22 elements, input and output together (32 MiB in float32, 16 in 16-bit types) stay
  // in an H100's 50 MB L2, so the unit kernel runs at the L2's pace or at its arithmetic's:
  // the arithmetic's ceiling, to hold against the copy's speed from HBM at 2**26 and 2**28.
  for (uint64_t n : {uint64_t{1} << 22, uint64_t{1} << 24, uint64_t{1} << 26, uint64_t{1} << 28}) {
    run_dtype<float>("float32", n, prop.multiProcessorCount);
    run_dtype<__nv_bfloat16>("bfloat16", n, prop.multiProcessorCount);
    run_dtype<__half>("float16", n, prop.multiProcessorCount);
  }
  return 0;
}
