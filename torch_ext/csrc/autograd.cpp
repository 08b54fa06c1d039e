// Autograd in C++: the backward is the same op on the gradient with the saved (seed, offset)
// pair, so it keeps no mask and is itself differentiable. In C++ rather than Python, so that a
// call on a small tensor costs little more than the kernel.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

namespace torch_ext {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The two out-of-place ops: elementwise dropout, whose mask follows the output's memory order,
// and channel dropout, whose mask does not.
struct Elementwise {
  static constexpr const char *name = "torch_ext::mydropout";
  static constexpr bool mask_follows_layout = true;
};
struct Channels {
  static constexpr const char *name = "torch_ext::mydropout_channels";
  static constexpr bool mask_follows_layout = false;
};

template <class Op>
at::Tensor call(const at::Tensor &input, double p, const at::Tensor &state,
                int64_t first_index) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow(Op::name, "")
                             .template typed<at::Tensor(const at::Tensor &, double,
                                                        const at::Tensor &, int64_t)>();
  return op.call(input, p, state, first_index);
}

template <class Op>
class DropoutFunction : public torch::autograd::Function<DropoutFunction<Op>> {
 public:
  static at::Tensor forward(AutogradContext *ctx, const at::Tensor &input, double p,
                            const at::Tensor &state, int64_t first_index) {
    at::Tensor out;
    {
      at::AutoDispatchBelowADInplaceOrView guard;
      out = call<Op>(input, p, state, first_index);
    }
    ctx->save_for_backward({state});
    ctx->saved_data["p"] = p;
    ctx->saved_data["first_index"] = first_index;
    if constexpr (Op::mask_follows_layout) ctx->saved_data["stride"] = out.strides().vec();
    return out;
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    const at::Tensor state = ctx->get_saved_variables()[0];
    at::Tensor grad = grads[0];
    if constexpr (Op::mask_follows_layout) {
      const std::vector<int64_t> stride = ctx->saved_data["stride"].toIntVector();
      if (grad.strides() != at::IntArrayRef(stride)) {
        // The mask follows memory order: lay the gradient out as the forward's output was, so
        // each element meets its own mask bit.
        grad = at::empty_strided(grad.sizes(), stride, grad.options()).copy_(grad);
      }
    }
    return {call<Op>(grad, ctx->saved_data["p"].toDouble(), state,
                     ctx->saved_data["first_index"].toInt()),
            at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

template <class Op>
at::Tensor dropout_autograd(const at::Tensor &input, double p, const at::Tensor &state,
                            int64_t first_index) {
  return DropoutFunction<Op>::apply(input, p, state, first_index);
}

void call_mydropout_(const at::Tensor &input, double p, const at::Tensor &state,
                     int64_t first_index) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("torch_ext::mydropout_", "")
                             .typed<void(const at::Tensor &, double, const at::Tensor &,
                                         int64_t)>();
  op.call(input, p, state, first_index);
}

void mydropout_inplace_autograd(const at::Tensor &input, double p, const at::Tensor &state,
                                int64_t first_index) {
  TORCH_CHECK(!(at::GradMode::is_enabled() && input.requires_grad()),
              "torch_ext::mydropout_ has no autograd formula; torch_ext.mydropout(x, p, "
              "inplace=True) records one for a tensor that requires grad");
  at::AutoDispatchBelowAutograd guard;
  call_mydropout_(input, p, state, first_index);
}

// Bumps the version counter, so autograd sees that a tensor it saved was overwritten.
void mydropout_inplace_view(const at::Tensor &input, double p, const at::Tensor &state,
                            int64_t first_index) {
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    call_mydropout_(input, p, state, first_index);
  }
  torch::autograd::impl::bump_version(input);
}

}  // namespace

TORCH_LIBRARY_IMPL(torch_ext, Autograd, m) {
  m.impl("mydropout", &dropout_autograd<Elementwise>);
  m.impl("mydropout_channels", &dropout_autograd<Channels>);
  m.impl("mydropout_", &mydropout_inplace_autograd);
}

TORCH_LIBRARY_IMPL(torch_ext, ADInplaceOrView, m) {
  m.impl("mydropout_", &mydropout_inplace_view);
}

}  // namespace torch_ext
