// fused_skip_join (model.fused_skip_join) against the unfused join of LibTorch's ops: float64 to rounding, the
// 16-bit types within one rounding of float64, both layouts, the gradients and a double backward, and the pairs
// it leaves to LibTorch.
#include "core/models/fused_skip_join.h"

#include <fmt/format.h>

#include <cmath>
#include <string>

#include "core/models/layers.h"
#include "support/checks.h"

namespace scorch::models {
namespace {

using test::max_rel;

// The join as the blocks compute it without the switch: the biases added to h (in the convolution), then the skip.
torch::Tensor unfused(const torch::Tensor& skip, const torch::Tensor& h, const torch::Tensor& bias, bool rescale) {
  return skip_join(skip, h + bias.to(h.scalar_type()).view({1, -1, 1, 1}), rescale);
}

bool took_fused_path(const torch::Tensor& y) {
  return y.grad_fn() != nullptr && test::contains(y.grad_fn()->name(), "FusedSkipJoin");
}

struct Inputs {
  torch::Tensor skip, h, bias, probe;
};

Inputs inputs(std::vector<int64_t> shape, torch::ScalarType dtype, at::MemoryFormat format) {
  const auto make = [&] { return torch::randn(shape).to(dtype).contiguous(format).requires_grad_(true); };
  Inputs in{make(), make(), torch::randn({shape[1]}).requires_grad_(true), torch::randn(shape).to(dtype)};
  if (dtype == torch::kFloat64) in.bias = in.bias.detach().to(dtype).requires_grad_(true);
  return in;
}

// Output and the gradients of skip, h and bias for a probe.
std::vector<torch::Tensor> run(const Inputs& in, bool rescale, bool fused, bool* fused_path = nullptr) {
  for (const auto& t : {in.skip, in.h, in.bias})
    if (t.grad().defined()) t.mutable_grad().zero_();
  const auto y = fused ? fused_skip_join(in.skip, in.h, in.bias, rescale) : unfused(in.skip, in.h, in.bias, rescale);
  if (fused_path != nullptr) *fused_path = took_fused_path(y);
  (y.to(torch::kFloat64) * in.probe.to(torch::kFloat64)).sum().backward();
  return {y.detach(), in.skip.grad().clone(), in.h.grad().clone(), in.bias.grad().clone()};
}

// Odd sizes, and shapes contiguous in both layouts (one channel; one pixel).
const std::vector<std::vector<int64_t>> kShapes = {
    {2, 5, 3, 3}, {3, 8, 4, 4}, {1, 6, 1, 7}, {2, 1, 3, 3}, {3, 4, 1, 1}};
const at::MemoryFormat kFormats[] = {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast};

// Same sums in float64, the division by √2 as a multiplication by its reciprocal: within a few units in the last
// place. A wrong channel for the bias, a missing term or scale is off by a tenth or more.
TEST(FusedSkipJoin, EqualsTheUnfusedJoinInFloat64) {
  torch::manual_seed(1);
  for (const auto& shape : kShapes)
    for (const auto format : kFormats)
      for (bool rescale : {false, true}) {
        SCOPED_TRACE(fmt::format("{}, {}, rescale {}", c10::str(shape), c10::str(format), rescale));
        const auto in = inputs(shape, torch::kFloat64, format);
        bool fused_path = false;
        const auto ours = run(in, rescale, true, &fused_path);
        const auto theirs = run(in, rescale, false);
        EXPECT_TRUE(fused_path);
        EXPECT_TRUE(ours[0].is_contiguous(format));
        for (size_t i = 0; i < ours.size(); ++i) EXPECT_LE(max_rel(ours[i], theirs[i]), 1e-15) << "output/grad " << i;
      }
}

// float32 accumulates in float32 (a few ulps of float64); bfloat16 and float16 accumulate in float32 and round once:
// within 2^-8 of float64 on the same rounded inputs, where the unfused ops round after each of their steps.
TEST(FusedSkipJoin, SixteenAndThirtyTwoBitsRoundOnceFromTheFloat64Join) {
  torch::manual_seed(2);
  for (const auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kHalf})
    for (const auto format : kFormats)
      for (bool rescale : {false, true}) {
        SCOPED_TRACE(fmt::format("{}, {}, rescale {}", c10::toString(dtype), c10::str(format), rescale));
        const auto in = inputs({4, 12, 5, 5}, dtype, format);
        const auto exact = unfused(in.skip.detach().to(torch::kFloat64), in.h.detach().to(torch::kFloat64),
                                   in.bias.detach().to(torch::kFloat64), rescale);
        bool fused_path = false;
        const auto ours = run(in, rescale, true, &fused_path);
        EXPECT_TRUE(fused_path);
        EXPECT_EQ(ours[0].scalar_type(), dtype);
        EXPECT_EQ(ours[3].scalar_type(), torch::kFloat32) << "the bias gradient in the bias's dtype";
        EXPECT_LE(max_rel(ours[0], exact), dtype == torch::kFloat32 ? 1e-6 : std::ldexp(1.0, -8));
        // skip's and h's gradient are the unfused join's; the bias's is their sum in float32 (LibTorch's broadcast
        // backward sums in the 16-bit type), so it is compared with the float64 sum of the gradient sent back.
        const auto theirs = run(in, rescale, false);
        EXPECT_LE(max_rel(ours[1], theirs[1]), 0.0);
        EXPECT_LE(max_rel(ours[2], theirs[2]), 0.0);
        EXPECT_LE(max_rel(ours[3], ours[2].to(torch::kFloat64).sum({0, 2, 3})), 1e-5);
      }
}

// Sliced score matching differentiates the network's gradient once more: the fused join's backward is made of
// LibTorch ops, so the second derivative equals the unfused join's.
TEST(FusedSkipJoin, DifferentiatesTwice) {
  std::vector<torch::Tensor> second;
  for (bool fused : {false, true}) {
    torch::manual_seed(3);
    const auto in = inputs({2, 4, 3, 3}, torch::kFloat64, at::MemoryFormat::Contiguous);
    const auto y = fused ? fused_skip_join(in.skip, in.h, in.bias, true) : unfused(in.skip, in.h, in.bias, true);
    const auto g = torch::autograd::grad({(y * y * in.probe).sum()}, {in.h}, {}, true, true)[0];
    (g * g).sum().backward();
    second.push_back(torch::cat({in.skip.grad().flatten(), in.h.grad().flatten(), in.bias.grad().flatten()}));
  }
  EXPECT_LE(max_rel(second[1], second[0]), 1e-14);
}

// Pairs the kernel does not take (two dtypes, two layouts, a view with gaps) go through LibTorch's ops: the unfused
// result, promoted as LibTorch promotes.
TEST(FusedSkipJoin, OtherPairsTakeLibTorchsOps) {
  torch::manual_seed(4);
  const auto a = torch::randn({2, 8, 4, 4}), bias = torch::randn({8});
  const std::pair<const char*, std::pair<torch::Tensor, torch::Tensor>> pairs[] = {
      {"float32 and bfloat16", {a, torch::randn({2, 8, 4, 4}).to(torch::kBFloat16)}},
      {"NCHW and channels_last", {a, torch::randn({2, 8, 4, 4}).contiguous(at::MemoryFormat::ChannelsLast)}},
      {"a strided view", {a, torch::randn({2, 8, 4, 8}).slice(3, 0, 8, 2)}},
  };
  for (const auto& [what, pair] : pairs) {
    SCOPED_TRACE(what);
    const auto skip = pair.first.clone().requires_grad_(true);
    const auto y = fused_skip_join(skip, pair.second, bias, true);
    EXPECT_FALSE(took_fused_path(y));
    const auto expected = unfused(pair.first, pair.second, bias, true);
    EXPECT_EQ(y.scalar_type(), expected.scalar_type());
    EXPECT_LE(max_rel(y, expected), 0.0);
  }
}

TEST(FusedSkipJoin, RefusesABiasOfAnotherLength) {
  const auto x = torch::randn({2, 8, 4, 4});
  test::expect_error_containing([&] { fused_skip_join(x, x, torch::zeros({4}), true); },
                                "residual join (fused): h of shape [2, 8, 4, 4] and bias of shape [4]");
}

}  // namespace
}  // namespace scorch::models
