// AutocastGuard: sets and restores the autocast state, and no weight cast made under it outlives it.
#include "core/autocast.h"

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace scorch {
namespace {

TEST(AutocastGuard, RestoresThePreviousState) {
  ASSERT_FALSE(at::autocast::is_autocast_enabled(torch::kCPU));
  const auto dtype = at::autocast::get_autocast_dtype(torch::kCPU);
  {
    AutocastGuard outer(torch::kCPU, true, at::kHalf);
    EXPECT_TRUE(at::autocast::is_autocast_enabled(torch::kCPU));
    EXPECT_EQ(at::autocast::get_autocast_dtype(torch::kCPU), at::kHalf);
    {
      AutocastGuard inner(torch::kCPU, false, at::kBFloat16);
      EXPECT_FALSE(at::autocast::is_autocast_enabled(torch::kCPU));
    }
    EXPECT_TRUE(at::autocast::is_autocast_enabled(torch::kCPU));
    EXPECT_EQ(at::autocast::get_autocast_dtype(torch::kCPU), at::kHalf);
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(torch::kCPU));
  EXPECT_EQ(at::autocast::get_autocast_dtype(torch::kCPU), dtype);
}

// Autocast caches the bf16 copy of a float32 leaf by identity, so within one scope an in-place change of
// the weight is not seen; across scopes it must be.
TEST(AutocastGuard, ACastWeightDoesNotOutliveTheOutermostGuard) {
  auto x = torch::randn({4, 8});
  auto w = torch::randn({8, 3}, torch::requires_grad());
  auto bf16_mm = [&] { return torch::mm(x.to(torch::kBFloat16), w.detach().to(torch::kBFloat16)); };
  {
    AutocastGuard outer(torch::kCPU, true, at::kBFloat16);
    {
      AutocastGuard inner(torch::kCPU, true, at::kBFloat16);
      torch::mm(x, w);
    }
    const auto before = bf16_mm();
    torch::NoGradGuard no_grad;
    w.mul_(2);
    EXPECT_TRUE(torch::equal(torch::mm(x, w), before)) << "the inner guard's exit dropped the outer scope's casts";
  }
  AutocastGuard again(torch::kCPU, true, at::kBFloat16);
  EXPECT_TRUE(torch::equal(torch::mm(x, w), bf16_mm()));
}

}  // namespace
}  // namespace scorch
