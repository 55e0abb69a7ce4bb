// GroupNorm (+ SiLU) through scorch's kernels, in the input's layout (see fused_group_norm.h).
#include "core/models/fused_group_norm.h"

#include "core/error.h"
#include "core/models/fused_group_norm_math.h"
#include "core/models/kernel_tensors.h"

#if SCORCH_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "core/models/fused_group_norm_kernels.h"
#endif

namespace scorch::models {
namespace {

using torch::Tensor;

// The accumulation dtype of x's statistics and of the per-channel tables.
at::ScalarType table_dtype(const Tensor& x) { return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat; }

#if SCORCH_WITH_CUDA
bool use_kernels(const Tensor& x) { return x.is_cuda() && kernel_dtype_supported(x.scalar_type()); }
#endif

// (N, C, H, W) -> (N, HW, C): a view of channels_last, a copy of NCHW (the CPU path only).
Tensor rows_of(const Tensor& x) { return x.permute({0, 2, 3, 1}).reshape({x.size(0), -1, x.size(1)}); }

// (N, C) table -> (N, C, 1, 1), a view.
Tensor per_channel(const Tensor& t) { return t.view({t.size(0), t.size(1), 1, 1}); }

// The forward's (N, C) tables when a SiLU follows the GroupNorm (see fused_norm::Silu); undefined otherwise.
struct SiluTables {
  Tensor scale, offset;
  bool on() const { return scale.defined(); }
#if SCORCH_WITH_CUDA
  fused_norm::Silu raw() const {
    return on() ? fused_norm::Silu{scale.data_ptr<float>(), offset.data_ptr<float>()} : fused_norm::Silu{};
  }
#endif
};

// dz·silu'(x·scale + offset) in table_dtype(x): what the kernels compute as they read dz, as a tensor.
Tensor silu_gradient(const Tensor& dz, const Tensor& x, const SiluTables& silu) {
  const auto dtype = table_dtype(x);
  return torch::silu_backward(dz.to(dtype), x.to(dtype) * per_channel(silu.scale) + per_channel(silu.offset));
}

struct PartialSums {
  Tensor sum1, sum2;  // (N, chunks, C)
  Tensor shift;       // (N, C): s (with shift_a; on the CPU always)
};

// Per image, chunk of pixels and channel, with s = x[n, c, 0, 0]: Σ (a - s·shift_a) and Σ (a - s·shift_a)(x - s),
// in table_dtype(x), where a is taken through SiLU's derivative first with `silu`. a and x are both in
// `format`. One chunk on the CPU.
PartialSums partial_sums(const Tensor& a, const Tensor& x, at::MemoryFormat format, bool shift_a,
                         const SiluTables& silu = {}) {
#if SCORCH_WITH_CUDA
  if (use_kernels(x)) {
    const c10::cuda::CUDAGuard guard(x.device());
    const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
    const auto layout = kernel_layout(format);
    const auto dtype = kernel_dtype(x.scalar_type());
    const int64_t pixels = fused_norm::pixels_per_chunk(dtype, layout, a.data_ptr(), x.data_ptr(), n, hw, c);
    auto part1 = torch::empty({n, (hw + pixels - 1) / pixels, c}, x.options().dtype(at::kFloat));
    auto part2 = torch::empty_like(part1);
    auto shift = shift_a ? torch::empty({n, c}, part1.options()) : Tensor();  // the backward has it saved
    fused_norm::channel_sums(dtype, layout, a.data_ptr(), x.data_ptr(), shift_a, silu.raw(), n, hw, c, pixels,
                             part1.data_ptr<float>(), part2.data_ptr<float>(),
                             shift_a ? shift.data_ptr<float>() : nullptr, c10::cuda::getCurrentCUDAStream().stream());
    return {part1, part2, shift};
  }
#endif
  const auto dtype = table_dtype(x);
  const auto x3 = rows_of(x).to(dtype);                                          // (N, HW, C)
  const auto a3 = rows_of(silu.on() ? silu_gradient(a, x, silu) : a).to(dtype);  // (N, HW, C)
  const auto shift = x3.narrow(1, 0, 1);                                         // (N, 1, C)
  const auto u = shift_a ? a3 - shift : a3;
  return {u.sum(1, /*keepdim=*/true), (u * (x3 - shift)).sum(1, /*keepdim=*/true), shift.squeeze(1).contiguous()};
}

// x·scale_x + offset (+ dy·scale_dy) (+ extra) with (N, C) tables, in x's dtype and `format` (x's, dy's and
// extra's); SiLU of that with silu_out, and dy taken through SiLU's derivative first with `silu`.
Tensor affine(const Tensor& x, const Tensor& dy, at::MemoryFormat format, const Tensor& scale_x, const Tensor& scale_dy,
              const Tensor& offset, bool silu_out, const SiluTables& silu = {}, const Tensor& extra = {}) {
#if SCORCH_WITH_CUDA
  if (use_kernels(x)) {
    const c10::cuda::CUDAGuard guard(x.device());
    auto out = torch::empty_like(x, x.options(), format);
    fused_norm::affine(kernel_dtype(x.scalar_type()), kernel_layout(format), x.data_ptr(),
                       dy.defined() ? dy.data_ptr() : nullptr, extra.defined() ? extra.data_ptr() : nullptr,
                       scale_x.data_ptr<float>(), dy.defined() ? scale_dy.data_ptr<float>() : nullptr,
                       offset.data_ptr<float>(), silu_out, silu.raw(), out.data_ptr(), x.size(0), x.size(2) * x.size(3),
                       x.size(1), c10::cuda::getCurrentCUDAStream().stream());
    return out;
  }
#endif
  const auto dtype = table_dtype(x);
  auto out = x.to(dtype) * per_channel(scale_x) + per_channel(offset);
  if (dy.defined()) out = out + (silu.on() ? silu_gradient(dy, x, silu) : dy.to(dtype)) * per_channel(scale_dy);
  if (extra.defined()) out = out + extra.to(dtype);
  if (silu_out) out = torch::silu(out);
  return out.to(x.scalar_type()).contiguous(format);
}

// The input shift's tables (all undefined without one) as the per-group arithmetic takes them.
struct PreTables {
  Tensor pre, sum_x, dpre;  // (N, C) each, in the tables' dtype
  template <typename T>
  fused_norm::PreShift<T> raw(bool forward) const {
    if (!pre.defined()) return {};
    return forward ? fused_norm::PreShift<T>{pre.data_ptr<T>(), sum_x.data_ptr<T>(), nullptr, nullptr}
                   : fused_norm::PreShift<T>{pre.data_ptr<T>(), nullptr, sum_x.data_ptr<T>(), dpre.data_ptr<T>()};
  }
};

// The per-group arithmetic of fused_group_norm_math.h over every image and group (every channel): the kernels on
// CUDA, a loop over the same functions on the CPU. All tables contiguous, in one dtype (float32 on CUDA).
template <typename T>
void statistics_on_cpu(const fused_norm::Dims& d, const Tensor& sum1, const Tensor& sum2, const Tensor& shift,
                       const Tensor& w, const Tensor& b, double eps, Tensor& mean, Tensor& rstd, Tensor& scale,
                       Tensor& offset, const PreTables& pre) {
  for (int64_t img = 0; img < d.n; ++img)
    for (int64_t g = 0; g < d.groups; ++g)
      fused_norm::group_statistics<T>(d, img, g, sum1.data_ptr<T>(), sum2.data_ptr<T>(), shift.data_ptr<T>(),
                                      w.data_ptr<T>(), b.data_ptr<T>(), static_cast<T>(eps), mean.data_ptr<T>(),
                                      rstd.data_ptr<T>(), scale.data_ptr<T>(), offset.data_ptr<T>(),
                                      pre.raw<T>(/*forward=*/true));
}

template <typename T>
void gradients_on_cpu(const fused_norm::Dims& d, const Tensor& sum_dy, const Tensor& sum_dy_xs, const Tensor& shift,
                      const Tensor& w, const Tensor& mean, const Tensor& rstd, Tensor& dy_total, Tensor& dy_xc,
                      Tensor& scale_dy, Tensor& scale_x, Tensor& offset, Tensor& dweight, Tensor& dbias,
                      const PreTables& pre) {
  for (int64_t img = 0; img < d.n; ++img)
    for (int64_t g = 0; g < d.groups; ++g)
      fused_norm::group_input_gradient<T>(d, img, g, sum_dy.data_ptr<T>(), sum_dy_xs.data_ptr<T>(), shift.data_ptr<T>(),
                                          w.data_ptr<T>(), mean.data_ptr<T>(), rstd.data_ptr<T>(),
                                          dy_total.data_ptr<T>(), dy_xc.data_ptr<T>(), scale_dy.data_ptr<T>(),
                                          scale_x.data_ptr<T>(), offset.data_ptr<T>(), pre.raw<T>(/*forward=*/false));
  for (int64_t ch = 0; ch < d.c; ++ch)
    fused_norm::parameter_gradients<T>(d, ch, dy_total.data_ptr<T>(), dy_xc.data_ptr<T>(), rstd.data_ptr<T>(),
                                       dweight.data_ptr<T>(), dbias.data_ptr<T>());
}

fused_norm::Dims dims_of(const Tensor& x, int64_t groups, const Tensor& partial) {
  return {x.size(0), x.size(1), groups, x.size(2) * x.size(3), partial.size(1)};
}

// Outputs: y, and with pass_input the input itself, which autograd hands on as a view of it whose gradient comes
// back to this backward (see fused_group_norm_passing_input).
class FusedGroupNormFunction : public torch::autograd::Function<FusedGroupNormFunction> {
 public:
  static torch::autograd::tensor_list forward(torch::autograd::AutogradContext* ctx, const Tensor& input,
                                              const Tensor& weight, const Tensor& bias, const Tensor& pre_shift,
                                              int64_t groups, double eps, bool silu, bool pass_input) {
    // An output nobody differentiated arrives undefined instead of as a pass over zeros.
    ctx->set_materialize_grads(false);
    const auto format = layout_of(input);
    const auto x = input.contiguous(format);                                        // (N, C, H, W)
    const auto [sum1, sum2, shift] = partial_sums(x, x, format, /*shift_a=*/true);  // Σ (x - s), Σ (x - s)², s
    const auto d = dims_of(x, groups, sum1);
    const auto t = sum1.options();
    const auto w = weight.to(t.dtype()).contiguous(), b = bias.to(t.dtype()).contiguous();
    auto mean = torch::empty({d.n, d.groups}, t), rstd = torch::empty_like(mean);  // (N, G)
    auto scale = torch::empty({d.n, d.c}, t), offset = torch::empty_like(scale);   // (N, C)
    PreTables pre;
    if (pre_shift.numel() > 0) pre = {pre_shift.to(t.dtype()).contiguous(), torch::empty_like(scale), Tensor()};
#if SCORCH_WITH_CUDA
    if (use_kernels(x)) {
      const c10::cuda::CUDAGuard guard(x.device());
      fused_norm::launch_group_statistics(d, sum1.data_ptr<float>(), sum2.data_ptr<float>(), shift.data_ptr<float>(),
                                          w.data_ptr<float>(), b.data_ptr<float>(), static_cast<float>(eps),
                                          mean.data_ptr<float>(), rstd.data_ptr<float>(), scale.data_ptr<float>(),
                                          offset.data_ptr<float>(), pre.raw<float>(/*forward=*/true),
                                          c10::cuda::getCurrentCUDAStream().stream());
    } else
#endif
        if (t.dtype() == at::kDouble)
      statistics_on_cpu<double>(d, sum1, sum2, shift, w, b, eps, mean, rstd, scale, offset, pre);
    else
      statistics_on_cpu<float>(d, sum1, sum2, shift, w, b, eps, mean, rstd, scale, offset, pre);
    // With the SiLU, its input is recomputed in the backward from x and these (N, C) tables, not stored.
    ctx->save_for_backward(
        {x, weight, bias, mean, rstd, shift, silu ? scale : Tensor(), silu ? offset : Tensor(), pre.pre, pre.sum_x});
    ctx->saved_data["groups"] = groups;
    ctx->saved_data["pre_dtype"] = pre_shift.scalar_type();
    auto y = affine(x, Tensor(), format, scale, Tensor(), offset, silu);
    if (!pass_input) return {y};
    return {y, input};
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    // Grad mode is on in a backward only under create_graph: the kernels' results have no graph of their own
    // (and the statistics were taken without one), so a second derivative would silently miss this layer.
    SCORCH_CHECK(!torch::GradMode::is_enabled(),
                 "GroupNorm (fused) has no second derivative: set model.fused_group_norm: false for a double backward "
                 "(sliced score matching, create_graph)");
    // What the input's other uses sent it (pass_input), or undefined.
    const auto passed = grads.size() > 1 ? grads[1] : Tensor();
    if (!grads[0].defined()) {  // y went unused: the input's gradient is theirs alone
      torch::autograd::tensor_list only_passed(8);
      only_passed[0] = passed;
      return only_passed;
    }
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &weight = saved[1], &bias = saved[2], &mean = saved[3], &rstd = saved[4],
               &shift = saved[5];
    const SiluTables silu{saved[6], saved[7]};
    PreTables pre{saved[8], saved[9], Tensor()};
    // The gradient of the output: of SiLU's with `silu`, which the two passes below take back through it.
    const auto format = layout_of(x);                                        // x was saved in the forward's layout
    const auto dy = grads[0].to(x.scalar_type()).contiguous(format);         // (N, C, H, W)
    const auto sums = partial_sums(dy, x, format, /*shift_a=*/false, silu);  // Σ dy, Σ dy (x - s): (N, chunks, C)
    const auto &sum_dy = sums.sum1, &sum_dy_xs = sums.sum2;
    const auto d = dims_of(x, ctx->saved_data["groups"].toInt(), sum_dy);
    const auto t = sum_dy.options();
    const auto w = weight.to(t.dtype()).contiguous();
    auto dy_total = torch::empty({d.n, d.c}, t), dy_xc = torch::empty_like(dy_total);  // (N, C)
    auto scale_dy = torch::empty_like(dy_total), scale_x = torch::empty_like(dy_total),
         offset = torch::empty_like(dy_total);
    auto dweight = torch::empty({d.c}, t), dbias = torch::empty_like(dweight);  // (C,)
    if (pre.pre.defined()) pre.dpre = torch::empty_like(dy_total);              // (N, C)
#if SCORCH_WITH_CUDA
    if (use_kernels(x)) {
      const c10::cuda::CUDAGuard guard(x.device());
      const auto stream = c10::cuda::getCurrentCUDAStream().stream();
      fused_norm::launch_group_input_gradient(
          d, sum_dy.data_ptr<float>(), sum_dy_xs.data_ptr<float>(), shift.data_ptr<float>(), w.data_ptr<float>(),
          mean.data_ptr<float>(), rstd.data_ptr<float>(), dy_total.data_ptr<float>(), dy_xc.data_ptr<float>(),
          scale_dy.data_ptr<float>(), scale_x.data_ptr<float>(), offset.data_ptr<float>(),
          pre.raw<float>(/*forward=*/false), stream);
      fused_norm::launch_parameter_gradients(d, dy_total.data_ptr<float>(), dy_xc.data_ptr<float>(),
                                             rstd.data_ptr<float>(), dweight.data_ptr<float>(), dbias.data_ptr<float>(),
                                             stream);
    } else
#endif
        if (t.dtype() == at::kDouble)
      gradients_on_cpu<double>(d, sum_dy, sum_dy_xs, shift, w, mean, rstd, dy_total, dy_xc, scale_dy, scale_x, offset,
                               dweight, dbias, pre);
    else
      gradients_on_cpu<float>(d, sum_dy, sum_dy_xs, shift, w, mean, rstd, dy_total, dy_xc, scale_dy, scale_x, offset,
                              dweight, dbias, pre);
    const auto extra = passed.defined() ? passed.to(x.scalar_type()).contiguous(format) : Tensor();  // (N, C, H, W)
    const auto dx = affine(x, dy, format, scale_x, scale_dy, offset, /*silu_out=*/false, silu, extra);
    const auto dpre =
        pre.dpre.defined() ? pre.dpre.to(ctx->saved_data["pre_dtype"].toScalarType()) : Tensor();  // (N, C)
    return {dx, dweight.to(weight.scalar_type()), dbias.to(bias.scalar_type()), dpre, {}, {}, {}, {}};
  }
};

}  // namespace

namespace {

torch::autograd::tensor_list apply_fused_group_norm(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                                                    const torch::Tensor& bias, double eps, bool silu,
                                                    const torch::Tensor& pre, bool pass_input) {
  SCORCH_CHECK(x.dim() == 4, "GroupNorm (fused): input of shape {}, expected (N, C, H, W)", c10::str(x.sizes()));
  SCORCH_CHECK(groups >= 1 && x.size(1) % groups == 0, "GroupNorm (fused): {} channels cannot form {} groups",
               x.size(1), groups);
  SCORCH_CHECK(weight.dim() == 1 && bias.dim() == 1 && weight.numel() == x.size(1) && bias.numel() == x.size(1),
               "GroupNorm (fused): weight and bias of shapes {} and {} for {} channels, expected ({},)",
               c10::str(weight.sizes()), c10::str(bias.sizes()), x.size(1), x.size(1));
  // The kernels and the CPU loops read the parameters' memory directly: they must live where x does.
  SCORCH_CHECK(weight.device() == x.device() && bias.device() == x.device(),
               "GroupNorm (fused): weight on {}, bias on {}, input on {}: expected all three on one device",
               weight.device().str(), bias.device().str(), x.device().str());
  SCORCH_CHECK(!pre.defined() || (pre.dim() == 2 && pre.size(0) == x.size(0) && pre.size(1) == x.size(1) &&
                                  pre.device() == x.device() && pre.is_floating_point()),
               "GroupNorm (fused): a shift of shape {} on {} for an input of shape {} on {}: expected (N, C), floating "
               "point, on the input's device",
               c10::str(pre.sizes()), pre.device().str(), c10::str(x.sizes()), x.device().str());
  SCORCH_CHECK(x.numel() > 0 && x.size(0) <= kMaxImages,
               "GroupNorm (fused): input of shape {}, expected 1 to {} images of at least one element",
               c10::str(x.sizes()), kMaxImages);
  // The CPU path's loops read the tables' memory: on a GPU only the kernels may run.
  SCORCH_CHECK(
      !x.is_cuda() || (SCORCH_WITH_CUDA && kernel_dtype_supported(x.scalar_type())),
      "GroupNorm (fused): a CUDA tensor of {} in a build {}: expected float32, bfloat16 or float16 with the CUDA "
      "paths compiled in",
      c10::toString(x.scalar_type()), SCORCH_WITH_CUDA ? "with the CUDA kernels" : "without CUDA paths");
  // No shift is an empty tensor: the autograd function's inputs must be defined tensors.
  const auto none = pre.defined() ? pre : torch::empty({0}, x.options().dtype(at::kFloat));
  return FusedGroupNormFunction::apply(x, weight, bias, none, groups, eps, silu, pass_input);
}

}  // namespace

torch::Tensor fused_group_norm(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                               const torch::Tensor& bias, double eps, bool silu, const torch::Tensor& pre) {
  return apply_fused_group_norm(x, groups, weight, bias, eps, silu, pre, /*pass_input=*/false)[0];
}

NormAndInput fused_group_norm_passing_input(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                                            const torch::Tensor& bias, double eps, bool silu) {
  auto out = apply_fused_group_norm(x, groups, weight, bias, eps, silu, {}, /*pass_input=*/true);
  return {out[0], out[1]};
}

torch::Tensor channel_sum(const torch::Tensor& x, at::ScalarType dtype) {
  SCORCH_CHECK(x.dim() == 4, "per-channel sum: input of shape {}, expected (N, C, H, W)", c10::str(x.sizes()));
#if SCORCH_WITH_CUDA
  const auto format = layout_of(x);
  if (use_kernels(x) && !(torch::GradMode::is_enabled() && x.requires_grad()) && x.numel() > 0 &&
      x.size(0) <= kMaxImages && x.is_contiguous(format)) {
    // With shift_a off, sum1 is Σ x per image, chunk and channel; sum2 (Σ x·(x - s)) comes along unused, from the
    // same loads.
    return partial_sums(x, x, format, /*shift_a=*/false).sum1.sum(at::IntArrayRef{0, 1}).to(dtype);  // (C,)
  }
#endif
  return at::sum(x, {0, 2, 3}, /*keepdim=*/false, dtype);
}

}  // namespace scorch::models
