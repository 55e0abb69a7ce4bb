// One GroupNorm forward + backward for the fused GroupNorm tests (tests/core on the CPU, tests/cuda on a GPU).
#pragma once
#include <torch/torch.h>

#include <ostream>

#include "core/models/fused_group_norm.h"

namespace scorch::test {

struct GroupNormShape {
  int64_t n, c, h, w, groups;
};
inline void PrintTo(const GroupNormShape& s, std::ostream* os) {
  *os << s.n << "x" << s.c << "x" << s.h << "x" << s.w << "/" << s.groups;
}

struct GroupNormRun {
  torch::Tensor y, dx, dweight, dbias, dpre;  // dpre: with a shift only
};

// Which GroupNorm a run goes through: LibTorch's on NCHW (the reference), or models::fused_group_norm on x in
// NCHW or channels_last.
enum class GroupNormPath { kLibTorch, kFusedNchw, kFusedChannelsLast };
inline const char* name_of(GroupNormPath p) {
  return p == GroupNormPath::kLibTorch    ? "LibTorch"
         : p == GroupNormPath::kFusedNchw ? "fused NCHW"
                                          : "fused channels_last";
}
inline constexpr GroupNormPath kFusedPaths[] = {GroupNormPath::kFusedNchw, GroupNormPath::kFusedChannelsLast};

// y = GroupNorm(x) (SiLU(GroupNorm(x)) with `silu`, fused into the layer on the fused paths) and the gradients
// of Σ y·probe. With `pre0` (N, C), of x + pre0: LibTorch's adds it first, the fused paths take it as their shift.
// With `input_probe` (and no shift), the gradients of Σ y·probe + Σ x²·input_probe / 2, where the fused paths take
// x from fused_group_norm_passing_input, so that x's second gradient reaches it through the layer's backward.
inline GroupNormRun run_group_norm(const torch::Tensor& x0, const torch::Tensor& weight0, const torch::Tensor& bias0,
                                   const torch::Tensor& probe, int64_t groups, GroupNormPath path, bool silu = false,
                                   const torch::Tensor& pre0 = {}, const torch::Tensor& input_probe = {}) {
  const bool channels_last = path == GroupNormPath::kFusedChannelsLast;
  auto x =
      (channels_last ? x0.contiguous(at::MemoryFormat::ChannelsLast) : x0.contiguous()).detach().requires_grad_(true);
  auto weight = weight0.detach().clone().requires_grad_(true), bias = bias0.detach().clone().requires_grad_(true);
  const auto pre = pre0.defined() ? pre0.detach().clone().requires_grad_(true) : torch::Tensor();
  const bool fused = path != GroupNormPath::kLibTorch;
  TORCH_CHECK(!(pre0.defined() && input_probe.defined()),
              "run_group_norm: a shift or the input's second use, not both");
  torch::Tensor y, input = x;
  if (fused && input_probe.defined()) {
    auto out = models::fused_group_norm_passing_input(x, groups, weight, bias, 1e-6, silu);
    y = out.y, input = out.input;
  } else {
    y = fused ? models::fused_group_norm(x, groups, weight, bias, 1e-6, silu, pre)
              : torch::group_norm(pre.defined() ? x + pre.view({pre.size(0), pre.size(1), 1, 1}) : x, groups, weight,
                                  bias, 1e-6);
  }
  if (silu && !fused) y = torch::silu(y);
  auto loss = (y * probe.to(y.scalar_type())).sum();
  if (input_probe.defined()) loss = loss + (input * input * input_probe.to(input.scalar_type())).sum() / 2;
  loss.backward();
  return {y.detach(), x.grad(), weight.grad(), bias.grad(), pre.defined() ? pre.grad() : torch::Tensor()};
}

// Whether t is stored in `path`'s layout (LibTorch's: NCHW).
inline bool in_layout(const torch::Tensor& t, GroupNormPath path) {
  return path == GroupNormPath::kFusedChannelsLast ? t.is_contiguous(at::MemoryFormat::ChannelsLast)
                                                   : t.is_contiguous();
}

}  // namespace scorch::test
