// make_model_fn: bf16 sampling leaves nothing behind that a later training forward could pick up.
#include "sampler/model_fn.h"

#include <gtest/gtest.h>

#include "core/autocast.h"
#include "core/config.h"
#include "support/run.h"

namespace scorch::sampler {
namespace {

// What the trainer's snapshot does: swap other weights in (the EMA's), sample with them in bf16, copy the
// training weights back into the same tensors. Autocast caches weight casts by tensor, so a cast made while
// sampling would stand in for the training weights in the next bf16 training forward.
TEST(ModelFn, Bf16SamplingBetweenTrainingStepsChangesNothing) {
  torch::manual_seed(3);
  auto model = models::make_model(Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml", {}));
  const auto x = torch::rand({2, 3, 16, 16});  // (B, C, H, W)
  const auto sigma = torch::tensor({0.5f, 3.0f});
  auto train_forward = [&] {
    model->train();
    AutocastGuard autocast(torch::kCPU, true, at::kBFloat16);
    return model->forward(x, sigma).detach();
  };
  const auto before = train_forward();

  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> saved;
  for (auto& p : model->parameters()) {
    saved.push_back(p.detach().clone());
    p.mul_(0.5);
  }
  model->eval();
  SamplingOptions o;
  o.precision = "bf16";
  make_model_fn(*model, o, torch::kCPU)(x, sigma);
  auto params = model->parameters();
  for (size_t i = 0; i < params.size(); ++i) params[i].copy_(saved[i]);

  EXPECT_TRUE(torch::equal(train_forward(), before));
}

}  // namespace
}  // namespace scorch::sampler
