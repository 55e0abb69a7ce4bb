// The MLP score model for points: layout and names, the near-zero start, σ scaling, refusals.
#include "core/models/mlp.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/checks.h"

namespace scorch::models {
namespace {

ModelConfig mlp_config(int64_t dim, bool scale_by_sigma = true, const std::string& embedding = "fourier") {
  ModelConfig c;
  c.name = "mlp";
  c.image_size = 1;
  c.num_channels = dim;
  c.nf = 8;
  c.num_res_blocks = 2;
  c.embedding_type = embedding;
  c.fourier_scale = 1.0;
  c.scale_by_sigma = scale_by_sigma;
  return c;
}

// Names and shapes in registration order; the count adds them up by hand: W 8, Linear(16, 8) 136,
// Linear(8, 8) 72, Linear(3, 8) 32, two hidden layers of two Linear(8, 8) 288, Linear(8, 3) 27.
TEST(Mlp, LayoutNamesAndCount) {
  MLPImpl mlp(mlp_config(3));
  std::vector<std::string> names;
  for (const auto& p : mlp.named_parameters()) names.push_back(p.key() + c10::str(p.value().sizes()));
  const std::vector<std::string> expected = {
      "all_modules.0.W[8]",    "all_modules.1.weight[8, 16]", "all_modules.1.bias[8]", "all_modules.2.weight[8, 8]",
      "all_modules.2.bias[8]", "all_modules.3.weight[8, 3]",  "all_modules.3.bias[8]", "all_modules.4.weight[8, 8]",
      "all_modules.4.bias[8]", "all_modules.5.weight[8, 8]",  "all_modules.5.bias[8]", "all_modules.6.weight[8, 8]",
      "all_modules.6.bias[8]", "all_modules.7.weight[8, 8]",  "all_modules.7.bias[8]", "all_modules.8.weight[3, 8]",
      "all_modules.8.bias[3]"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(count_parameters(mlp), 563);
  EXPECT_FALSE(mlp.named_parameters()["all_modules.0.W"].requires_grad());
}

// model.init_scale 0 makes the last layer's variance scale 1e-10 (weights ~1e-5): training starts from a
// near-zero score. The output
// is points in, points out, and σ-scaled: the same weights without scale_by_sigma give σ times the output.
TEST(Mlp, StartsNearZeroAndDividesBySigma) {
  torch::manual_seed(4);
  MLPImpl scaled(mlp_config(2, true)), plain(mlp_config(2, false));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : plain.named_parameters()) p.value().copy_(scaled.named_parameters()[p.key()]);
  }
  auto x = torch::randn({5, 2, 1, 1}) * 3;  // (B, D, 1, 1)
  auto sigma = torch::tensor({0.01, 0.1, 1.0, 10.0, 50.0}, torch::kFloat32);
  auto y = scaled.forward(x, sigma);
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_LT((y * sigma.view({-1, 1, 1, 1})).abs().max().item<double>(), 1e-3);
  {
    torch::NoGradGuard no_grad;
    scaled.named_parameters()["all_modules.8.weight"].normal_();
    plain.named_parameters()["all_modules.8.weight"].copy_(scaled.named_parameters()["all_modules.8.weight"]);
  }
  EXPECT_LE(test::max_rel(scaled.forward(x, sigma) * sigma.view({-1, 1, 1, 1}), plain.forward(x, sigma)), 1e-6);
}

// The positional embedding takes a timestep label (VP: 999 t), as NCSN++'s does.
TEST(Mlp, PositionalEmbeddingTakesTimestepLabels) {
  MLPImpl mlp(mlp_config(4, false, "positional"));
  auto y = mlp.forward(torch::randn({3, 4, 1, 1}), torch::tensor({0.0f, 500.0f, 999.0f}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{3, 4, 1, 1}));
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
}

TEST(Mlp, RefusesImagesAndSigmaScalingWithoutSigma) {
  auto images = mlp_config(2);
  images.image_size = 8;
  test::expect_error_containing([&] { MLPImpl m(images); }, "data.image_size must be 1, got 8");
  test::expect_error_containing([&] { MLPImpl m(mlp_config(2, true, "positional")); }, "needs σ as the time input");
  MLPImpl mlp(mlp_config(2));
  test::expect_error_containing(
      [&] {
        mlp.forward(torch::zeros({2, 3, 1, 1}), torch::ones({2}));
      },
      "expected points (B, 2, 1, 1), got 2x3x1x1");
}

}  // namespace
}  // namespace scorch::models
