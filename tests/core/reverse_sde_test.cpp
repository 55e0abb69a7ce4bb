// Reverse SDE and probability-flow ODE: hand-computed steps, and transport of Gaussian data with its exact score.
#include "core/sdes/reverse_sde.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/sdes/subvp_sde.h"
#include "core/sdes/ve_sde.h"
#include "core/sdes/vp_sde.h"
#include "support/checks.h"

namespace scorch {
namespace {

using test::at;

const auto kReverseF64 = torch::TensorOptions(torch::kFloat64);

// Data N(mu, s^2 I): every marginal is N(a(t) mu, (a^2 s^2 + std^2) I) and its score is known exactly.
struct Gaussian {
  double mu = 0.3, s = 0.5;
  sdes::ScoreFn score(const std::shared_ptr<sdes::Sde>& sde) const {
    return [sde, mu = mu, s = s](const torch::Tensor& x, const torch::Tensor& t) {
      auto ms = sde->marginal_prob(torch::ones({t.size(0), 1, 1, 1}, x.options()), t);
      auto a = ms.mean;  // (B, 1, 1, 1): the mean coefficient
      auto sd = ms.std.view({-1, 1, 1, 1});
      return -(x - a * mu) / (a.square() * s * s + sd.square());
    };
  }
};

std::vector<std::shared_ptr<sdes::Sde>> reverse_test_sdes() {
  return {std::make_shared<sdes::VESDE>(0.01, 50.0, 1000), std::make_shared<sdes::VPSDE>(0.1, 20.0, 1000),
          std::make_shared<sdes::SubVPSDE>(0.1, 20.0, 1000)};
}

TEST(ReverseSde, DriftAndDiffusionByHand) {
  auto sde = std::make_shared<sdes::VPSDE>(0.1, 20.0, 1000);
  sdes::ScoreFn constant = [](const torch::Tensor& x, const torch::Tensor&) { return torch::full_like(x, 2.0); };
  auto x = torch::full({1, 1, 1, 1}, 0.5, kReverseF64);
  auto t = torch::full({1}, 0.5, kReverseF64);
  const double beta = 0.1 + 0.5 * 19.9;
  auto rev = sdes::ReverseSde(sde, constant, false).sde(x, t);
  EXPECT_NEAR(at(rev.drift), -0.5 * beta * 0.5 - beta * 2.0, 1e-12);
  EXPECT_NEAR(at(rev.diffusion), std::sqrt(beta), 1e-12);
  auto ode = sdes::ReverseSde(sde, constant, true).sde(x, t);
  EXPECT_NEAR(at(ode.drift), -0.5 * beta * 0.5 - 0.5 * beta * 2.0, 1e-12);
  // A tensor of zeros (B,), usable by Euler-Maruyama, where the reference returns a bare float.
  ASSERT_EQ(ode.diffusion.sizes(), torch::IntArrayRef({1}));
  EXPECT_EQ(at(ode.diffusion), 0.0);
  // Discretised: the DDPM chain's f and G at step i = floor(0.5 * 999) = 499 (float32 table: 1e-8).
  const double b499 = (0.1 + 19.9 * 499.0 / 999.0) / 1000.0;
  auto d = sdes::ReverseSde(sde, constant, false).discretize(x, t);
  EXPECT_NEAR(at(d.drift), (std::sqrt(1 - b499) - 1) * 0.5 - b499 * 2.0, 1e-8);
  EXPECT_NEAR(at(d.diffusion), std::sqrt(b499), 1e-8);
  auto dp = sdes::ReverseSde(sde, constant, true).discretize(x, t);
  EXPECT_NEAR(at(dp.drift), (std::sqrt(1 - b499) - 1) * 0.5 - 0.5 * b499 * 2.0, 1e-8);
  EXPECT_EQ(at(dp.diffusion), 0.0);
}

// The probability-flow ODE maps p_1 onto p_eps deterministically; for isotropic Gaussians it keeps the
// standardised coordinate, so x_eps = a_eps mu + sqrt(v_eps) (x_1 - a_1 mu) / sqrt(v_1) for each sample.
// 4000 Euler steps in float64: the error is O(dt), measured ~1e-3 of the scale; tolerance 1%.
TEST(ReverseSde, ProbabilityFlowTransportsGaussianMarginalsSampleBySample) {
  Gaussian data;
  const int64_t steps = 4000;
  const double eps = 1e-3;
  for (const auto& sde : reverse_test_sdes()) {
    SCOPED_TRACE(sdes::sde_name(sde->kind()));
    sdes::ReverseSde ode(sde, data.score(sde), true);
    auto zeta = torch::linspace(-2.5, 2.5, 11, kReverseF64).view({-1, 1, 1, 1});
    auto ones = torch::ones({11, 1, 1, 1}, kReverseF64);
    auto marg = [&](double t) {
      auto ms = sde->marginal_prob(ones, torch::full({11}, t, kReverseF64));
      return std::make_pair(ms.mean, (ms.mean.square() * data.s * data.s + ms.std.square().view({-1, 1, 1, 1})).sqrt());
    };
    auto [a1, sd1] = marg(1.0);
    auto x = a1 * data.mu + sd1 * zeta;
    const double dt = (1.0 - eps) / steps;
    for (int64_t k = 0; k < steps; ++k) x = x - ode.sde(x, torch::full({11}, 1.0 - k * dt, kReverseF64)).drift * dt;
    auto [ae, sde_] = marg(eps);
    auto expected = ae * data.mu + sde_ * zeta;
    EXPECT_LT((x - expected).abs().max().item<double>(), 0.01 * data.s * 2.5);
  }
}

// The reverse SDE (factor 1 on g^2 score, noise g) run with Euler-Maruyama from the exact p_1 must end
// in p_eps = N(a mu, v). 2000 paths x 4 pixels, 1000 steps; tolerance 5 standard errors plus 2% for
// the discretisation bias (a reverse drift with the ODE's factor 1/2 misses the std by far more).
TEST(ReverseSde, ReverseSdeRecoversTheDataDistribution) {
  Gaussian data;
  const int64_t paths = 2000, steps = 1000;
  const double eps = 1e-3;
  for (const auto& sde : reverse_test_sdes()) {
    SCOPED_TRACE(sdes::sde_name(sde->kind()));
    auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
    sdes::ReverseSde rsde(sde, data.score(sde), false);
    auto one = torch::ones({1, 1, 1, 1}, kReverseF64);
    auto m1 = sde->marginal_prob(one, torch::ones({1}, kReverseF64));
    const double a1 = at(m1.mean), v1 = a1 * a1 * data.s * data.s + at(m1.std) * at(m1.std);
    auto x = a1 * data.mu + std::sqrt(v1) * torch::randn({paths, 1, 2, 2}, gen, kReverseF64);
    const double dt = (1.0 - eps) / steps;
    for (int64_t k = 0; k < steps; ++k) {
      auto dd = rsde.sde(x, torch::full({paths}, 1.0 - k * dt, kReverseF64));
      x = x - dd.drift * dt +
          dd.diffusion.view({-1, 1, 1, 1}) * std::sqrt(dt) * torch::randn(x.sizes(), gen, kReverseF64);
    }
    auto me = sde->marginal_prob(one, torch::full({1}, eps, kReverseF64));
    const double ae = at(me.mean), sd = std::sqrt(ae * ae * data.s * data.s + at(me.std) * at(me.std));
    const double n = static_cast<double>(x.numel());
    EXPECT_NEAR(x.mean().item<double>(), ae * data.mu, 5 * sd / std::sqrt(n) + 0.02 * sd);
    EXPECT_NEAR(x.std().item<double>(), sd, 5 * sd / std::sqrt(2 * n) + 0.02 * sd);
  }
}

}  // namespace
}  // namespace scorch
