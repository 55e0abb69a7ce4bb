// The noise-conditional Wide-ResNet classifier: the reference's layout, names and size, and its invariances.
#include "core/models/wideresnet.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/checks.h"

namespace scorch::models {
namespace {

ModelConfig wrn_config(int64_t blocks, int64_t k, int64_t channels, int64_t classes) {
  ModelConfig c;
  c.name = "wideresnet_noise_conditional";
  c.blocks_per_group = blocks;
  c.channel_multiplier = k;
  c.num_channels = channels;
  c.num_classes = classes;
  c.input_mean.assign(channels, 0.5);
  c.input_std.assign(channels, 0.25);
  return c;
}

// score_sde's classifier, WRN-28-10 on CIFAR-10: 38,913,242 parameters, counted by hand from the Flax module
// shapes (the Fourier W 128; Dense 256->512 and 512->512; init_conv 16x3x3x3; per block two GroupNorms, two 3x3
// convs without bias and a 512->C Dense; pre-pool-bn; Dense_2 640->10).
TEST(WideResnet, Wrn28x10HasTheReferenceSizeAndNames) {
  WideResnetNoiseConditionalImpl wrn(wrn_config(4, 10, 3, 10));
  EXPECT_EQ(count_parameters(wrn), 38913242);
  const auto params = wrn.named_parameters();
  for (const char* name :
       {"GaussianFourierProjection_0.W", "Dense_0.weight", "Dense_1.bias", "init_conv.weight",
        "WideResnetGroup_0.WideResnetBlock_0.init_bn.weight", "WideResnetGroup_1.WideResnetBlock_3.Dense_0.bias",
        "WideResnetGroup_2.WideResnetBlock_0.conv1.weight", "pre-pool-bn.weight", "Dense_2.weight"})
    EXPECT_NE(params.find(name), nullptr) << name;
  EXPECT_EQ(params["Dense_2.weight"].sizes(), (std::vector<int64_t>{10, 640}));
  EXPECT_EQ(params["WideResnetGroup_1.WideResnetBlock_0.conv1.weight"].sizes(), (std::vector<int64_t>{320, 160, 3, 3}));
  EXPECT_EQ(params.find("init_conv.bias"), nullptr);  // the reference's convolutions have no bias
}

// Logits (B, K); a per-image affine change of the input (a x + b, a > 0) leaves them unchanged (the
// per-image standardisation), the noise level changes them, and they are differentiable in x (guidance).
TEST(WideResnet, LogitsIgnoreAPerImageAffineChangeAndDependOnSigma) {
  torch::manual_seed(5);
  WideResnetNoiseConditionalImpl wrn(wrn_config(1, 1, 1, 5));
  auto x = torch::rand({3, 1, 16, 16});
  const auto sigma = torch::tensor({0.01f, 1.0f, 10.0f});
  const auto logits = wrn.forward(x, sigma);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{3, 5}));
  EXPECT_LE(test::max_rel(wrn.forward(x * 3.0 + 0.7, sigma), logits), 1e-4);
  EXPECT_GT((wrn.forward(x, sigma * 5) - logits).abs().max().item<double>(), 1e-3);
  auto xg = x.clone().requires_grad_(true);
  wrn.forward(xg, sigma).select(1, 2).sum().backward();
  EXPECT_GT(xg.grad().abs().sum().item<double>(), 0.0);
}

TEST(WideResnet, RefusesInputStatisticsOfTheWrongLength) {
  auto c = wrn_config(1, 1, 3, 10);
  c.input_std = {0.25};
  test::expect_error_containing([&] { WideResnetNoiseConditionalImpl w(c); },
                                "need one value per channel (data.num_channels = 3), got 3 and 1");
}

}  // namespace
}  // namespace scorch::models
