// Sliced score matching against closed forms. Data x0 ~ N(mu, s^2 I) (D = 4 dimensions), VE SDE.
//  - The double-backward trace term of a linear score s(x) = A x + b is v^T A v, exactly.
//  - For any model, DSM and SSM differ by a constant: with the std^2 weighting both use,
//    E[DSM] - E[SSM] = D/2 for the half-sum reduction (1 for reduce_mean), so they share their minimiser.
//    Checked on a model with a closed-form Jacobian (x -> a x + b per dimension), paired on the same t and z.
//  - Trained with SSM from a wrong start, a model of the exact score's family reaches the exact score.
// Tolerances: 5 Monte-Carlo standard errors of the paired mean (fixed seeds).
#include "trainer/ssm_loss.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/config.h"
#include "core/error.h"
#include "core/models/score_model.h"
#include "core/sdes/sde.h"
#include "core/sdes/ve_sde.h"
#include "support/run.h"

namespace scorch::trainer {
namespace {

const double kMu = 0.3, kS = 0.5;
const int64_t kD = 4;

TEST(SsmLoss, TheTraceTermOfALinearScoreIsVTransposeAV) {
  torch::manual_seed(1);
  const auto a = torch::randn({kD, kD}, torch::kFloat64), b = torch::randn({kD}, torch::kFloat64);
  const sdes::ScoreFn linear = [&](const torch::Tensor& x, const torch::Tensor&) {
    return (x.flatten(1).matmul(a.t()) + b).view(x.sizes());
  };
  const auto x = torch::randn({5, kD, 1, 1}, torch::kFloat64).requires_grad_(true);
  const auto v = torch::randn({5, kD, 1, 1}, torch::kFloat64);
  const auto [trace, square] = sliced_terms(linear, x, torch::zeros({5}, torch::kFloat64), v, false);
  const auto vf = v.flatten(1);
  EXPECT_TRUE(torch::allclose(trace, (vf.matmul(a) * vf).sum(1), 1e-12, 1e-12));
  const auto s = linear(x, {}).flatten(1);
  EXPECT_TRUE(torch::allclose(square, 0.5 * (s * vf).sum(1).square(), 1e-12, 1e-12));
  const auto [trace_vr, square_vr] = sliced_terms(linear, x, torch::zeros({5}, torch::kFloat64), v, true);
  EXPECT_TRUE(torch::allclose(square_vr, 0.5 * s.square().sum(1), 1e-12, 1e-12));
}

// x -> a x + b per dimension, as a VE continuous "network" (VE networks output the score).
sdes::ModelFn affine(const torch::Tensor& a, const torch::Tensor& b) {
  return [a, b](const torch::Tensor& x, const torch::Tensor&) {
    return x * a.view({1, -1, 1, 1}) + b.view({1, -1, 1, 1});
  };
}

torch::Tensor gaussian_batch(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  return kMu + kS * torch::randn({n, kD, 1, 1}, torch::kFloat64);
}

// For every reduction, form and projection: `denoising(reduce_mean)` minus `sliced(vr, projection,
// reduce_mean)`, both drawing from the same stream (their first draws alike, so the difference is paired example
// by example), has mean D/2 (1 with reduce_mean) on an affine model, within 5 standard errors.
template <typename Denoising, typename Sliced>
void expect_half_the_dimension_apart(Denoising denoising, Sliced sliced) {
  const auto batch = gaussian_batch(50000, 2);
  const auto a = torch::tensor({-0.7, 0.4, -2.0, 0.0}, torch::kFloat64),
             b = torch::tensor({0.1, -0.3, 0.0, 1.0}, torch::kFloat64);
  for (const bool reduce_mean : {false, true}) {
    for (const bool vr : {false, true}) {
      for (const auto projection : {SsmProjection::Rademacher, SsmProjection::Gaussian}) {
        const auto dsm = denoising(reduce_mean);
        const auto ssm = sliced(vr, projection, reduce_mean);
        auto g1 = torch::make_generator<at::CPUGeneratorImpl>(3), g2 = torch::make_generator<at::CPUGeneratorImpl>(3);
        const torch::Tensor diff =
            dsm->per_example(affine(a, b), batch, g1) - ssm->per_example(affine(a, b), batch, g2).detach();
        const double se = diff.std().item<double>() / std::sqrt(double(diff.numel()));
        const double want = reduce_mean ? 1.0 : kD / 2.0;
        EXPECT_NEAR(diff.mean().item<double>(), want, 5 * se)
            << "reduce_mean " << reduce_mean << " vr " << vr << " rademacher "
            << (projection == SsmProjection::Rademacher);
      }
    }
  }
}

TEST(SsmLoss, DsmMinusSsmIsHalfTheDimensionForAnyModel) {
  auto sde = std::make_shared<sdes::VESDE>(0.01, 5.0, 1000);
  expect_half_the_dimension_apart(
      [&](bool reduce_mean) { return std::make_unique<DsmLoss>(sde, reduce_mean, false, 1e-5); },
      [&](bool vr, SsmProjection projection, bool reduce_mean) {
        return std::make_unique<SsmLoss>(sde, vr, projection, reduce_mean, false, 1e-5);
      });
}

// The annealed form against SMLD on the discrete VE levels: the same constant, paired on the same labels and z.
TEST(SsmLoss, AnnealedSmldMinusSsmIsHalfTheDimensionForAnyModel) {
  auto sde = std::make_shared<sdes::VESDE>(0.01, 5.0, 10);
  expect_half_the_dimension_apart([&](bool reduce_mean) { return std::make_unique<SmldLoss>(sde, reduce_mean, 2.0); },
                                  [&](bool vr, SsmProjection projection, bool reduce_mean) {
                                    return std::make_unique<AnnealedSsmLoss>(sde, vr, projection, reduce_mean, 2.0);
                                  });
}

// The annealed form trains a label-conditioned model of the exact score's family to the exact score: the
// network sees only the level index, as NCSN's does.
TEST(SsmLoss, AnnealedTrainingReachesTheExactScore) {
  auto sde = std::make_shared<sdes::VESDE>(0.01, 5.0, 10);
  const auto sigmas = sde->discrete_sigmas().flip(0).to(torch::kFloat64);  // label 0 is sigma_max
  auto m = torch::full({1}, -1.0, torch::kFloat64).requires_grad_(true);
  auto log_c = torch::full({1}, std::log(2.0), torch::kFloat64).requires_grad_(true);
  const sdes::ModelFn model = [&](const torch::Tensor& x, const torch::Tensor& labels) {
    return -(x - m) / (log_c.exp() + sigmas.index({labels}).square()).view({-1, 1, 1, 1});
  };
  const auto error = [&] {
    torch::NoGradGuard off;
    auto gen = torch::make_generator<at::CPUGeneratorImpl>(9);
    const auto x0 = gaussian_batch(4000, 10);
    const auto labels = torch::randint(0, 10, {4000}, gen, torch::kInt64);
    const auto sigma = sigmas.index({labels}).view({-1, 1, 1, 1});
    const auto x = x0 + sigma * torch::randn(x0.sizes(), gen, torch::kFloat64);
    const auto exact = -(x - kMu) / (kS * kS + sigma.square());
    return ((model(x, labels) - exact).square().sum() / exact.square().sum()).item<double>();
  };
  const double before = error();
  torch::optim::Adam adam({m, log_c}, torch::optim::AdamOptions(0.05));
  AnnealedSsmLoss ssm(sde, true, SsmProjection::Gaussian, false, 2.0);
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(4);
  for (int step = 0; step < 300; ++step) {
    adam.zero_grad();
    ssm(model, gaussian_batch(256, 100 + step), gen).backward();
    adam.step();
  }
  const double after = error();
  EXPECT_LT(after, 0.5 * before) << "before " << before << " after " << after;
  EXPECT_NEAR(m.item<double>(), kMu, 0.1);
  EXPECT_NEAR(log_c.exp().item<double>(), kS * kS, 0.1);
}

// NCSN's own network under its own objective: every layer of CondRefineNetDilated (conditional
// InstanceNorm++, ELU, dilated convolutions, mean pooling, bilinear upsampling) takes the double backward,
// and every trainable parameter gets a finite gradient.
TEST(SsmLoss, NcsnTrainsWithTheAnnealedForm) {
  const auto config = Config::resolve(test::source_dir() + "/configs/ncsn/mnist.yaml",
                                      {"model.nf=4", "training.loss=ssm_vr", "training.ssm_projections=gaussian"});
  torch::manual_seed(0);
  auto net = models::make_model(config);
  const sdes::ModelFn model = [&](const torch::Tensor& x, const torch::Tensor& labels) {
    return net->forward(x, labels);
  };
  auto loss = make_loss(config, sdes::make_sde(config));
  ASSERT_NE(dynamic_cast<AnnealedSsmLoss*>(loss.get()), nullptr);
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(5);
  (*loss)(model, torch::rand({4, 1, 28, 28}), gen).backward();
  int64_t with_grad = 0;
  for (const auto& p : net->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
    with_grad += p.value().grad().abs().sum().item<double>() > 0;
  }
  EXPECT_GT(with_grad, 100);
}

TEST(SsmLoss, TrainingReachesTheExactScore) {
  // The model family -(x - m) / (c + sigma^2) holds the exact score of N(mu, s^2 I) perturbed by VE noise
  // (m = mu, c = s^2). From m = -1, c = 2, Adam on SSM_VR must more than halve the score error.
  auto sde = std::make_shared<sdes::VESDE>(0.01, 5.0, 1000);
  auto m = torch::full({1}, -1.0, torch::kFloat64).requires_grad_(true);
  auto log_c = torch::full({1}, std::log(2.0), torch::kFloat64).requires_grad_(true);
  const sdes::ModelFn model = [&](const torch::Tensor& x, const torch::Tensor& sigma) {
    return -(x - m) / (log_c.exp() + sigma.square()).view({-1, 1, 1, 1});
  };
  // Relative score error E|s - s*|^2 / E|s*|^2 on fixed draws of x_t over t ~ U(eps, 1).
  const auto error = [&] {
    torch::NoGradGuard off;
    auto gen = torch::make_generator<at::CPUGeneratorImpl>(9);
    const auto x0 = gaussian_batch(4000, 10);
    const auto t = torch::rand({4000}, gen, torch::kFloat64) * (1 - 1e-5) + 1e-5;
    const auto [mean, std] = sde->marginal_prob(x0, t);
    const auto x = mean + std.view({-1, 1, 1, 1}) * torch::randn(x0.sizes(), gen, torch::kFloat64);
    const auto exact = -(x - kMu) / (kS * kS + std.square()).view({-1, 1, 1, 1});
    return ((model(x, std) - exact).square().sum() / exact.square().sum()).item<double>();
  };
  const double before = error();
  torch::optim::Adam adam({m, log_c}, torch::optim::AdamOptions(0.05));
  SsmLoss ssm(sde, true, SsmProjection::Rademacher, false, false, 1e-5);
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(4);
  for (int step = 0; step < 300; ++step) {
    adam.zero_grad();
    ssm(model, gaussian_batch(256, 100 + step), gen).backward();
    adam.step();
  }
  const double after = error();
  EXPECT_LT(after, 0.5 * before) << "before " << before << " after " << after;
  EXPECT_NEAR(m.item<double>(), kMu, 0.1);
  EXPECT_NEAR(log_c.exp().item<double>(), kS * kS, 0.1);
}

TEST(SsmLoss, TheConfigChoosesItAndRefusesWhatHasNoDoubleBackward) {
  auto sde = std::make_shared<sdes::VESDE>(0.01, 5.0, 1000);
  EXPECT_NE(dynamic_cast<SsmLoss*>(make_loss(Config::resolve("", {"training.loss=ssm_vr"}), sde).get()), nullptr);
  EXPECT_NE(dynamic_cast<DsmLoss*>(make_loss(Config::resolve("", {}), sde).get()), nullptr);
  EXPECT_NE(dynamic_cast<AnnealedSsmLoss*>(
                make_loss(Config::resolve("", {"training.loss=ssm_vr", "training.continuous=false"}), sde).get()),
            nullptr);
  // model.fused_group_norm's default (auto) turns itself off under SSM rather than fail in the double backward.
  EXPECT_EQ(models::ModelConfig::from(Config::resolve("", {"training.loss=ssm"})).fused_group_norm, Switch::Off);
  EXPECT_EQ(models::ModelConfig::from(Config::resolve("", {})).fused_group_norm, Switch::Auto);
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"training.sde=vpsde", "training.loss=ssm", "training.continuous=false"},
           {"training.loss=ssm", "training.continuous=false", "training.likelihood_weighting=true"},
           {"training.loss=ssm", "model.grad_checkpointing=true"},
           {"training.loss=ssm_vr", "model.fused_group_norm=true"},
           {"training.loss=ssm_vr", "training.ssm_projections=sphere"},
           {"training.loss=nce"}}) {
    try {
      const auto config = Config::resolve("", bad);
      make_loss(config, sdes::make_sde(config));
      ADD_FAILURE() << bad.back() << " accepted";
    } catch (const Error& e) {
      const std::string key = bad.back().substr(0, bad.back().find('='));
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace scorch::trainer
