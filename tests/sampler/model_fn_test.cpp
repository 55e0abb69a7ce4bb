// make_model_fn: bf16 sampling leaves nothing behind that a later training forward could pick up;
// place_for_sampling: channels_last weights draw the NCHW network's samples.
#include "sampler/model_fn.h"

#include <gtest/gtest.h>

#include "core/autocast.h"
#include "core/config.h"
#include "sampler/diffusion_sampler.h"
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

// sampling.channels_last: the owner's network gets channels_last weights, its activations follow, the sampler still
// gets NCHW scores, and the samples are the NCHW network's to float32 round-off (oneDNN's NHWC and NCHW
// convolutions add in other orders; 100 PC levels carry that to ~2e-7 of the largest value here, 2e-6 leaves room,
// where a channel misread would be of the order of the values), with LibTorch's layers and with scorch's kernels
// (their CPU loops, forced on).
TEST(ModelFn, ChannelsLastWeightsDrawTheSameSamples) {
  for (const std::string kernels : {"false", "true"}) {
    SCOPED_TRACE("scorch's kernels: " + kernels);
    std::vector<std::string> sets;
    for (const char* key :
         {"model.fused_group_norm", "model.fused_fir", "model.fold_time_bias", "model.fused_skip_join"})
      sets.push_back(std::string(key) + "=" + kernels);
    const auto plain_config = Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml", sets);
    sets.push_back("sampling.channels_last=true");
    const auto cl_config = Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml", sets);
    // Random weights throughout (score_sde's initial last layer is zero, whose scores would hide any layout error).
    const auto make = [](const Config& c) {
      torch::manual_seed(5);
      auto m = models::make_model(c);
      torch::NoGradGuard no_grad;
      for (auto& p : m->parameters()) p.copy_(torch::randn_like(p) * 0.2);
      return m;
    };
    auto plain = make(plain_config), cl = make(cl_config);
    place_for_sampling(*plain, plain_config, torch::kCPU);
    place_for_sampling(*cl, cl_config, torch::kCPU);
    const auto weight = [](models::ScoreModelImpl& m) {
      for (const auto& p : m.parameters())
        if (p.dim() == 4 && p.size(2) > 1) return p;
      return torch::Tensor();
    };
    EXPECT_FALSE(weight(*plain).is_contiguous(torch::MemoryFormat::ChannelsLast));
    EXPECT_TRUE(weight(*cl).is_contiguous(torch::MemoryFormat::ChannelsLast));

    torch::NoGradGuard no_grad;
    cl->eval();
    const auto score = make_model_fn(*cl, SamplingOptions::from(cl_config), torch::kCPU)(
        torch::rand({2, 3, 16, 16}), torch::tensor({0.5f, 3.0f}));  // (B, C, H, W)
    EXPECT_TRUE(score.is_contiguous()) << "the samplers get NCHW scores";

    DiffusionSampler a(*plain, plain_config, torch::kCPU), b(*cl, cl_config, torch::kCPU);
    const auto x = a.sample(2, 7, 0, false), y = b.sample(2, 7, 0, false);  // (2, 3, 16, 16)
    const double diff = (x - y).abs().max().item<double>();
    std::printf("kernels %s: channels_last vs NCHW samples, max |diff| %.3g of values up to %.3g\n", kernels.c_str(),
                diff, x.abs().max().item<double>());
    EXPECT_LE(diff, 2e-6 * x.abs().max().item<double>());
    EXPECT_GT((x - x.mean()).abs().max().item<double>(), 0.1) << "samples, not a constant";
  }
}

}  // namespace
}  // namespace scorch::sampler
