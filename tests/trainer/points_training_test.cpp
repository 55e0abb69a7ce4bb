// Training on points: the MLP learns the exact score of Gaussian data with denoising and sliced score
// matching, through the same trainer as the image networks.
#include <gtest/gtest.h>

#include "core/rng.h"
#include "core/sdes/score_fn.h"
#include "core/sdes/sde.h"
#include "data/synth.h"
#include "support/checks.h"
#include "support/run.h"
#include "trainer/trainer.h"

namespace scorch {
namespace {

// N((1, -1), 0.5² I): one component, so its perturbed score is linear and easy to fit in a few hundred steps.
data::Mixture gaussian_points() { return data::mixture_from_lists(2, {1.0}, {1.0, -1.0}, {0.5}); }

Config points_config(const std::string& data, const std::vector<std::string>& extra) {
  std::vector<std::string> sets = {
      "data.path=" + data,      "model.nf=64",           "model.num_res_blocks=2", "model.sigma_max=10",
      "training.batch_size=64", "training.log_freq=100", "optim.warmup=20",        "data.reader_threads=1"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return Config::resolve(test::source_dir() + "/configs/small/mixture_mlp.yaml", sets);
}

// The mean over 8 times evenly in [eps, 1] (noise levels log-spaced from sigma_min to sigma_max) of
// E|s_theta - s*|^2 / E|s*|^2, 512 exact draws of p_t at each; s*(x) = -(x - mu) / (0.5^2 + sigma^2).
double relative_score_error(trainer::Trainer& t, const Config& config) {
  torch::NoGradGuard no_grad;
  auto sde = sdes::make_sde(config);
  auto& model = t.model();
  model.eval();
  auto score = sdes::make_score_fn(
      sde, [&](const torch::Tensor& x, const torch::Tensor& c) { return model.forward(x, c); }, true);
  auto gen = cpu_generator(7, 0);
  const auto mu = torch::tensor({1.0f, -1.0f}).view({1, 2, 1, 1});
  double sum = 0;
  for (int i = 0; i < 8; ++i) {
    auto tt = torch::full({512}, 1e-5 + (i / 7.0) * (1.0 - 1e-5));
    auto sigma = sde->marginal_prob(torch::zeros({512, 1, 1, 1}), tt).std.view({-1, 1, 1, 1});  // (B, 1, 1, 1)
    auto x = mu + 0.5 * torch::randn({512, 2, 1, 1}, gen) + sigma * torch::randn({512, 2, 1, 1}, gen);
    auto exact = -(x - mu) / (0.25 + sigma.square());  // (B, 2, 1, 1)
    sum += ((score(x, tt) - exact).square().sum() / exact.square().sum()).item<double>();
  }
  model.train();
  return sum / 8;
}

// The check for sliced score matching, and DSM beside it: 150 steps of 64 bring the relative score error
// below half its starting value (about 1: the model starts near zero); seeded, so deterministic.
TEST(PointsTraining, MlpLearnsTheExactScoreWithEveryObjective) {
  const auto root = test::temp_dir("points-training");
  dist::LocalCommunicator comm;
  data::synth_mixture(gaussian_points(), 4000, 3, "test", {root + "/data", 0, true}, comm);
  for (const std::string loss : {"dsm", "ssm_vr", "ssm"}) {
    SCOPED_TRACE(loss);
    const auto config = points_config(root + "/data", {"training.loss=" + loss, "training.n_iters=150"});
    trainer::Trainer t(config, root + "/" + loss, test::local(), torch::kCPU);
    const double before = relative_score_error(t, config);
    t.run();
    const double after = relative_score_error(t, config);
    std::printf("%s: relative score error %.3f -> %.3f after 150 steps\n", loss.c_str(), before, after);
    EXPECT_GT(before, 0.9);
    EXPECT_LT(after, 0.5 * before);
  }
}

// Points take none of the image transforms: a config that asks for one is refused, naming the key.
TEST(PointsTraining, RefusesImageTransformsAndImageShapes) {
  const auto root = test::temp_dir("points-refusals");
  dist::LocalCommunicator comm;
  data::synth_mixture(gaussian_points(), 64, 3, "test", {root + "/data", 0, true}, comm);
  test::expect_error_containing(
      [&] {
        trainer::Trainer t(points_config(root + "/data", {"data.centered=true"}), root + "/a", test::local(),
                           torch::kCPU);
      },
      "data.centered is true");
  test::expect_error_containing(
      [&] {
        trainer::Trainer t(points_config(root + "/data", {"data.num_channels=3"}), root + "/b", test::local(),
                           torch::kCPU);
      },
      "holds 2-dimensional points, the config wants 1x1x3 images");
}

}  // namespace
}  // namespace scorch
