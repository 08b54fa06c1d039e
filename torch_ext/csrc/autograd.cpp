// Autograd in C++: the backward is the out-of-place op on the gradient with the saved
// (seed, offset) pair, so it keeps no mask and is itself differentiable. In C++ rather than
// Python, so that a call on a small tensor costs little more than the kernel.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/csrc/autograd/VariableTypeUtils.h>
#include <torch/library.h>

namespace torch_ext {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The ops with an autograd formula, each out of place or in place: elementwise dropout, whose
// mask follows the output's memory order, and channel dropout, whose mask does not. name is the
// out-of-place op, which the backward runs on the gradient; inplace_name the in-place one.
struct Elementwise {
  static constexpr const char *name = "torch_ext::mydropout";
  static constexpr const char *inplace_name = "torch_ext::mydropout_";
  static constexpr bool mask_follows_layout = true;
  static constexpr bool inplace = false;
};
struct Channels {
  static constexpr const char *name = "torch_ext::mydropout_channels";
  static constexpr const char *inplace_name = "torch_ext::mydropout_channels_";
  static constexpr bool mask_follows_layout = false;
  static constexpr bool inplace = false;
};
template <class Op>
struct Inplace : Op {
  static constexpr bool inplace = true;
};

// first_index stays a SymInt here: under torch.compile these kernels run on a symbolic one,
// which an int64_t would pin to its value.
template <class Op>
at::Tensor call(const at::Tensor &input, double p, const at::Tensor &state,
                c10::SymInt first_index) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow(Op::name, "")
                             .template typed<at::Tensor(const at::Tensor &, double,
                                                        const at::Tensor &, c10::SymInt)>();
  return op.call(input, p, state, first_index);
}

template <class Op>
void call_inplace(const at::Tensor &input, double p, const at::Tensor &state,
                  c10::SymInt first_index) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow(Op::inplace_name, "")
                             .template typed<void(const at::Tensor &, double,
                                                  const at::Tensor &, c10::SymInt)>();
  op.call(input, p, state, first_index);
}

template <class Op>
class DropoutFunction : public torch::autograd::Function<DropoutFunction<Op>> {
 public:
  static at::Tensor forward(AutogradContext *ctx, const at::Tensor &input, double p,
                            const at::Tensor &state, c10::SymInt first_index) {
    at::Tensor out;
    {
      at::AutoDispatchBelowADInplaceOrView guard;
      if constexpr (Op::inplace) {
        call_inplace<Op>(input, p, state, first_index);
        out = input;
      } else {
        out = call<Op>(input, p, state, first_index);
      }
    }
    // apply() then bumps the input's version counter, with grad or without, and where it records
    // the node, rebases the input's history onto it.
    if constexpr (Op::inplace) ctx->mark_dirty({input});
    ctx->save_for_backward({state});
    ctx->saved_data["p"] = p;
    ctx->saved_data["first_index"] = first_index;
    // Symbolic under torch.compile: strides() would pin each to its value, and so a size that
    // changes between calls (a sequence length) to one value per compiled graph.
    if constexpr (Op::mask_follows_layout) ctx->saved_data["stride"] = out.sym_strides().vec();
    return out;
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    const at::Tensor state = ctx->get_saved_variables()[0];
    // A sparse gradient (torch.autograd.grad takes one) meets the mask as dense memory.
    at::Tensor grad = grads[0].layout() == at::kStrided ? grads[0] : grads[0].to_dense();
    if constexpr (Op::mask_follows_layout) {
      const std::vector<c10::SymInt> stride = ctx->saved_data["stride"].toSymIntVector();
      if (grad.sym_strides() != c10::SymIntArrayRef(stride)) {
        // The mask follows memory order: lay the gradient out as the forward's output was, so
        // each element meets its own mask bit. new_empty_strided, which vmap batches as it
        // batches grad (a batched backward: torch.autograd.functional.jacobian's vectorize).
        grad = grad.new_empty_strided_symint(grad.sym_sizes(), stride).copy_(grad);
      }
    }
    return {call<Op>(grad, ctx->saved_data["p"].toDouble(), state,
                     ctx->saved_data["first_index"].toSymInt()),
            at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// Whether the call has anything for autograd to record. Where it has not, the kernels run
// without apply(), whose node and saved state cost most of a small tensor's call (the backward
// too goes through here). A forward-mode tangent still goes to apply(), which refuses it; None
// for a tensor argument arrives undefined, which apply() cannot wrap, and the kernel refuses
// it with its own message.
bool records(const at::Tensor &input, const at::Tensor &state) {
  return input.defined() && state.defined() &&
         ((at::GradMode::is_enabled() && input.requires_grad()) || input._fw_grad(0).defined());
}

template <class Op>
at::Tensor dropout_autograd(const at::Tensor &input, double p, const at::Tensor &state,
                            c10::SymInt first_index) {
  if (!records(input, state)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return call<Op>(input, p, state, first_index);
  }
  return DropoutFunction<Op>::apply(input, p, state, first_index);
}

// The schema returns nothing: the caller's input is the output, its history already rebased.
template <class Op>
void inplace_autograd(const at::Tensor &input, double p, const at::Tensor &state,
                      c10::SymInt first_index) {
  if (!records(input, state)) {
    // Below Autograd only: the ADInplaceOrView kernel still bumps the version counter.
    at::AutoDispatchBelowAutograd guard;
    return call_inplace<Op>(input, p, state, first_index);
  }
  // torch's own refusals of an in-place op (on a leaf that requires grad, on a view of one, on a
  // view whose history cannot be rebased), made as native ops make them: before the input is
  // written. apply() would catch only the first, and after the kernel ran.
  torch::autograd::check_inplace(input, input.requires_grad());
  DropoutFunction<Inplace<Op>>::apply(input, p, state, first_index);
}

// Bumps the version counter where the Autograd kernel does not run (in inference mode, on a
// normal tensor), so that autograd still sees that a tensor it saved was overwritten.
template <class Op>
void inplace_view(const at::Tensor &input, double p, const at::Tensor &state,
                  c10::SymInt first_index) {
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    call_inplace<Op>(input, p, state, first_index);
  }
  torch::autograd::impl::bump_version(input);
}

}  // namespace

TORCH_LIBRARY_IMPL(torch_ext, Autograd, m) {
  m.impl("mydropout", &dropout_autograd<Elementwise>);
  m.impl("mydropout_channels", &dropout_autograd<Channels>);
  m.impl("mydropout_", &inplace_autograd<Elementwise>);
  m.impl("mydropout_channels_", &inplace_autograd<Channels>);
}

TORCH_LIBRARY_IMPL(torch_ext, ADInplaceOrView, m) {
  m.impl("mydropout_", &inplace_view<Elementwise>);
  m.impl("mydropout_channels_", &inplace_view<Channels>);
}

}  // namespace torch_ext
