// bits/dim through the probability-flow ODE against the analytic negative log-likelihood of Gaussian data
// under the same model (exact score, the SDE's prior pushed through the exact affine flow).
#include "sampler/likelihood.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/rng.h"
#include "core/sdes/ve_sde.h"
#include "core/sdes/vp_sde.h"
#include "support/gaussian.h"

namespace scorch::sampler {
namespace {

using test::Gaussian;

// -log p_model(x) per example in nats: the model density at eps is the prior pushed through the exact flow
// x - m_eps = (z - m_T) v_eps / v_T, so log p(x) = log prior(z) + D log(v_T / v_eps).
torch::Tensor exact_nll(const sdes::Sde& sde, const Gaussian& g, const torch::Tensor& x, double eps) {
  const auto [m_eps, v_eps] = g.marginal(sde, eps);
  const auto [m_t, v_t] = g.marginal(sde, sde.T());
  auto z = m_t + (x.to(torch::kDouble) - m_eps) * (v_t / v_eps);
  const double d = static_cast<double>(x[0].numel());
  return -(sde.prior_logp(z) + d * std::log(v_t / v_eps));
}

torch::Tensor nll_from_bpd(const torch::Tensor& bpd, int64_t dims, bool centered) {
  return (bpd - (centered ? 7.0 : 8.0)) * (static_cast<double>(dims) * std::log(2.0));
}

TEST(Likelihood, ExactDivergenceMatchesTheAnalyticNllInLowDimension) {
  // D = 4: the exact trace (4 backward passes). ODE at rtol = atol = 1e-5: agreement to 1e-3 nats per example.
  for (auto sde : std::vector<std::shared_ptr<sdes::Sde>>{std::make_shared<sdes::VPSDE>(0.1, 20.0, 1000),
                                                          std::make_shared<sdes::VESDE>(0.01, 10.0, 1000)}) {
    const bool centered = sde->kind() != sdes::SdeKind::VE;
    Gaussian g{centered ? 0.3 : 0.5, 0.3};
    auto gen = cpu_generator(1, 0);
    auto x = g.mu + g.s * sdes::randn_with({8, 1, 2, 2}, gen, torch::kFloat32);
    LikelihoodOptions o;
    o.divergence = "exact";
    auto r = bits_per_dim(sde, g.score(sde), x, centered, o, gen);
    auto nll = nll_from_bpd(r.bpd, 4, centered);
    auto expected = exact_nll(*sde, g, x, o.eps);
    EXPECT_LT((nll - expected).abs().max().item<double>(), 1e-3) << sdes::sde_name(sde->kind()) << "\n"
                                                                 << nll << expected;
    EXPECT_GT(r.nfe, 20);
  }
}

TEST(Likelihood, HutchinsonMatchesTheAnalyticNllInHigherDimension) {
  // D = 3 x 8 x 8 = 192. The drift's Jacobian is c(t) I here, so the Rademacher probe (e^T e = D) is exact and
  // the bound is the ODE's (2e-3 nats); the Gaussian probe's estimate is c(t) |e|^2, relative std sqrt(2 / D)
  // per example, so its batch mean is checked against 5 standard errors of that.
  auto sde = std::make_shared<sdes::VPSDE>(0.1, 20.0, 1000);
  Gaussian g{0.2, 0.4};
  auto gen = cpu_generator(2, 0);
  const int64_t b = 32, d = 192;
  auto x = g.mu + g.s * sdes::randn_with({b, 3, 8, 8}, gen, torch::kFloat32);
  auto expected = exact_nll(*sde, g, x, 1e-5);
  LikelihoodOptions o;
  auto rad = nll_from_bpd(bits_per_dim(sde, g.score(sde), x, true, o, gen).bpd, d, true);
  EXPECT_LT((rad - expected).abs().max().item<double>(), 2e-3);
  o.divergence = "gaussian";
  auto gau = nll_from_bpd(bits_per_dim(sde, g.score(sde), x, true, o, gen).bpd, d, true);
  // |integral of div| = D log(v_T / v_eps), the size of the quantity the probe estimates.
  const double integral = std::abs(d * std::log(g.marginal(*sde, 1.0).second / g.marginal(*sde, 1e-5).second));
  const double se = integral * std::sqrt(2.0 / d) / std::sqrt(double(b));
  EXPECT_NEAR((gau - expected).mean().item<double>(), 0.0, 5 * se);
  EXPECT_GT((gau - expected).abs().max().item<double>(), 1e-2) << "a Gaussian probe cannot be exact per example";
}

TEST(Likelihood, DequantizationAndOffsets) {
  auto gen = cpu_generator(3, 0);
  auto pixels = torch::tensor({0, 255, 128}, torch::kUInt8).view({1, 1, 3, 1});  // (N, H, W, C)
  auto x = dequantize(pixels, gen);                                              // (N, C, H, W)
  ASSERT_EQ(x.sizes(), torch::IntArrayRef({1, 1, 1, 3}));
  auto lo = torch::tensor({0.0, 255.0, 128.0}) / 256.0, hi = torch::tensor({1.0, 256.0, 129.0}) / 256.0;
  EXPECT_TRUE((x.flatten() >= lo).all().item<bool>() && (x.flatten() < hi).all().item<bool>());
  EXPECT_THROW(dequantize(torch::zeros({1, 2, 2, 1}), gen), std::exception);
}

}  // namespace
}  // namespace scorch::sampler
