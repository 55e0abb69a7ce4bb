// One GroupNorm forward + backward for the NHWC GroupNorm tests (tests/core on the CPU, tests/cuda on a GPU).
#pragma once
#include <torch/torch.h>

#include <ostream>

#include "core/models/group_norm_nhwc.h"

namespace scorch::test {

struct GroupNormShape {
  int64_t n, c, h, w, groups;
};
inline void PrintTo(const GroupNormShape& s, std::ostream* os) {
  *os << s.n << "x" << s.c << "x" << s.h << "x" << s.w << "/" << s.groups;
}

struct GroupNormRun {
  torch::Tensor y, dx, dweight, dbias;
};

// y = GroupNorm(x) (SiLU(GroupNorm(x)) with `silu`) and the gradients of Σ y·probe: x in channels_last through
// models::group_norm_nhwc, with its SiLU fused, for `nhwc`; in NCHW through torch::group_norm (and torch::silu)
// otherwise.
inline GroupNormRun run_group_norm(const torch::Tensor& x0, const torch::Tensor& weight0, const torch::Tensor& bias0,
                                   const torch::Tensor& probe, int64_t groups, bool nhwc, bool silu = false) {
  auto x = (nhwc ? x0.contiguous(at::MemoryFormat::ChannelsLast) : x0.contiguous()).detach().requires_grad_(true);
  auto weight = weight0.detach().clone().requires_grad_(true), bias = bias0.detach().clone().requires_grad_(true);
  auto y = nhwc ? models::group_norm_nhwc(x, groups, weight, bias, 1e-6, silu)
                : torch::group_norm(x, groups, weight, bias, 1e-6);
  if (silu && !nhwc) y = torch::silu(y);
  (y * probe.to(y.scalar_type())).sum().backward();
  return {y.detach(), x.grad(), weight.grad(), bias.grad()};
}

}  // namespace scorch::test
