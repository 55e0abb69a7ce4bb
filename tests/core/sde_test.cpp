// VE / VP / sub-VP SDEs against closed forms, the variance ODE, Euler-Maruyama simulation, and the reverse SDE/ODE.
#include <gtest/gtest.h>

#include <cmath>

#include "core/config.h"
#include "core/error.h"
#include "core/sdes/reverse_sde.h"
#include "core/sdes/subvp_sde.h"
#include "core/sdes/ve_sde.h"
#include "core/sdes/vp_sde.h"
#include "support/checks.h"

namespace scorch {
namespace {

using test::at;

const auto kF64 = torch::TensorOptions(torch::kFloat64);

std::vector<std::shared_ptr<sdes::Sde>> all_sdes(int64_t n = 1000) {
  return {std::make_shared<sdes::VESDE>(0.01, 50.0, n), std::make_shared<sdes::VPSDE>(0.1, 20.0, n),
          std::make_shared<sdes::SubVPSDE>(0.1, 20.0, n)};
}

// Integral of beta(t) = b0 + t (b1 - b0) from 0 to t, written out independently of the library.
double int_beta(double t) { return 0.1 * t + 0.5 * 19.9 * t * t; }

TEST(Sde, ClosedFormsOfDriftDiffusionAndMarginal) {
  auto ts = torch::tensor({1e-5, 0.1, 0.5, 0.9, 1.0}, kF64);
  auto x = torch::full({5, 1, 1, 1}, 0.7, kF64);
  sdes::VESDE ve(0.01, 50.0, 1000);
  sdes::VPSDE vp(0.1, 20.0, 1000);
  sdes::SubVPSDE svp(0.1, 20.0, 1000);
  for (int64_t i = 0; i < 5; ++i) {
    const double t = at(ts, i);
    const double sigma = 0.01 * std::pow(5000.0, t);
    // VE: g^2 = d sigma^2 / dt = 2 sigma^2 log(5000).
    EXPECT_NEAR(at(ve.marginal_prob(x, ts).std, i), sigma, 1e-12 * sigma);
    EXPECT_NEAR(at(ve.sde(x, ts).diffusion, i), sigma * std::sqrt(2 * std::log(5000.0)), 1e-10 * sigma);
    EXPECT_EQ(at(ve.sde(x, ts).drift, i), 0.0);
    const double beta = 0.1 + t * 19.9, a = std::exp(-0.5 * int_beta(t));
    EXPECT_NEAR(at(vp.sde(x, ts).drift, i), -0.5 * beta * 0.7, 1e-12);
    EXPECT_NEAR(at(vp.sde(x, ts).diffusion, i), std::sqrt(beta), 1e-12);
    EXPECT_NEAR(at(vp.marginal_prob(x, ts).mean, i), a * 0.7, 1e-12);
    EXPECT_NEAR(at(vp.marginal_prob(x, ts).std, i), std::sqrt(1 - a * a), 1e-12);
    EXPECT_NEAR(at(svp.marginal_prob(x, ts).mean, i), a * 0.7, 1e-12);
    EXPECT_NEAR(at(svp.marginal_prob(x, ts).std, i), 1 - a * a, 1e-12);
    EXPECT_NEAR(at(svp.sde(x, ts).diffusion, i), std::sqrt(beta * (1 - std::exp(-2 * int_beta(t)))), 1e-12);
  }
}

// For a linear SDE dx = -b(t)/2 x dt + g dw the variance obeys dV/dt = -b V + g^2; check by central
// differences that marginal_prob's std solves the ODE sde() defines (h = 1e-5: error ~1e-9 relative).
TEST(Sde, MarginalVarianceSolvesTheVarianceOde) {
  const double h = 1e-5;
  for (const auto& sde : all_sdes()) {
    SCOPED_TRACE(sdes::sde_name(sde->kind()));
    for (double t : {0.05, 0.3, 0.7, 0.95}) {
      auto tt = torch::tensor({t - h, t, t + h}, kF64);
      auto x = torch::ones({3, 1, 1, 1}, kF64);
      auto var = sde->marginal_prob(x, tt).std.square();
      auto dd = sde->sde(x, tt);
      const double b = -2.0 * at(dd.drift, 1);  // drift = -b/2 * x with x = 1
      const double lhs = (at(var, 2) - at(var, 0)) / (2 * h);
      const double rhs = -b * at(var, 1) + at(dd.diffusion, 1) * at(dd.diffusion, 1);
      EXPECT_NEAR(lhs, rhs, 1e-6 * std::max(1.0, std::abs(rhs))) << "t=" << t;
    }
  }
}

// Forward Euler-Maruyama over 4000 paths x 4 pixels (n = 16000 values), 1000 steps, float64.
// Tolerances: 5 standard errors (mean: sd/sqrt(n), std: sd/sqrt(2n), i.e. 2.8% of the std) plus the EM
// bias, which for beta*dt <= 0.02 is below 0.6% of the std and 2% of the mean (bounded by
// beta_max dt / 4 and int beta^2 dt * dt / 8). A std off by a square root (sub-VP) misses by far more.
TEST(Sde, MarginalMatchesEulerMaruyamaSimulation) {
  const int64_t paths = 4000, steps = 1000;
  const double x0 = 0.7, dt = 1.0 / steps;
  for (const auto& sde : all_sdes()) {
    SCOPED_TRACE(sdes::sde_name(sde->kind()));
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    auto x = torch::full({paths, 1, 2, 2}, x0, kF64);
    // The reference's VE marginal std is sigma(t), i.e. p_0 already carries sigma_min noise.
    if (sde->kind() == sdes::SdeKind::VE) x = x + 0.01 * torch::randn(x.sizes(), gen, kF64);
    for (int64_t k = 0; k < steps; ++k) {
      auto t = torch::full({paths}, k * dt, kF64);
      auto dd = sde->sde(x, t);
      x = x + dd.drift * dt + dd.diffusion.view({-1, 1, 1, 1}) * std::sqrt(dt) * torch::randn(x.sizes(), gen, kF64);
      const int64_t done = k + 1;
      if (done != steps / 4 && done != steps) continue;
      auto t_end = torch::full({1}, done * dt, kF64);
      auto ms = sde->marginal_prob(torch::full({1, 1, 1, 1}, x0, kF64), t_end);
      const double mean = at(ms.mean), std = at(ms.std), n = static_cast<double>(x.numel());
      EXPECT_NEAR(x.mean().item<double>(), mean, 5 * std / std::sqrt(n) + 0.02 * std::abs(mean)) << "t=" << done * dt;
      EXPECT_NEAR(x.std().item<double>(), std, 5 * std / std::sqrt(2 * n) + 0.006 * std) << "t=" << done * dt;
    }
  }
}

// With N = 20000 the discrete chains approach EM with dt = 1/N: f -> drift/N, G^2 -> g^2/N. The grid
// offset (t is floored onto i/(N-1)) and the chains' own O(1/N) terms stay below 0.5%.
TEST(Sde, DiscretizeAgreesWithTheSdeForSmallSteps) {
  const int64_t n = 20000;
  for (const auto& sde : all_sdes(n)) {
    SCOPED_TRACE(sdes::sde_name(sde->kind()));
    auto t = torch::tensor({0.2, 0.5, 0.9}, kF64);
    auto x = torch::full({3, 1, 1, 1}, 0.7, kF64);
    auto fg = sde->discretize(x, t);
    auto dd = sde->sde(x, t);
    for (int64_t i = 0; i < 3; ++i) {
      const double g2 = at(dd.diffusion, i) * at(dd.diffusion, i) / n;
      EXPECT_NEAR(at(fg.diffusion, i) * at(fg.diffusion, i), g2, 5e-3 * g2);
      EXPECT_NEAR(at(fg.drift, i), at(dd.drift, i) / n, 5e-3 * std::abs(at(dd.drift, i)) / n + 1e-15);
    }
  }
}

TEST(Sde, SmldAndDdpmChainsUseTheReferenceTables) {
  sdes::VESDE ve(0.01, 50.0, 1000);
  sdes::VPSDE vp(0.1, 20.0, 1000);
  auto x = torch::ones({2, 1, 1, 1});
  // t = 0 is step 0: sigma_{-1} = 0, so G = sigma_min; t = 1 is step 999.
  auto t = torch::tensor({0.0f, 1.0f});
  auto g = ve.discretize(x, t).diffusion;
  EXPECT_NEAR(at(g, 0), 0.01, 1e-8);
  const double s999 = 50.0, s998 = std::exp(std::log(0.01) + 998.0 / 999.0 * std::log(5000.0));
  EXPECT_NEAR(at(g, 1), std::sqrt(s999 * s999 - s998 * s998), 1e-4);
  auto fg = vp.discretize(x, t);
  EXPECT_NEAR(at(fg.diffusion, 0), std::sqrt(1e-4), 1e-7);
  EXPECT_NEAR(at(fg.diffusion, 1), std::sqrt(0.02), 1e-7);
  EXPECT_NEAR(at(fg.drift, 1), std::sqrt(1 - 0.02) - 1, 1e-7);
}

TEST(Sde, PriorLogpIsTheGaussianDensity) {
  auto z = torch::randn({3, 2, 3, 4}, kF64) * 10;
  for (const auto& sde : all_sdes()) {
    SCOPED_TRACE(sdes::sde_name(sde->kind()));
    const double s = sde->kind() == sdes::SdeKind::VE ? 50.0 : 1.0;
    auto logp = sde->prior_logp(z);
    ASSERT_EQ(logp.sizes(), torch::IntArrayRef({3}));
    for (int64_t b = 0; b < 3; ++b) {
      double direct = 0;  // sum of log N(z_j; 0, s^2), one coordinate at a time
      auto zb = z[b].flatten();
      for (int64_t j = 0; j < zb.numel(); ++j) {
        const double v = zb[j].item<double>();
        direct += std::log(std::exp(-v * v / (2 * s * s)) / std::sqrt(2 * M_PI * s * s));
      }
      EXPECT_NEAR(at(logp, b), direct, 1e-9 * std::abs(direct));
    }
  }
}

TEST(Sde, PriorSamplingHasThePriorScaleAndIsDeviceIndependent) {
  sdes::VESDE ve(0.01, 50.0, 1000);
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(3), g2 = at::make_generator<at::CPUGeneratorImpl>(3);
  auto a = ve.prior_sampling({1000, 1, 8, 8}, g1), b = ve.prior_sampling({1000, 1, 8, 8}, g2);
  EXPECT_TRUE(torch::equal(a, b));
  // n = 64000 values: the sample std is within 5 sd/sqrt(2n) = 0.7 of 50.
  EXPECT_NEAR(a.std().item<double>(), 50.0, 5 * 50.0 / std::sqrt(2 * 64000.0));
}

TEST(Sde, FactoryReadsTheConfig) {
  auto c = Config::resolve("", {"training.sde=vpsde", "model.beta_max=10", "model.num_scales=500"});
  auto sde = sdes::make_sde(c);
  EXPECT_EQ(sde->kind(), sdes::SdeKind::VP);
  EXPECT_EQ(sde->N(), 500);
  EXPECT_DOUBLE_EQ(static_cast<sdes::VPSDE&>(*sde).beta_max(), 10.0);
  EXPECT_EQ(sdes::make_sde(Config::resolve("", {"training.sde=subvpsde"}))->kind(), sdes::SdeKind::SubVP);
  EXPECT_DOUBLE_EQ(static_cast<sdes::VESDE&>(*sdes::make_sde(Config::defaults())).sigma_max(), 50.0);
  EXPECT_THROW(sdes::make_sde(Config::resolve("", {"training.sde=edm"})), Error);
}

}  // namespace
}  // namespace scorch
