// GroupNorm of a channels_last tensor that stays channels_last (see group_norm_nhwc.h).
#include "core/models/group_norm_nhwc.h"

#include "core/error.h"

#if SCORCH_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "core/models/group_norm_nhwc_kernels.h"
#endif

namespace scorch::models {
namespace {

using torch::Tensor;
constexpr auto kNhwc = at::MemoryFormat::ChannelsLast;

// The accumulation dtype of x's statistics and of the per-channel tables.
at::ScalarType table_dtype(const Tensor& x) { return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat; }

#if SCORCH_WITH_CUDA
bool use_kernels(const Tensor& x) {
  const auto t = x.scalar_type();
  return x.is_cuda() && (t == at::kFloat || t == at::kBFloat16 || t == at::kHalf);
}

nhwc_norm::Dtype kernel_dtype(const Tensor& x) {
  switch (x.scalar_type()) {
    case at::kBFloat16: return nhwc_norm::Dtype::kBFloat16;
    case at::kHalf: return nhwc_norm::Dtype::kFloat16;
    default: return nhwc_norm::Dtype::kFloat32;
  }
}
#endif

// (N, C, H, W) channels_last -> (N, HW, C), a view.
Tensor rows_of(const Tensor& x) { return x.permute({0, 2, 3, 1}).reshape({x.size(0), -1, x.size(1)}); }

// Per image and channel, over its HW rows, with s = x[n, 0, c]: Σ (a - s·shift_a) and Σ (a - s·shift_a)(x - s);
// each (N, C) in table_dtype(x).
std::pair<Tensor, Tensor> channel_sums(const Tensor& a, const Tensor& x, bool shift_a) {
#if SCORCH_WITH_CUDA
  if (use_kernels(x)) {
    const c10::cuda::CUDAGuard guard(x.device());
    const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
    const int64_t rows = nhwc_norm::rows_per_chunk(n, hw, c);
    const int64_t chunks = (hw + rows - 1) / rows;
    auto part1 = torch::empty({n, chunks, c}, x.options().dtype(at::kFloat));  // (N, chunks, C)
    auto part2 = torch::empty_like(part1);
    nhwc_norm::channel_sums(kernel_dtype(x), a.data_ptr(), x.data_ptr(), shift_a, n, hw, c, rows,
                            part1.data_ptr<float>(), part2.data_ptr<float>(),
                            c10::cuda::getCurrentCUDAStream().stream());
    return {part1.sum(1), part2.sum(1)};
  }
#endif
  const auto dtype = table_dtype(x);
  const auto x3 = rows_of(x).to(dtype), a3 = rows_of(a).to(dtype);  // (N, HW, C)
  const auto shift = x3.narrow(1, 0, 1);                            // (N, 1, C)
  const auto u = shift_a ? a3 - shift : a3;
  return {u.sum(1), (u * (x3 - shift)).sum(1)};
}

// x·scale_x + offset (+ dy·scale_dy) with (N, C) tables, in x's dtype and channels_last.
Tensor affine(const Tensor& x, const Tensor& dy, const Tensor& scale_x, const Tensor& scale_dy, const Tensor& offset) {
#if SCORCH_WITH_CUDA
  if (use_kernels(x)) {
    const c10::cuda::CUDAGuard guard(x.device());
    auto out = torch::empty_like(x, x.options(), kNhwc);
    const auto sx = scale_x.to(at::kFloat).contiguous(), off = offset.to(at::kFloat).contiguous();
    const auto sdy = dy.defined() ? scale_dy.to(at::kFloat).contiguous() : Tensor();
    nhwc_norm::affine(kernel_dtype(x), x.data_ptr(), dy.defined() ? dy.data_ptr() : nullptr, sx.data_ptr<float>(),
                      dy.defined() ? sdy.data_ptr<float>() : nullptr, off.data_ptr<float>(), out.data_ptr(), x.size(0),
                      x.size(2) * x.size(3), x.size(1), c10::cuda::getCurrentCUDAStream().stream());
    return out;
  }
#endif
  const auto dtype = table_dtype(x);
  auto per_channel = [&](const Tensor& t) { return t.view({x.size(0), x.size(1), 1, 1}); };  // (N, C, 1, 1)
  auto out = x.to(dtype) * per_channel(scale_x) + per_channel(offset);
  if (dy.defined()) out = out + dy.to(dtype) * per_channel(scale_dy);
  return out.to(x.scalar_type()).contiguous(kNhwc);
}

// (N, G) -> (N, C): each group's value repeated over its channels.
Tensor per_channel(const Tensor& t, int64_t c) {
  const int64_t n = t.size(0), g = t.size(1);
  return t.unsqueeze(2).expand({n, g, c / g}).reshape({n, c});
}

// (N, C) -> (N, G): the sum over each group's channels.
Tensor group_sum(const Tensor& t, int64_t g) { return t.view({t.size(0), g, -1}).sum(2); }

class GroupNormNhwcFunction : public torch::autograd::Function<GroupNormNhwcFunction> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& input, const Tensor& weight,
                        const Tensor& bias, int64_t groups, double eps) {
    const auto x = input.contiguous(kNhwc);  // (N, C, H, W)
    const int64_t c = x.size(1), hw = x.size(2) * x.size(3);
    const auto [sum1, sum2] = channel_sums(x, x, /*shift_a=*/true);  // (N, C): Σ (x - s), Σ (x - s)²
    const auto dtype = sum1.scalar_type();
    const auto shift = rows_of(x).select(1, 0).to(dtype);  // (N, C)
    const auto shifted_mean = sum1 / hw;
    const auto mean_c = shift + shifted_mean;                             // (N, C)
    const auto var_c = (sum2 / hw - shifted_mean.square()).clamp_min(0);  // (N, C)
    const auto mean = group_sum(mean_c, groups) / (c / groups);           // (N, G)
    const auto spread = group_sum((mean_c - per_channel(mean, c)).square(), groups);
    const auto var = (group_sum(var_c, groups) + spread) / (c / groups);  // (N, G)
    const auto rstd = (var + eps).rsqrt();                                // (N, G)
    const auto scale = per_channel(rstd, c) * weight.to(dtype);           // (N, C)
    const auto offset = bias.to(dtype) - per_channel(mean, c) * scale;    // (N, C)
    ctx->save_for_backward({x, weight, bias, mean, rstd, shift});
    ctx->saved_data["groups"] = groups;
    return affine(x, Tensor(), scale, Tensor(), offset);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    // Grad mode is on in a backward only under create_graph: the kernels' results have no graph of their own
    // (and the statistics were taken without one), so a second derivative would silently miss this layer.
    SCORCH_CHECK(!torch::GradMode::is_enabled(),
                 "GroupNorm (NHWC) has no second derivative: set model.nhwc_group_norm: false for a double backward "
                 "(sliced score matching, create_graph)");
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &weight = saved[1], &bias = saved[2], &mean = saved[3], &rstd = saved[4],
               &shift = saved[5];
    const int64_t groups = ctx->saved_data["groups"].toInt();
    const int64_t c = x.size(1), count = x.size(2) * x.size(3) * (c / groups);  // elements per group
    const auto dy = grads[0].to(x.scalar_type()).contiguous(kNhwc);             // (N, C, H, W)
    const auto [sum_dy, sum_dy_xs] = channel_sums(dy, x, /*shift_a=*/false);    // (N, C): Σ dy, Σ dy (x - s)
    const auto dtype = sum_dy.scalar_type();
    const auto mean_c = per_channel(mean, c), rstd_c = per_channel(rstd, c);  // (N, C)
    const auto sum_dy_xc = sum_dy_xs + (shift - mean_c) * sum_dy;             // Σ dy (x - mean)
    const auto w = weight.to(dtype);                                          // (C,)
    // d/dx of (x - mean)·rstd·w: rstd·(w·dy - mean of w·dy - x̂·mean of w·dy·x̂), the means over a group.
    const auto m1 = group_sum(w * sum_dy, groups) / count;              // (N, G)
    const auto m2 = group_sum(w * rstd_c * sum_dy_xc, groups) / count;  // (N, G)
    const auto scale_x = -rstd.square() * m2;                           // (N, G)
    const auto offset = -rstd * m1 - mean * scale_x;                    // (N, G)
    const auto dx = affine(x, dy, per_channel(scale_x, c), rstd_c * w, per_channel(offset, c));
    const auto dweight = (rstd_c * sum_dy_xc).sum(0).to(weight.scalar_type());  // (C,)
    const auto dbias = sum_dy.sum(0).to(bias.scalar_type());                    // (C,)
    return {dx, dweight, dbias, Tensor(), Tensor()};
  }
};

}  // namespace

torch::Tensor group_norm_nhwc(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                              const torch::Tensor& bias, double eps) {
  SCORCH_CHECK(x.dim() == 4, "GroupNorm (NHWC): input of shape {}, expected (N, C, H, W)", c10::str(x.sizes()));
  SCORCH_CHECK(groups >= 1 && x.size(1) % groups == 0, "GroupNorm (NHWC): {} channels cannot form {} groups", x.size(1),
               groups);
  SCORCH_CHECK(weight.dim() == 1 && bias.dim() == 1 && weight.numel() == x.size(1) && bias.numel() == x.size(1),
               "GroupNorm (NHWC): weight and bias of shapes {} and {} for {} channels, expected ({},)",
               c10::str(weight.sizes()), c10::str(bias.sizes()), x.size(1), x.size(1));
  SCORCH_CHECK(x.numel() > 0 && x.size(0) <= kMaxImages,
               "GroupNorm (NHWC): input of shape {}, expected 1 to {} images of at least one element",
               c10::str(x.sizes()), kMaxImages);
  return GroupNormNhwcFunction::apply(x, weight, bias, groups, eps);
}

}  // namespace scorch::models
