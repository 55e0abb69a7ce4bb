// Inpainting keeps the known pixels exactly, fills the rest from the model and, with correlated pixels, follows
// the closed form of the reference's projection; colorization keeps the gray channel; masks.
#include "sampler/inverse.h"

#include <gtest/gtest.h>

#include "core/rng.h"
#include "core/sdes/ve_sde.h"
#include "core/sdes/vp_sde.h"
#include "support/gaussian.h"

namespace scorch::sampler {
namespace {

using test::Gaussian;

SamplingOptions small_pc() {
  SamplingOptions o;
  o.predictor = "reverse_diffusion";
  o.corrector = "langevin";
  o.eps = 1e-5;
  return o;
}

TEST(Inverse, InpaintingKeepsKnownPixelsAndFillsTheRest) {
  for (auto sde : std::vector<std::shared_ptr<sdes::Sde>>{std::make_shared<sdes::VESDE>(0.01, 10.0, 200),
                                                          std::make_shared<sdes::VPSDE>(0.1, 20.0, 200)}) {
    Gaussian g{0.4, 0.2};
    PcSampler pc(sde, g.score(sde), small_pc());
    auto gen = cpu_generator(4, 0);
    auto data = torch::full({256, 1, 8, 8}, 0.9);  // known pixels far from the model's mean 0.4
    auto mask = make_mask("left", 8, 8);
    auto out = inpaint(pc, *sde, data, mask, gen);
    auto known = mask.expand_as(out).to(torch::kBool);
    EXPECT_TRUE(torch::equal(out.masked_select(known), data.masked_select(known))) << sdes::sde_name(sde->kind());
    // The unknown half is a draw of the model (independent pixels): mean 0.4, std 0.2 (5 standard errors).
    auto fill = out.masked_select(~known).to(torch::kDouble);
    const double n = static_cast<double>(fill.numel());
    EXPECT_NEAR(fill.mean().item<double>(), 0.4, 5 * 0.2 / std::sqrt(n) + 0.004);
    EXPECT_NEAR(fill.std().item<double>(), 0.2, 5 * 0.2 / std::sqrt(2 * n) + 0.004);
  }
}

// Inpainting with correlated pixels, where the known pixel steers the unknown one only through the projection.
// Data (B, 1, 1, 2) ~ N(mu, S), S = s^2 [[1, rho], [rho, 1]]; pixel 0 is known (d), pixel 1 is sampled. With
// the reverse-diffusion predictor and no corrector every update is linear in the state, so the unknown pixel
// stays Gaussian and its mean and variance follow a closed-form recursion of the reference's steps: at each
// t_i the known pixel is a fresh draw a_i d + sigma_i z (the projection after the corrector), the predictor
// maps x_u to (1 - c_i) x_u + G_i^2 score_u(x) + G_i z with the analytic score -(a^2 S + sigma^2 I)^-1 (x - a
// mu), and the sample is the last predictor mean. The SDE's own tables (marginal_prob, discretize) are taken
// as given (tests/core/sdes check them against score_sde); what is checked is the projection: its mean, its
// noise and its timing. 2^19 draws: 5 standard errors on the mean and variance.
TEST(Inverse, InpaintingFollowsTheClosedFormOfACorrelatedGaussian) {
  const double s = 0.5, rho = 0.99, mu_k = 0.3, mu_u = 0.5, d = 1.2;
  // Few levels (VP's DDPM chain needs beta_max / N < 1), where the known pixel's noise moves the variance by
  // 6 % (VE) and more (VP): 1 % is 5 standard errors.
  const int64_t n = int64_t{1} << 19;
  for (auto sde : std::vector<std::shared_ptr<sdes::Sde>>{std::make_shared<sdes::VESDE>(0.01, 10.0, 10),
                                                          std::make_shared<sdes::VPSDE>(0.1, 20.0, 25)}) {
    const auto name = sdes::sde_name(sde->kind());
    auto coeffs = [&](const torch::Tensor& t) {  // a(t), sigma(t), each (B,) in t's dtype
      auto ms = sde->marginal_prob(torch::ones({t.size(0), 1, 1, 1}, t.options()), t);
      return std::pair{ms.mean.flatten(), ms.std};
    };
    // P = (a^2 S + sigma^2 I)^-1 = [[p_d, p_o], [p_o, p_d]].
    auto precision = [&](double a, double sd) {
      const double v = a * a * s * s + sd * sd, c = a * a * rho * s * s, det = v * v - c * c;
      return std::pair{v / det, -c / det};
    };
    sdes::ScoreFn score = [&](const torch::Tensor& x, const torch::Tensor& t) {
      auto [a, sd] = coeffs(t.to(torch::kFloat64));
      const double av = a[0].item<double>(), sv = sd[0].item<double>();
      const auto [p_d, p_o] = precision(av, sv);
      auto y = x.to(torch::kFloat64) - av * torch::tensor({mu_k, mu_u}, torch::kFloat64).view({1, 1, 1, 2});
      auto y_flipped = y.flip(3);
      return (-(p_d * y + p_o * y_flipped)).to(x.dtype());
    };
    SamplingOptions o;
    o.predictor = "reverse_diffusion";
    o.corrector = "none";
    o.eps = 1e-5;
    PcSampler pc(sde, score, o);
    auto gen = cpu_generator(11, 0);
    auto data = torch::full({n, 1, 1, 2}, d);
    auto mask = torch::tensor({1.0f, 0.0f}).view({1, 1, 1, 2});
    const auto u = inpaint(pc, *sde, data, mask, gen).index({torch::indexing::Slice(), 0, 0, 1}).to(torch::kDouble);

    // The recursion, on the sampler's float32 time grid; also without the known pixel's noise, to show the
    // check can tell.
    const auto ts = torch::linspace(sde->T(), 1e-5, sde->N(), torch::kFloat32);
    double m = 0,
           v = sde->kind() == sdes::SdeKind::VE ? std::pow(coeffs(ts.slice(0, 0, 1)).second.item<double>(), 2) : 1.0;
    double v_quiet = v, m_mean = 0, v_mean = 0, v_quiet_mean = 0;
    for (int64_t i = 0; i < sde->N(); ++i) {
      auto t = ts.slice(0, i, i + 1);
      auto [a_t, sd_t] = coeffs(t.to(torch::kFloat64));
      const double a = a_t.item<double>(), sd = sd_t.item<double>();
      auto step = sde->discretize(torch::ones({1, 1, 1, 2}), t);
      const double c = step.drift.flatten()[0].item<double>(), g2 = std::pow(step.diffusion.item<double>(), 2);
      const auto [p_d, p_o] = precision(a, sd);
      const double alpha = (1 - c) - g2 * p_d, beta = -g2 * p_o, gamma = g2 * a * (p_d * mu_u + p_o * mu_k);
      m_mean = alpha * m + beta * a * d + gamma;
      v_mean = alpha * alpha * v + beta * beta * sd * sd;
      v_quiet_mean = alpha * alpha * v_quiet;
      m = m_mean, v = v_mean + g2, v_quiet = v_quiet_mean + g2;
    }
    const double got_m = u.mean().item<double>(), got_v = u.var().item<double>();
    const double tol_m = 5 * std::sqrt(v_mean / n), tol_v = 5 * v_mean * std::sqrt(2.0 / n);
    std::printf(
        "%s: unknown pixel mean %.4f (closed form %.4f), variance %.5f (%.5f; %.5f without the known "
        "pixel's noise); the exact conditional: mean %.4f, variance %.5f\n",
        name, got_m, m_mean, got_v, v_mean, v_quiet_mean, mu_u + rho * (d - mu_k), s * s * (1 - rho * rho));
    EXPECT_NEAR(got_m, m_mean, tol_m) << name;
    EXPECT_NEAR(got_v, v_mean, tol_v) << name;
    EXPECT_GT(std::abs(v_quiet_mean - v_mean), 3 * tol_v) << name << ": the check would not see a noiseless projection";
  }
}

TEST(Inverse, ColorizationKeepsTheGrayChannel) {
  auto sde = std::make_shared<sdes::VESDE>(0.01, 10.0, 200);
  Gaussian g{0.5, 0.2};
  PcSampler pc(sde, g.score(sde), small_pc());
  auto gen = cpu_generator(5, 0);
  auto gray = torch::rand({16, 1, 4, 4}, gen).expand({16, 3, 4, 4}).contiguous();
  auto out = colorize(pc, *sde, gray, gen);
  using torch::indexing::Slice;
  auto kept = decouple(out).index({Slice(), 0}), want = decouple(gray).index({Slice(), 0});
  // Couple(decouple(.)) in float32: a few ulps.
  EXPECT_LT((kept - want).abs().max().item<double>(), 1e-5);
  // The colour channels were sampled: not the gray input's (zero) colour components.
  EXPECT_GT(decouple(out).index({Slice(), Slice(1, 3)}).abs().mean().item<double>(), 0.05);
  // M is orthonormal (the decoupled prior relies on it) with the gray (R + G + B) / sqrt(3) first; couple inverts
  // decouple.
  const auto m = colour_matrix().to(torch::kFloat64);
  EXPECT_LT((m.t().matmul(m) - torch::eye(3, torch::kFloat64)).abs().max().item<double>(), 1e-6);
  EXPECT_LT((m.index({Slice(), 0}) - 1.0 / std::sqrt(3.0)).abs().max().item<double>(), 1e-6);
  auto x = torch::randn({2, 3, 2, 2});
  EXPECT_LT((couple(decouple(x)) - x).abs().max().item<double>(), 1e-5);
}

TEST(Inverse, FitColoursKeepsTheGrayInsideTheUnitRange) {
  auto rgb = torch::tensor({1.4f, 0.2f, 0.3f, -0.3f, 0.5f, 0.4f, 0.2f, 0.3f, 0.4f}).view({3, 3, 1, 1});
  auto fit = fit_colours(rgb, rgb.mean(1, true));
  EXPECT_GE(fit.min().item<double>(), 0.0);
  EXPECT_LE(fit.max().item<double>(), 1.0);
  EXPECT_LT((fit.mean(1) - rgb.mean(1)).abs().max().item<double>(), 1e-6);
  EXPECT_TRUE(torch::allclose(fit[2], rgb[2]));  // already inside: unchanged
}

TEST(Inverse, Masks) {
  EXPECT_EQ(make_mask("left", 4, 4).sum().item<double>(), 8);
  EXPECT_EQ(make_mask("center", 8, 8).sum().item<double>(), 64 - 16);
  EXPECT_EQ(make_mask("checker", 16, 16).sum().item<double>(), 128);
  EXPECT_TRUE(torch::equal(make_mask("random", 8, 8, 3), make_mask("random", 8, 8, 3)));
  try {
    make_mask("nonexistent.png", 8, 8);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("nonexistent.png"), std::string::npos);
  }
}

}  // namespace
}  // namespace scorch::sampler
