// CUDA: the kernels of cuda/ on the current stream, and the state drawn from torch's CUDA
// generator through philox_cuda_state, which stays right under CUDA graph capture.
#include <c10/core/DeviceGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <mutex>

#include "dropout.h"
#include "mydropout_cuda.h"

namespace torch_ext {
namespace {

void run_cuda(const at::Tensor &src, const at::Tensor &dst, mydropout_params prm,
              const at::Tensor &state) {
  const at::Tensor device_state = state.is_cpu() ? at::Tensor() : state.contiguous();
  const int64_t *state_on_device = nullptr;
  if (device_state.defined()) {
    state_on_device = device_state.const_data_ptr<int64_t>();
  } else {
    read_state(state, prm);
  }
  // No src: the kernels draw over ones without reading them (x NULL).
  const void *x = src.defined() ? src.const_data_ptr() : nullptr;
  C10_CUDA_CHECK(mydropout_cuda(kernel_dtype(dst), x, dst.mutable_data_ptr(), dst.numel(), &prm,
                                state_on_device, c10::cuda::getCurrentCUDAStream()));
}

void channel_pass_cuda(const at::Tensor &src, const at::Tensor &dst, const at::Tensor &m,
                       int64_t channels, int64_t spatial, bool channels_last) {
  C10_CUDA_CHECK(mydropout_cuda_channels(kernel_dtype(dst), src.const_data_ptr(),
                                         dst.mutable_data_ptr(), m.const_data_ptr(), dst.numel(),
                                         channels, spatial, channels_last,
                                         c10::cuda::getCurrentCUDAStream()));
}

at::Tensor philox_state_cuda(const at::Tensor &input, std::optional<at::Generator> generator,
                             bool on_cpu) {
  const c10::cuda::CUDAGuard guard(input.device());
  auto *gen = at::get_generator_or_default<at::CUDAGeneratorImpl>(
      generator, at::cuda::detail::getDefaultCUDAGenerator(input.device().index()));
  // Under capture its seed and offset are pointers into its own device's memory. A generator
  // made as torch.Generator(device="cuda") has no index and follows the current device.
  const c10::Device gen_device = gen->device();
  TORCH_CHECK(!gen_device.has_index() || gen_device == input.device(), "mydropout: the generator "
              "is on ", gen_device, " but the input on ", input.device());
  at::PhiloxCudaState philox;
  {
    std::lock_guard<std::mutex> lock(gen->mutex_);
    // Each call takes its own offset; 4 keeps the generator's offsets the multiples of 4
    // that torch's other kernels expect.
    philox = gen->philox_cuda_state(4);
  }
  if (on_cpu) {
    // philox_cuda_state has asked the stream already. A refused call leaves a gap of 4 in the
    // graph's offsets, which only need to differ.
    TORCH_CHECK(!philox.captured_, "mydropout: philox_state(on_cpu=True) is refused under CUDA "
                "graph capture: every replay would take the captured values, and so one mask");
    return make_state(philox.seed_.val, philox.offset_.val | MYDROPOUT_CUDA_OWN_OFFSETS,
                      input.options().device(at::kCPU));
  }
  at::Tensor state = at::empty({2}, input.options().dtype(at::kLong));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  if (philox.captured_) {
    C10_CUDA_CHECK(mydropout_cuda_store_state(state.data_ptr<int64_t>(), philox.seed_.ptr,
                                              philox.offset_.ptr, 0,
                                              philox.offset_intragraph_, stream));
  } else {
    C10_CUDA_CHECK(mydropout_cuda_store_state(state.data_ptr<int64_t>(), nullptr, nullptr,
                                              philox.seed_.val, philox.offset_.val, stream));
  }
  return state;
}

// A CPU input with a CUDA state dispatches here too (the state's backend outranks the
// input's): a DeviceGuard does nothing on the CPU, so check_args says what is wrong, where a
// CUDAGuard would throw first with a message about itself.
at::Tensor mydropout_cuda_op(const at::Tensor &input, double p, const at::Tensor &state,
                             int64_t first_index) {
  const c10::DeviceGuard guard(input.device());
  return dropout(input, p, state, first_index, run_cuda);
}

at::Tensor mydropout_channels_cuda(const at::Tensor &input, double p, const at::Tensor &state,
                                   int64_t first_index) {
  const c10::DeviceGuard guard(input.device());
  return dropout_channels(input, p, state, first_index, run_cuda, channel_pass_cuda);
}

void mydropout_cuda_inplace(const at::Tensor &input, double p, const at::Tensor &state,
                            int64_t first_index) {
  const c10::DeviceGuard guard(input.device());
  dropout_(input, p, state, first_index, run_cuda);
}

void mydropout_channels_cuda_inplace(const at::Tensor &input, double p, const at::Tensor &state,
                                     int64_t first_index) {
  const c10::DeviceGuard guard(input.device());
  dropout_channels_(input, p, state, first_index, run_cuda, channel_pass_cuda);
}

}  // namespace

TORCH_LIBRARY_IMPL(torch_ext, CUDA, m) {
  m.impl("philox_state", &philox_state_cuda);
  m.impl("mydropout", &mydropout_cuda_op);
  m.impl("mydropout_", &mydropout_cuda_inplace);
  m.impl("mydropout_channels", &mydropout_channels_cuda);
  m.impl("mydropout_channels_", &mydropout_channels_cuda_inplace);
}

}  // namespace torch_ext
