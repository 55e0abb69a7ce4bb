// Samplers driven by the exact score of a 2-D Gaussian mixture (sampler/exact_mixture): Song & Ermon's
// pitfall 0.2 N((-5,-5), I) + 0.8 N((5,5), I). The reverse SDE, PC and the ODE must recover the weights; plain
// Langevin dynamics at one noise level must not (its chains never cross between the modes, so each mode gets
// the share of the starting points in its basin, about 0.51); annealed Langevin must.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "core/sdes/subvp_sde.h"
#include "core/sdes/ve_sde.h"
#include "core/sdes/vp_sde.h"
#include "sampler/ald_sampler.h"
#include "sampler/exact_mixture.h"
#include "sampler/ode_sampler.h"
#include "sampler/pc_sampler.h"

namespace scorch::sampler {
namespace {

constexpr int64_t kPoints = 4000;
// The weight of the (5,5) component from n independent samples has standard error sqrt(0.8 * 0.2 / n).
const double kWeightSe = std::sqrt(0.16 / kPoints);

struct Recovered {
  double weight;            // share of points with x1 + x2 > 0: the (5,5) component's basin
  double mean_hi, mean_lo;  // mean coordinate of the points on each side
};

Recovered recovered(const torch::Tensor& x) {
  const auto p = x.to(torch::kFloat64).reshape({-1, 2});
  const auto hi = (p.sum(1) > 0);
  return {hi.to(torch::kFloat64).mean().item<double>(), p.index({hi}).mean().item<double>(),
          p.index({hi.logical_not()}).mean().item<double>()};
}

// The mixture's weight within 4 standard errors plus 0.01 for the 500-level discretisation, and each
// component's mean within 5 standard errors (1 / sqrt(points of the component) per coordinate) plus 0.05.
void expect_mixture(const Recovered& r, const std::string& what) {
  EXPECT_NEAR(r.weight, 0.8, 4 * kWeightSe + 0.01) << what;
  EXPECT_NEAR(r.mean_hi, 5.0, 5 / std::sqrt(0.8 * kPoints) + 0.05) << what;
  EXPECT_NEAR(r.mean_lo, -5.0, 5 / std::sqrt(0.2 * kPoints) + 0.05) << what;
}

torch::Tensor uniform_start(uint64_t seed) {
  auto gen = cpu_generator(seed, 0);
  return torch::rand({kPoints, 2, 1, 1}, gen, torch::kFloat64) * 16 - 8;
}

AldSampler::Noise noise_from(torch::Generator& gen) {
  return [&gen](const torch::Tensor& like) { return torch::randn(like.sizes(), gen, like.options()); };
}

TEST(MixtureSampling, TheScoreIsThatOfTheScaledAndWidenedMixture) {
  // Independent truth: data::Mixture::log_density's gradient, for the mixture with means alpha mu_k and stds
  // sqrt(alpha^2 s_k^2 + sigma^2).
  const auto m = data::pitfall_mixture();
  const double alpha = 0.7, sigma = 0.5;
  data::Mixture widened = m;
  for (size_t k = 0; k < m.weights.size(); ++k) {
    for (auto& v : widened.means[k]) v *= alpha;
    widened.stds[k] = std::sqrt(alpha * alpha * m.stds[k] * m.stds[k] + sigma * sigma);
  }
  const auto x = torch::tensor({0.3, -0.2, -4.0, -3.5, 6.0, 2.0, 0.0, 0.1}, torch::kFloat64).view({4, 2});
  const auto got =
      perturbed_mixture_score(m, x, torch::full({4}, alpha, torch::kFloat64), torch::full({4}, sigma, torch::kFloat64));
  for (int64_t i = 0; i < 4; ++i) {
    std::vector<double> score;
    widened.log_density({x[i][0].item<double>(), x[i][1].item<double>()}, &score);
    EXPECT_NEAR(got[i][0].item<double>(), score[0], 1e-9) << i;
    EXPECT_NEAR(got[i][1].item<double>(), score[1], 1e-9) << i;
  }
}

TEST(MixtureSampling, ReverseSdePcAndOdeRecoverTheWeights) {
  const auto m = data::pitfall_mixture();
  // VE's prior N(0, sigma_max^2 I) ignores the data's mean (3, 3); with sigma_max = 300 that mismatch is too
  // small to move the weights (at sigma_max = 20 the ODE gives 0.75: the flow keeps the prior's error).
  const std::vector<std::pair<std::shared_ptr<sdes::Sde>, double>> sdes = {
      {std::make_shared<sdes::VESDE>(0.01, 300.0, 500), 1e-5},
      {std::make_shared<sdes::VPSDE>(0.1, 20.0, 500), 1e-3},
      {std::make_shared<sdes::SubVPSDE>(0.1, 20.0, 500), 1e-3}};
  for (const auto& [sde, eps] : sdes) {
    const auto score = exact_mixture_score(m, sde);
    // Every predictor, and the corrector with the predictor the paper pairs it with (the Gaussian sampling
    // tests cover every pair; here the point is the weights, which only the score's shape decides).
    for (const auto& [predictor, corrector] : std::vector<std::pair<std::string, std::string>>{
             {"reverse_diffusion", "langevin"}, {"euler_maruyama", "none"}, {"ancestral_sampling", "none"}}) {
      if (predictor == "ancestral_sampling" && sde->kind() == sdes::SdeKind::SubVP) continue;  // refused
      SamplingOptions o;
      o.predictor = predictor;
      o.corrector = corrector;
      o.eps = eps;
      PcSampler pc(sde, score, o);
      auto gen = cpu_generator(11, 0);
      const auto x = pc.run(sde->prior_sampling({kPoints, 2, 1, 1}, gen), gen);
      expect_mixture(recovered(x), fmt::format("{} {} + {}", sdes::sde_name(sde->kind()), predictor, corrector));
    }
    SamplingOptions o;
    o.eps = eps;
    OdeSampler ode(sde, score, o);
    auto gen = cpu_generator(12, 0);
    expect_mixture(recovered(ode.sample(sde->prior_sampling({kPoints, 2, 1, 1}, gen))),
                   fmt::format("{} ODE rk45", sdes::sde_name(sde->kind())));
  }
}

TEST(MixtureSampling, PlainLangevinGetsTheWeightsWrongAndAnnealedLangevinDoesNot) {
  const auto m = data::pitfall_mixture();
  // The paper's setup (Song & Ermon 2019, §3.2): 1000 steps of x += 0.05 s(x) + sqrt(0.1) z from U([-8, 8]^2).
  // One level at sigma = 1e-3 is the data's own score to 6 digits.
  SamplingOptions o;
  o.step_lr = 0.05;
  o.n_steps_each = 1000;
  o.noise_removal = false;
  const auto one_level = torch::tensor({1e-3}, torch::kFloat64);
  AldSampler plain(exact_mixture_levels(m, one_level), one_level, o);
  auto gen = cpu_generator(13, 0);
  const auto langevin = recovered(plain.run(uniform_start(13), noise_from(gen)));
  // The boundary of the basins, x1 + x2 = -ln(4) / 10, splits U([-8, 8]^2) at 0.509: far from 0.8.
  EXPECT_NEAR(langevin.weight, 0.509, 4 * std::sqrt(0.25 / kPoints) + 0.02);
  EXPECT_LT(langevin.weight, 0.65);

  // Annealed: 10 levels from 20 to 1, 100 steps each, step 0.05 sigma_i^2. Measured bias of this finite ladder
  // against the exact 0.8: about 0.015 (0.785 at 20,000 points), hence 0.03.
  const auto ladder = torch::exp(torch::linspace(std::log(20.0), 0.0, 10, torch::kFloat64));
  o.n_steps_each = 100;
  AldSampler annealed(exact_mixture_levels(m, ladder), ladder, o);
  const auto ald = recovered(annealed.run(uniform_start(14), noise_from(gen)));
  EXPECT_NEAR(ald.weight, 0.8, 0.03);
  EXPECT_GT(ald.weight - langevin.weight, 0.2);
}

// Guidance by the exact time-dependent classifier of a two-component mixture: at scale 1 its gradient turns
// the mixture's score into the requested component's, so every example lands in its class, with the
// component's mean and spread (5 standard errors), through PC and through the probability-flow ODE.
TEST(MixtureSampling, ExactClassifierGuidanceSamplesTheRequestedComponent) {
  const auto m = data::mixture_from_lists(2, {0.7, 0.3}, {-3, 0, 3, 0}, {1, 1});
  auto sde = std::make_shared<sdes::VPSDE>(0.1, 20.0, 500);
  const auto labels = torch::arange(kPoints) % 2;  // even examples ask for component 0, odd ones for 1
  const auto guided = classifier_guided(exact_mixture_score(m, sde), exact_mixture_logits(m, sde), labels, 1.0);
  SamplingOptions o;
  o.predictor = "reverse_diffusion";
  o.corrector = "langevin";
  o.eps = 1e-3;
  PcSampler pc(sde, guided, o);
  OdeSampler ode(sde, guided, o);
  auto gen = cpu_generator(15, 0);
  const auto pc_x = pc.run(sde->prior_sampling({kPoints, 2, 1, 1}, gen), gen);
  const auto ode_x = ode.sample(sde->prior_sampling({kPoints, 2, 1, 1}, gen));
  for (const auto& [name, x] : {std::pair{"PC", pc_x}, std::pair{"ODE", ode_x}}) {
    const auto p = x.to(torch::kFloat64).reshape({-1, 2});
    const auto in_class = ((p.select(1, 0) > 0).to(torch::kLong) == labels).to(torch::kFloat64).mean();
    // Component 0 at (-3, 0) and 1 at (3, 0) with unit spread overlap by Phi(-3) = 0.13 % across x1 = 0.
    EXPECT_GT(in_class.item<double>(), 0.99) << name;
    const double se = 5 / std::sqrt(kPoints / 2.0);
    for (int64_t k = 0; k < 2; ++k) {
      const auto mine = p.index({labels == k});
      EXPECT_NEAR(mine.select(1, 0).mean().item<double>(), k == 0 ? -3.0 : 3.0, se + 0.02) << name << " class " << k;
      EXPECT_NEAR(mine.select(1, 1).mean().item<double>(), 0.0, se + 0.02) << name << " class " << k;
      EXPECT_NEAR(mine.std(0).mean().item<double>(), 1.0, 0.05) << name << " class " << k;
    }
  }

  // Without guidance the same sampler follows the weights 0.7 / 0.3 whatever the labels say.
  PcSampler plain(sde, exact_mixture_score(m, sde), o);
  const auto x = plain.run(sde->prior_sampling({kPoints, 2, 1, 1}, gen), gen).reshape({-1, 2});
  EXPECT_NEAR((x.select(1, 0) < 0).to(torch::kFloat64).mean().item<double>(), 0.7,
              4 * std::sqrt(0.21 / kPoints) + 0.01);
  EXPECT_THROW(classifier_guided(exact_mixture_score(m, sde), exact_mixture_logits(m, sde), labels + 5, 1.0)(
                   x.view({-1, 2, 1, 1}), torch::full({kPoints}, 0.5)),
               Error);
}

}  // namespace
}  // namespace scorch::sampler
