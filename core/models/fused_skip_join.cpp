// The residual join with the convolutions' biases in one pass (see fused_skip_join.h).
#include "core/models/fused_skip_join.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <cmath>

#include "core/error.h"
#include "core/models/fused_group_norm.h"
#include "core/models/fused_skip_join_math.h"
#include "core/models/kernel_tensors.h"
#include "core/models/layers.h"

#if SCORCH_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "core/models/fused_skip_join_kernels.h"
#endif

namespace scorch::models {
namespace {

using torch::Tensor;

bool fusable(const Tensor& skip, const Tensor& h, const Tensor& bias) {
  if (!skip.sizes().equals(h.sizes()) || skip.scalar_type() != h.scalar_type() || skip.device() != h.device() ||
      bias.device() != h.device() || !h.is_floating_point())
    return false;
  // A CUDA tensor in a build without the CUDA paths would reach the CPU loop with device pointers.
  if (h.is_cuda() ? !(SCORCH_WITH_CUDA && kernel_dtype_supported(h.scalar_type())) : !h.is_cpu()) return false;
  const auto format = layout_of(h);
  return layout_of(skip) == format && skip.is_contiguous(format) && h.is_contiguous(format);
}

// Every element through fused_skip_join_math.h's join, in h's layout: the kernel on CUDA; on the CPU a loop over
// NCHW planes (one bias each) or channels_last pixels (the biases in order).
Tensor join_values(const Tensor& skip, const Tensor& h, const Tensor& bias, bool rescale) {
  const auto format = layout_of(h);
  auto out = torch::empty(h.sizes(), h.options().memory_format(format));  // (N, C, H, W)
  const int64_t n = h.size(0), c = h.size(1), hw = h.size(2) * h.size(3);
#if SCORCH_WITH_CUDA
  if (h.is_cuda()) {
    const c10::cuda::CUDAGuard guard(h.device());
    const auto b = bias.to(torch::kFloat32).contiguous();  // (C,)
    // As LibTorch's CUDA division by √2: a multiplication by the float32 reciprocal of float32 √2.
    const float scale = rescale ? 1.0f / static_cast<float>(std::sqrt(2.0)) : 1.0f;
    residual_join::join_forward(kernel_dtype(h.scalar_type()), kernel_layout(format), skip.data_ptr(), h.data_ptr(),
                                b.const_data_ptr<float>(), out.data_ptr(), scale, n, c, hw,
                                c10::cuda::getCurrentCUDAStream().stream());
    return out;
  }
#endif
  const bool nhwc = format == at::MemoryFormat::ChannelsLast;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, h.scalar_type(), "fused_skip_join", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto b = bias.to(c10::CppTypeToScalarType<acc_t>::value).contiguous();  // (C,)
    const acc_t scale = rescale ? acc_t(1) / static_cast<acc_t>(std::sqrt(2.0)) : acc_t(1);
    const scalar_t* s = skip.const_data_ptr<scalar_t>();
    const scalar_t* x = h.const_data_ptr<scalar_t>();
    const acc_t* bp = b.const_data_ptr<acc_t>();
    scalar_t* o = out.mutable_data_ptr<scalar_t>();
    // Rows of `row` elements: an NCHW plane of one channel, or a channels_last pixel of all C.
    const int64_t rows = nhwc ? n * hw : n * c, row = nhwc ? c : hw;
    at::parallel_for(0, rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(row, 1)), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t base = r * row;
        const acc_t plane_bias = nhwc ? acc_t(0) : bp[r % c];
        for (int64_t k = 0; k < row; ++k) {
          const acc_t bk = nhwc ? bp[k] : plane_bias;
          o[base + k] = static_cast<scalar_t>(
              residual_join::join<acc_t>(static_cast<acc_t>(s[base + k]), static_cast<acc_t>(x[base + k]), bk, scale));
        }
      }
    });
  });
  return out;
}

class FusedSkipJoinFunction : public torch::autograd::Function<FusedSkipJoinFunction> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& skip, const Tensor& h, const Tensor& bias,
                        bool rescale) {
    ctx->saved_data["rescale"] = rescale;
    ctx->saved_data["bias_dtype"] = static_cast<int64_t>(bias.scalar_type());
    return join_values(skip, h, bias, rescale);
  }

  // d/dskip = d/dh = the gradient (divided by √2 as the unfused join's DivBackward divides it), d/dbias its sum over
  // (N, H, W): the ops of the unfused join, differentiable under create_graph; otherwise the sum on CUDA is
  // channel_sum's kernel.
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    torch::autograd::tensor_list out(4);
    const auto& g = grads[0];  // (N, C, H, W)
    if (!g.defined()) return out;
    const auto gs = ctx->saved_data["rescale"].toBool() ? g / std::sqrt(2.0) : g;
    const auto bias_dtype = static_cast<at::ScalarType>(ctx->saved_data["bias_dtype"].toInt());
    out[0] = gs;
    out[1] = gs;
    out[2] = channel_sum(gs, bias_dtype);  // (C,)
    return out;
  }
};

}  // namespace

torch::Tensor fused_skip_join(const torch::Tensor& skip, const torch::Tensor& h, const torch::Tensor& bias,
                              bool rescale) {
  SCORCH_CHECK(h.dim() == 4 && bias.dim() == 1 && bias.size(0) == h.size(1),
               "residual join (fused): h of shape {} and bias of shape {}: expected (N, C, H, W) and (C,)",
               c10::str(h.sizes()), c10::str(bias.sizes()));
  if (!fusable(skip, h, bias)) return skip_join(skip, h + bias.to(h.scalar_type()).view({1, -1, 1, 1}), rescale);
  return FusedSkipJoinFunction::apply(skip, h, bias, rescale);
}

}  // namespace scorch::models
