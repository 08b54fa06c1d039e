// CPU: the C kernels of csrc/ on torch's intra-op threads, and the state drawn from the CPU
// generator.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <mutex>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "dropout.h"

namespace torch_ext {
namespace {

// Threads split the tensor at multiples of 64 elements (16 Philox blocks), so each SIMD path
// starts its chunks on a block boundary; the mask depends on the element index alone, so the
// result is the same for any split.
constexpr int64_t kUnit = 64;
// About 32K elements per thread at least: below that, waking a thread costs more than it saves.
constexpr int64_t kGrainUnits = 512;

// A fresh output of tens of MiB is faulted in on its first write 4 KiB at a time, which costs
// several times the kernel itself; huge pages cut the faults 512-fold. Only the 2 MiB-aligned
// interior of the output is advised, and madvise is a hint: if refused, nothing changes.
void advise_huge_pages(void *data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void *>(begin), end - begin, MADV_HUGEPAGE);
#endif
}

void run_cpu(const at::Tensor &src, const at::Tensor &dst, mydropout_params prm,
             const at::Tensor &state) {
  if (!src.defined()) {  // ones, which the C kernels read from memory
    dst.fill_(1);
    return run_cpu(dst, dst, prm, state);
  }
  read_state(state, prm);
  if (src.data_ptr() != dst.data_ptr()) advise_huge_pages(dst.data_ptr(), dst.nbytes());
  const mydropout_dtype dtype = kernel_dtype(dst);
  const int64_t n = dst.numel(), width = dst.element_size();
  const char *x = static_cast<const char *>(src.const_data_ptr());
  char *y = static_cast<char *>(dst.mutable_data_ptr());
  at::parallel_for(0, (n + kUnit - 1) / kUnit, kGrainUnits, [&](int64_t begin, int64_t end) {
    const int64_t lo = begin * kUnit, hi = std::min(n, end * kUnit);
    mydropout_params part = prm;
    part.first_index += static_cast<uint64_t>(lo);
    mydropout_cpu(dtype, x + lo * width, y + lo * width, hi - lo, &part);
  });
}

void channel_pass_cpu(const at::Tensor &src, const at::Tensor &dst, const at::Tensor &m,
                      int64_t channels, int64_t spatial, bool channels_last) {
  if (src.data_ptr() != dst.data_ptr()) advise_huge_pages(dst.data_ptr(), dst.nbytes());
  const mydropout_dtype dtype = kernel_dtype(dst);
  const int64_t row = channels_last ? channels : spatial, rows = dst.numel() / row;
  const void *x = src.const_data_ptr(), *mult = m.const_data_ptr();
  void *y = dst.mutable_data_ptr();
  // Rows of about kGrainUnits * kUnit elements a thread at least, as run_cpu splits.
  const int64_t grain = std::max<int64_t>(1, kGrainUnits * kUnit / row);
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    mydropout_channels_cpu(dtype, x, y, mult, channels, spatial, channels_last, begin, end);
  });
}

// on_cpu changes nothing here: the state is on the CPU either way.
at::Tensor philox_state_cpu(const at::Tensor &input, std::optional<at::Generator> generator,
                            bool /*on_cpu*/) {
  auto *gen = at::get_generator_or_default<at::CPUGeneratorImpl>(
      generator, at::detail::getDefaultCPUGenerator());
  uint64_t seed, offset;
  {
    std::lock_guard<std::mutex> lock(gen->mutex_);
    seed = gen->random64();
    offset = gen->random64();
  }
  return make_state(seed, offset, input.options().device(at::kCPU));
}

at::Tensor mydropout_cpu_op(const at::Tensor &input, double p, const at::Tensor &state,
                            int64_t first_index) {
  return dropout(input, p, state, first_index, run_cpu);
}

at::Tensor mydropout_channels_cpu(const at::Tensor &input, double p, const at::Tensor &state,
                                  int64_t first_index) {
  return dropout_channels(input, p, state, first_index, run_cpu, channel_pass_cpu);
}

void mydropout_cpu_inplace(const at::Tensor &input, double p, const at::Tensor &state,
                           int64_t first_index) {
  dropout_(input, p, state, first_index, run_cpu);
}

void mydropout_channels_cpu_inplace(const at::Tensor &input, double p, const at::Tensor &state,
                                    int64_t first_index) {
  dropout_channels_(input, p, state, first_index, run_cpu, channel_pass_cpu);
}

}  // namespace

TORCH_LIBRARY_IMPL(torch_ext, CPU, m) {
  m.impl("philox_state", &philox_state_cpu);
  m.impl("mydropout", &mydropout_cpu_op);
  m.impl("mydropout_", &mydropout_cpu_inplace);
  m.impl("mydropout_channels", &mydropout_channels_cpu);
  m.impl("mydropout_channels_", &mydropout_channels_cpu_inplace);
}

}  // namespace torch_ext
