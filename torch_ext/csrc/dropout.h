// What the CPU and CUDA implementations share: argument checks, the output's layout, and the
// split between a dense, element-aligned input (one pass) and any other (copy into the
// output's layout first).
#pragma once

#include <ATen/ATen.h>

#include "mydropout.h"

namespace torch_ext {

// Runs the kernel over dst.numel() elements in memory order; src and dst have the same layout
// and may be the same tensor. prm.seed and prm.offset are not filled in: they live in state.
// An undefined src stands for ones (channel dropout's multipliers: dst float32 or float64).
using KernelRunner = void (*)(const at::Tensor &src, const at::Tensor &dst,
                              mydropout_params prm, const at::Tensor &state);

at::Tensor dropout(const at::Tensor &input, double p, const at::Tensor &state,
                   int64_t first_index, KernelRunner run);

void dropout_(const at::Tensor &input, double p, const at::Tensor &state, int64_t first_index,
              KernelRunner run);

// Channel dropout's pass over the input, once the N*C pairs' multipliers m are drawn (0 or
// the contract's scale): dst = src with pair n*C + c scaled by m[n*C + c], exactly +0 where that
// is 0. src and dst share a layout in which the batches are blocks of C*S elements (S: the
// spatial sizes' product) and, within one, each pair's S elements are a block (pair-major) or,
// channels_last, each spatial position's C channels are side by side. src may be dst.
using ChannelPass = void (*)(const at::Tensor &src, const at::Tensor &dst, const at::Tensor &m,
                             int64_t channels, int64_t spatial, bool channels_last);

// Channel dropout of an (N, C, *) input: the mask of the contract over the N*C (batch,
// channel) pairs in row-major order, each pair's value applied to its whole channel.
at::Tensor dropout_channels(const at::Tensor &input, double p, const at::Tensor &state,
                            int64_t first_index, KernelRunner run, ChannelPass pass);

void dropout_channels_(const at::Tensor &input, double p, const at::Tensor &state,
                       int64_t first_index, KernelRunner run, ChannelPass pass);

mydropout_dtype kernel_dtype(const at::Tensor &t);

// (seed, offset) of a state tensor that lives on the CPU.
void read_state(const at::Tensor &state, mydropout_params &prm);

// A fresh int64 pair on the CPU, from a seed drawn by the caller.
at::Tensor make_state(uint64_t seed, uint64_t offset, const at::TensorOptions &options);

}  // namespace torch_ext
