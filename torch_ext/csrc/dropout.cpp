#include "dropout.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include <c10/util/safe_numerics.h>

namespace torch_ext {

mydropout_dtype kernel_dtype(const at::Tensor &t) {
  switch (t.scalar_type()) {
    case at::kFloat: return MYDROPOUT_F32;
    case at::kDouble: return MYDROPOUT_F64;
    case at::kHalf: return MYDROPOUT_F16;
    case at::kBFloat16: return MYDROPOUT_BF16;
    default:
      TORCH_CHECK_TYPE(false, "mydropout: expected a float16, bfloat16, float32 or float64 "
                       "tensor, but got ", t.scalar_type());
  }
}

// draws: the mask indices the call takes from first_index on (numel, or N * C for channels).
static void check_args(const at::Tensor &input, double p, const at::Tensor &state,
                       int64_t first_index, int64_t draws) {
  TORCH_CHECK_VALUE(p >= 0.0 && p <= 1.0,
                    "dropout probability has to be between 0 and 1, but got ", p);
  // None for a tensor argument reaches the in-place op as an undefined tensor.
  TORCH_CHECK(input.defined() && state.defined(), "mydropout: input and state must be tensors, "
              "but got None");
  TORCH_CHECK(input.layout() == at::kStrided, "mydropout: expected a strided (dense) tensor, "
              "but got layout ", input.layout());
  kernel_dtype(input);
  TORCH_CHECK(state.layout() == at::kStrided && state.scalar_type() == at::kLong &&
                  state.dim() == 1 && state.size(0) == 2,
              "mydropout: state must be an int64 tensor of two elements (seed, offset), as "
              "philox_state returns, but got ", state.scalar_type(), " of shape ",
              state.sizes());
  TORCH_CHECK(state.is_cpu() || state.device() == input.device(),
              "mydropout: state must be on the CPU or on the input's device (", input.device(),
              "), but is on ", state.device());
  TORCH_CHECK_VALUE(first_index >= 0 &&
                        first_index <= std::numeric_limits<int64_t>::max() - draws,
                    "mydropout: first_index must be in [0, 2**63 - ", draws, "), ", draws,
                    " being the call's mask draws, but got ", first_index);
}

// Whether the kernels may walk t's memory as it is: dense, and its data pointer aligned to its
// element (torch.frombuffer can make one that is not; csrc/mydropout.h). Any other input is
// first copied into a fresh tensor.
static bool walkable(const at::Tensor &t) {
  return t.is_non_overlapping_and_dense() &&
         reinterpret_cast<uintptr_t>(t.const_data_ptr()) % t.element_size() == 0;
}

static mydropout_params params(double p, int64_t first_index) {
  return mydropout_params_make(p, 0, 0, static_cast<uint64_t>(first_index));
}

at::Tensor dropout(const at::Tensor &input, double p, const at::Tensor &state,
                   int64_t first_index, KernelRunner run) {
  check_args(input, p, state, first_index, input.numel());
  // The contract's layout; for a non-overlapping dense input it has the input's strides, so
  // both walk memory in the same element order.
  at::Tensor out = at::empty_like(input);
  if (out.numel() == 0) return out;
  if (walkable(input)) {
    run(input, out, params(p, first_index), state);
  } else {
    out.copy_(input);
    run(out, out, params(p, first_index), state);
  }
  return out;
}

// Whether two elements of t may share memory. at::has_internal_overlap finds zero strides only,
// not the overlaps of as_strided or unfold; so sort the dimensions by stride and require each
// stride to step past all that the smaller ones reach, which every view of a non-overlapping
// tensor satisfies (slices, permutes, selects, diagonals).
static bool may_share_memory(const at::Tensor &t) {
  if (t.numel() == 0 || t.is_non_overlapping_and_dense()) return false;
  std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, size) of the dimensions that vary
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.size(d) > 1) dims.emplace_back(t.stride(d), t.size(d));
  }
  std::sort(dims.begin(), dims.end());
  int64_t reach = 0;  // the largest offset the dimensions so far address
  for (const auto &[stride, size] : dims) {
    if (stride <= reach) return true;
    reach += stride * (size - 1);
  }
  return false;
}

// In place, each element is written once with the value its mask gives it; elements that
// share memory would be written twice.
static void check_no_shared_memory(const at::Tensor &input) {
  TORCH_CHECK(!may_share_memory(input),
              "mydropout: in-place dropout of a tensor whose elements may share memory (an "
              "expanded tensor, say) is not supported; clone it first");
}

void dropout_(const at::Tensor &input, double p, const at::Tensor &state, int64_t first_index,
              KernelRunner run) {
  check_args(input, p, state, first_index, input.numel());
  check_no_shared_memory(input);
  if (input.numel() == 0) return;
  if (walkable(input)) {
    run(input, input, params(p, first_index), state);
  } else {
    input.copy_(dropout(input, p, state, first_index, run));
  }
}

// Whether a ChannelPass can walk t as it is: false for pair-major, true for channels_last,
// nullopt for neither (a layout that puts the batch dimension inside another, say).
static std::optional<bool> channel_order(const at::Tensor &t, int64_t spatial) {
  const int64_t batch = t.size(0), channels = t.size(1);
  if (!t.is_non_overlapping_and_dense() || (batch > 1 && t.stride(0) != channels * spatial))
    return std::nullopt;
  if (channels == 1 || t.stride(1) == spatial) return false;
  if (t.stride(1) == 1) return true;
  return std::nullopt;
}

// The number of (batch, channel) pairs, once the arguments of a channel op are checked.
static int64_t check_channel_args(const at::Tensor &input, double p, const at::Tensor &state,
                                  int64_t first_index) {
  TORCH_CHECK(input.defined(), "mydropout: input and state must be tensors, but got None");
  TORCH_CHECK(input.dim() >= 2, "Feature dropout requires at least 2 dimensions in the input");
  // Past int64 only for an empty input (an as_strided one, say): a non-empty one has fewer
  // pairs than elements.
  int64_t pairs = 0;
  TORCH_CHECK_VALUE(!c10::mul_overflows(input.size(0), input.size(1), &pairs),
                    "mydropout: the call's mask draws, N * C = ", input.size(0), " * ",
                    input.size(1), ", must be below 2**63");
  check_args(input, p, state, first_index, pairs);
  return pairs;
}

// The pairs' multipliers, 0 or the contract's scale, in the dtype the contract multiplies in
// (float32, or double for float64); none for one element a pair, where the elementwise kernel is
// the pass, nor for an empty input, whose pairs may be many.
static at::Tensor multipliers(const at::Tensor &input, int64_t pairs) {
  if (input.numel() == 0 || input.numel() == pairs) return at::Tensor();
  const at::ScalarType math = kernel_dtype(input) == MYDROPOUT_F64 ? at::kDouble : at::kFloat;
  return at::empty({pairs}, input.options().dtype(math));
}

// out = channel dropout of src (out may be src), with m from multipliers. Where the pass cannot
// walk out as it is, it runs on a contiguous copy.
static void run_channels(const at::Tensor &src, const at::Tensor &out, const at::Tensor &m,
                         double p, const at::Tensor &state, int64_t first_index, int64_t pairs,
                         KernelRunner run, ChannelPass pass) {
  const int64_t channels = src.size(1), spatial = out.numel() / pairs;
  const std::optional<bool> order = channel_order(out, spatial);
  const bool direct = order.has_value() && walkable(out);
  const at::Tensor dst = direct ? out : at::empty(out.sizes(), out.options());
  const at::Tensor from = walkable(src) && src.strides() == dst.strides() ? src : dst.copy_(src);
  if (!m.defined()) {
    // One element a pair, in pair order in both layouts.
    run(from, dst, params(p, first_index), state);
  } else {
    // The kernel on ones draws the multipliers.
    run(at::Tensor(), m, params(p, first_index), state);
    pass(from, dst, m, channels, spatial, direct && *order);
  }
  if (!direct) out.copy_(dst);
}

at::Tensor dropout_channels(const at::Tensor &input, double p, const at::Tensor &state,
                            int64_t first_index, KernelRunner run, ChannelPass pass) {
  const int64_t pairs = check_channel_args(input, p, state, first_index);
  // The multipliers come first, as F.dropout2d's noise comes before its product. Made after a
  // large output, they left glibc's heap unable to reuse the freed output: it grew by one
  // output a call until trimmed, each output on fresh pages faulted in anew (a float32
  // (32, 64, 56, 56) forward took 1.4 ms instead of 0.8 in some processes).
  const at::Tensor m = multipliers(input, pairs);
  // The output keeps empty_like's layout.
  at::Tensor out = at::empty_like(input);
  if (out.numel() != 0) run_channels(input, out, m, p, state, first_index, pairs, run, pass);
  return out;
}

void dropout_channels_(const at::Tensor &input, double p, const at::Tensor &state,
                       int64_t first_index, KernelRunner run, ChannelPass pass) {
  const int64_t pairs = check_channel_args(input, p, state, first_index);
  check_no_shared_memory(input);
  if (input.numel() != 0) {
    run_channels(input, input, multipliers(input, pairs), p, state, first_index, pairs, run,
                 pass);
  }
}

void read_state(const at::Tensor &state, mydropout_params &prm) {
  auto s = state.accessor<int64_t, 1>();
  prm.seed = static_cast<uint64_t>(s[0]);
  prm.offset = static_cast<uint64_t>(s[1]);
}

at::Tensor make_state(uint64_t seed, uint64_t offset, const at::TensorOptions &options) {
  at::Tensor state = at::empty({2}, options.dtype(at::kLong));
  int64_t *s = state.data_ptr<int64_t>();
  s[0] = static_cast<int64_t>(seed);
  s[1] = static_cast<int64_t>(offset);
  return state;
}

}  // namespace torch_ext
