// Annealed Langevin dynamics: the same chain as ncsnv2's sampler on the same weights and noise, the exact
// stationary law of the discretised chain on Gaussian data, and sigma labels for continuous VE networks.
#include "sampler/ald_sampler.h"

#include <gtest/gtest.h>

#include "core/config.h"
#include "core/io/npz.h"
#include "core/models/model_weights.h"
#include "core/models/score_model.h"
#include "sampler/diffusion_sampler.h"
#include "support/run.h"

namespace scorch {
namespace {

std::map<std::string, torch::Tensor> ald_fixture(const std::string& name) {
  auto a = io::npz::read_npz(test::source_dir() + "/tests/fixtures/ncsn/" + name + ".npz");
  return {a.begin(), a.end()};
}

// Feeds the originals' draws in order.
struct FixedNoise {
  torch::Tensor draws;
  int64_t next = 0;
  torch::Tensor operator()(const torch::Tensor&) { return draws[next++]; }
};

TEST(AldSampler, ReproducesNcsnv2sChainOnTheSameWeightsAndNoise) {
  auto weights = ald_fixture("ncsnv2_small");
  auto f = ald_fixture("ald_ncsnv2_small");
  models::ModelConfig c;
  c.name = "ncsnv2";
  c.nf = 8;
  c.num_scales = 3;
  c.sigma_max = 5.0;
  c.sigma_min = 0.1;
  c.nonlinearity = "elu";
  auto model = models::make_model(c);
  models::load_reference_weights(*model, weights, "ncsnv2_small");
  model->eval();
  torch::NoGradGuard no_grad;
  sampler::SamplingOptions o;
  o.step_lr = 2e-4;
  o.n_steps_each = 2;
  o.noise_removal = true;
  sampler::AldSampler ald([&](const torch::Tensor& x, const torch::Tensor& y) { return model->forward(x, y); },
                          f.at("input/sigmas"), o);
  FixedNoise noise{f.at("input/z")};
  const auto out = ald.run(f.at("input/x0"), std::ref(noise));
  EXPECT_EQ(ald.nfe(), 7);
  EXPECT_EQ(noise.next, 6);
  const auto& want = f.at("output/final");
  // Same kernels and the same float32 step sizes; the network's own parity (<= 2e-6) is all that differs.
  const double err = ((out - want).abs().max() / want.abs().max()).item<double>();
  std::printf("ALD final state vs ncsnv2: max rel error %.3g\n", err);
  EXPECT_LE(err, 1e-5);
}

// Gaussian data N(mu, s^2): the score at level sigma is -(x - mu) / v, v = s^2 + sigma^2. The Langevin step
// x + a s(x) + sqrt(2a) z then has the stationary variance v / (1 - a / (2v)) exactly (a linear recursion),
// which the chain reaches after enough steps at the last level; the denoising step then scales the spread
// about mu by (1 - sigma_L^2 / v). 100,000 one-pixel chains: sample variances are within 0.5% (one std).
TEST(AldSampler, ReachesTheExactStationaryLawOfGaussianData) {
  const double mu = 0.3, s2 = 0.04;
  auto sigmas = torch::tensor({2.0, 0.5, 0.1}, torch::kFloat64);
  sdes::ModelFn score = [&](const torch::Tensor& x, const torch::Tensor& labels) {
    const auto sigma = sigmas.index({labels.to(torch::kLong)}).to(x.scalar_type()).view({-1, 1, 1, 1});
    return -(x - mu) / (s2 + sigma * sigma);
  };
  sampler::SamplingOptions o;
  o.step_lr = 0.005;  // a/v = 0.1 at the last level: 200 steps contract the start by 0.9^200
  o.n_steps_each = 200;
  auto gen = at::detail::createCPUGenerator(7);
  auto noise = [&](const torch::Tensor& like) { return torch::randn(like.sizes(), gen, like.options()); };
  const auto start = torch::rand({100000, 1, 1, 1}, gen, torch::kFloat64);
  const double v = s2 + 0.01, a = o.step_lr, stationary = v / (1 - a / (2 * v));
  for (bool denoise : {false, true}) {
    o.noise_removal = denoise;
    sampler::AldSampler ald(score, sigmas, o);
    const auto x = ald.run(start, noise);
    const double shrink = denoise ? 1 - 0.01 / v : 1.0;
    EXPECT_NEAR(x.mean().item<double>(), mu, 0.005) << "denoise " << denoise;
    EXPECT_NEAR(x.var().item<double>() / (stationary * shrink * shrink), 1.0, 0.025) << "denoise " << denoise;
    EXPECT_EQ(ald.nfe(), 3 * 200 + (denoise ? 1 : 0));
  }
}

// A VE network trained with training.continuous takes sigma as its label (score_sde's get_score_fn), not a level
// index: fed index 0 as sigma, NCSN++'s Fourier embedding takes log 0 and every sample is NaN.
TEST(AldSampler, ContinuousVeNetworksGetTheirSigmaAsTheLabel) {
  const auto config = Config::resolve(test::source_dir() + "/configs/small/ve_tiny.yaml",
                                      {"model.num_scales=10", "model.nf=8", "sampling.method=ald"});
  ASSERT_TRUE(config.get_bool("training.continuous"));
  torch::manual_seed(0);
  auto model = models::make_model(config);
  sampler::DiffusionSampler ald(*model, config, torch::Device(torch::kCPU));
  const auto x = ald.sample(2, 3, 0, /*clip=*/false);  // (2, 3, 16, 16)
  EXPECT_TRUE(torch::isfinite(x).all().item<bool>()) << "a level index was read as sigma";
  EXPECT_EQ(ald.last_nfe(), 10 + 1);
}

}  // namespace
}  // namespace scorch
