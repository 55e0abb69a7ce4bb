// GroupNorm in the autocast dtype with float32 statistics (see group_norm.h).
#include "core/models/group_norm.h"

#include <ATen/autocast_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include "core/error.h"
#include "core/models/fused_group_norm.h"
#include "core/models/kernel_tensors.h"

namespace scorch::models {

GroupNormImpl::GroupNormImpl(int64_t num_groups, int64_t num_channels, double eps)
    : num_groups_(num_groups), eps_(eps) {
  SCORCH_CHECK_HINT(num_groups >= 1 && num_channels % num_groups == 0,
                    "the U-Nets' GroupNorm takes min(C / 4, 32) groups of each block's C = model.nf x "
                    "model.ch_mult[i] channels: a model.nf that is a multiple of 32 always works (score_sde: 128)",
                    "GroupNorm: {} channels cannot form {} groups", num_channels, num_groups);
  weight = register_parameter("weight", torch::ones({num_channels}));
  bias = register_parameter("bias", torch::zeros({num_channels}));
}

bool GroupNormImpl::takes_fused_path(const torch::Tensor& x) const {
  if (!switch_applies(fused_, x.is_cuda()) || x.dim() != 4 || x.size(0) > kMaxImages ||
      !kernel_dtype_supported(x.scalar_type()))
    return false;
  // A CUDA tensor in a build without the kernels would reach the CPU loop with device pointers.
  return x.is_cpu() || (x.is_cuda() && SCORCH_WITH_CUDA);
}

torch::Tensor GroupNormImpl::forward_silu(const torch::Tensor& x) {
  if (takes_fused_path(x)) return fused_group_norm(x, num_groups_, weight, bias, eps_, /*silu=*/true);
  return torch::silu(forward(x));
}

torch::Tensor GroupNormImpl::forward_shifted(const torch::Tensor& x, const torch::Tensor& pre, bool silu) {
  if (takes_fused_path(x)) return fused_group_norm(x, num_groups_, weight, bias, eps_, silu, pre);
  // In x's dtype: a float32 shift would promote a 16-bit activation to float32.
  const auto shifted = x + pre.to(x.scalar_type()).view({pre.size(0), pre.size(1), 1, 1});  // (B, C, H, W)
  return silu ? forward_silu(shifted) : forward(shifted);
}

std::pair<torch::Tensor, torch::Tensor> GroupNormImpl::forward_passing_input(const torch::Tensor& x, bool silu) {
  if (!takes_fused_path(x)) return {silu ? forward_silu(x) : forward(x), x};
  auto out = fused_group_norm_passing_input(x, num_groups_, weight, bias, eps_, silu);
  return {out.y, out.input};
}

torch::Tensor GroupNormImpl::forward(const torch::Tensor& x) {
  if (takes_fused_path(x)) return fused_group_norm(x, num_groups_, weight, bias, eps_);
  const auto device = x.device().type();
  if (!at::autocast::is_autocast_enabled(device) || x.scalar_type() != at::autocast::get_autocast_dtype(device))
    return torch::group_norm(x, num_groups_, weight, bias, eps_);
  c10::impl::ExcludeDispatchKeyGuard no_autocast(at::autocast::get_autocast_dispatch_key_from_device_type(device));
  const auto dtype = x.scalar_type();
  return torch::group_norm(x, num_groups_, weight.to(dtype), bias.to(dtype), eps_);
}

}  // namespace scorch::models
