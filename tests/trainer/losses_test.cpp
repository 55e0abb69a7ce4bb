// Losses against their analytic values for Gaussian data with the exact score plugged in as the model.
//
// Data x0 ~ N(mu, s^2 I). At noise level (a, sd) (x_t = a x0 + sd z) the marginal is N(a mu, v I),
// v = a^2 s^2 + sd^2, with score -(x - a mu)/v. Then score*sd + z = (a^2 s^2/v) z - (a s sd/v) eps for
// independent standard normals z, eps, whose mean square per pixel is r = a^2 s^2 / v. So:
//   DSM (no weighting):      E[loss] = E_t[r(t)]            (x D/2 for the half-sum reduction)
//   DSM (likelihood weight): E[loss] = E_t[r(t) g(t)^2 / sd(t)^2]
//   SMLD: E = mean_l r_l (a = 1, sd = sigma_l);  DDPM (eps-prediction residual): E = mean_l r_l (a^2 = abar_l).
// E_t is a Simpson integral over U(eps, 1) in double, written here independently of the library.
// Tolerance: 5 Monte-Carlo standard errors of the batch mean (fixed seed; 5 SE would be exceeded by chance
// with probability ~6e-7), and a model 50% off must fail it (the test has power; the exact score minimises
// the loss, so an error of c shows only as ~c^2 E[std^2/v], and 20000 examples resolve c ~ 0.15).
#include "trainer/losses.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/config.h"
#include "core/error.h"
#include "core/sdes/subvp_sde.h"
#include "core/sdes/ve_sde.h"
#include "core/sdes/vp_sde.h"

namespace scorch {
namespace {

const double kMu = 0.3, kS = 0.5, kEps = 1e-5;
const int64_t kBatch = 20000;
const std::vector<int64_t> kShape = {kBatch, 1, 4, 4};
const double kD = 16;

double int_beta(double t) { return 0.1 * t + 0.5 * 19.9 * t * t; }
double ve_sigma(double t) { return 0.01 * std::pow(5000.0, t); }

// (a, sd, g^2) of each SDE at time t.
struct Level {
  double a, sd, g2;
};
Level level(sdes::SdeKind kind, double t) {
  const double a = std::exp(-0.5 * int_beta(t)), beta = 0.1 + 19.9 * t;
  switch (kind) {
    case sdes::SdeKind::VE: return {1.0, ve_sigma(t), 2 * std::log(5000.0) * ve_sigma(t) * ve_sigma(t)};
    case sdes::SdeKind::VP: return {a, std::sqrt(1 - a * a), beta};
    case sdes::SdeKind::SubVP: return {a, 1 - a * a, beta * (1 - std::exp(-2 * int_beta(t)))};
  }
  return {};
}

double r(double a, double sd) { return a * a * kS * kS / (a * a * kS * kS + sd * sd); }

double simpson_mean(const std::function<double(double)>& f, double lo, double hi, int n = 20000) {
  const double h = (hi - lo) / n;
  double s = f(lo) + f(hi);
  for (int i = 1; i < n; ++i) s += f(lo + i * h) * (i % 2 ? 4 : 2);
  return s * h / 3 / (hi - lo);
}

// The exact score as a continuous-time network (what make_score_fn expects of it), optionally scaled.
sdes::ModelFn exact_continuous_model(sdes::SdeKind kind, double scale = 1.0) {
  return [kind, scale](const torch::Tensor& x, const torch::Tensor& labels) {
    auto lab = labels.to(torch::kFloat64);
    // VE gets sigma(t); VP / sub-VP get 999 t.
    auto t = kind == sdes::SdeKind::VE ? (lab / 0.01).log() / std::log(5000.0) : lab / 999.0;
    auto a = (-0.5 * (0.1 * t + 0.5 * 19.9 * t.square())).exp();
    torch::Tensor sd = kind == sdes::SdeKind::VE   ? 0.01 * torch::pow(5000.0, t)
                       : kind == sdes::SdeKind::VP ? (1 - a.square()).sqrt()
                                                   : 1 - a.square();
    if (kind == sdes::SdeKind::VE) a = torch::ones_like(t);
    auto v = a.square() * kS * kS + sd.square();
    auto col = [&](const torch::Tensor& u) { return u.to(x.dtype()).view({-1, 1, 1, 1}); };
    auto score = -(x - col(a) * kMu) / col(v);
    // VE networks output the score; VP / sub-VP networks output -score * std (the noise).
    return (kind == sdes::SdeKind::VE ? score : -score * col(sd)) * scale;
  };
}

torch::Tensor gaussian_batch(uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return kMu + kS * torch::randn(kShape, gen);
}

void expect_mean(const torch::Tensor& per_example, double expected, const std::string& what) {
  ASSERT_EQ(per_example.sizes(), torch::IntArrayRef({kBatch}));
  const double mean = per_example.mean().item<double>();
  const double se = per_example.std().item<double>() / std::sqrt(static_cast<double>(kBatch));
  EXPECT_NEAR(mean, expected, 5 * se) << what << " (SE " << se << ")";
}

std::shared_ptr<sdes::Sde> sde_of(sdes::SdeKind k, int64_t n = 1000) {
  if (k == sdes::SdeKind::VE) return std::make_shared<sdes::VESDE>(0.01, 50.0, n);
  if (k == sdes::SdeKind::VP) return std::make_shared<sdes::VPSDE>(0.1, 20.0, n);
  return std::make_shared<sdes::SubVPSDE>(0.1, 20.0, n);
}

TEST(Losses, DsmOfTheExactScoreEqualsItsAnalyticValue) {
  for (auto kind : {sdes::SdeKind::VE, sdes::SdeKind::VP, sdes::SdeKind::SubVP}) {
    SCOPED_TRACE(sdes::sde_name(kind));
    const double er = simpson_mean(
        [&](double t) {
          auto l = level(kind, t);
          return r(l.a, l.sd);
        },
        kEps, 1.0);
    const double ew = simpson_mean(
        [&](double t) {
          auto l = level(kind, t);
          return r(l.a, l.sd) * l.g2 / (l.sd * l.sd);
        },
        kEps, 1.0);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    auto batch = gaussian_batch(1);
    auto sde = sde_of(kind);
    expect_mean(trainer::DsmLoss(sde, true, false, kEps).per_example(exact_continuous_model(kind), batch, gen), er,
                "mean");
    expect_mean(trainer::DsmLoss(sde, false, false, kEps).per_example(exact_continuous_model(kind), batch, gen),
                0.5 * kD * er, "half sum");
    expect_mean(trainer::DsmLoss(sde, true, true, kEps).per_example(exact_continuous_model(kind), batch, gen), ew,
                "likelihood weighting");
  }
}

TEST(Losses, TheAnalyticCheckRejectsAWrongScore) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  for (auto kind : {sdes::SdeKind::VE, sdes::SdeKind::VP}) {
    const double er = simpson_mean(
        [&](double t) {
          auto l = level(kind, t);
          return r(l.a, l.sd);
        },
        kEps, 1.0);
    auto l = trainer::DsmLoss(sde_of(kind), true, false, kEps)
                 .per_example(exact_continuous_model(kind, 1.5), gaussian_batch(2), gen);
    const double se = l.std().item<double>() / std::sqrt(static_cast<double>(kBatch));
    EXPECT_GT(std::abs(l.mean().item<double>() - er), 5 * se) << sdes::sde_name(kind);
  }
}

// With anneal_power p the level-l term is weighted sigma_l^p instead of sigma_l^2: E = mean_l r_l sigma_l^(p-2).
TEST(Losses, SmldOfTheExactScoreEqualsItsAnalyticValueForEachAnnealPower) {
  const int64_t n = 1000;
  auto sigma_of_label = [&](int64_t l) {  // label 0 is sigma_max
    return std::exp(std::log(0.01) + (n - 1 - l) / double(n - 1) * std::log(5000.0));
  };
  sdes::ModelFn model = [&](const torch::Tensor& x, const torch::Tensor& labels) {
    EXPECT_EQ(labels.scalar_type(), torch::kLong);
    auto s = labels.to(torch::kFloat64).neg().add(n - 1).div(n - 1).mul(std::log(5000.0)).add(std::log(0.01)).exp();
    auto v = (kS * kS + s.square()).to(x.dtype()).view({-1, 1, 1, 1});
    return -(x - kMu) / v;
  };
  for (double p : {2.0, 1.0}) {
    double er = 0;
    for (int64_t l = 0; l < n; ++l) er += r(1.0, sigma_of_label(l)) * std::pow(sigma_of_label(l), p - 2) / n;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
    trainer::SmldLoss loss(sde_of(sdes::SdeKind::VE, n), false, p);
    expect_mean(loss.per_example(model, gaussian_batch(3), gen), 0.5 * kD * er, fmt::format("SMLD half sum, p={}", p));
  }
}

TEST(Losses, DdpmOfTheExactNoisePredictorEqualsItsAnalyticValue) {
  const int64_t n = 1000;
  std::vector<double> abar(n);
  double prod = 1.0;
  for (int64_t i = 0; i < n; ++i) abar[i] = prod *= 1.0 - (1e-4 + (0.02 - 1e-4) * i / double(n - 1));
  double er = 0;
  for (int64_t l = 0; l < n; ++l) er += r(std::sqrt(abar[l]), std::sqrt(1 - abar[l])) / n;
  auto abar_t = torch::tensor(abar, torch::kFloat64);
  sdes::ModelFn model = [&](const torch::Tensor& x, const torch::Tensor& labels) {
    auto ab = abar_t.index({labels});
    auto a = ab.sqrt(), sd = (1 - ab).sqrt();
    auto col = [&](const torch::Tensor& u) { return u.to(x.dtype()).view({-1, 1, 1, 1}); };
    return col(sd) * (x - col(a) * kMu) / col(ab * kS * kS + sd.square());  // E[noise | x_t]
  };
  auto gen = at::make_generator<at::CPUGeneratorImpl>(13);
  trainer::DdpmLoss loss(sde_of(sdes::SdeKind::VP, n), true);
  expect_mean(loss.per_example(model, gaussian_batch(4), gen), er, "DDPM mean");
}

TEST(Losses, ConfigPicksTheObjectiveAndRefusesWhatTheReferenceRefuses) {
  auto pick = [](std::vector<std::string> o) {
    auto c = Config::resolve("", o);
    return trainer::make_loss(c, sdes::make_sde(c));
  };
  EXPECT_NE(dynamic_cast<trainer::DsmLoss*>(pick({"training.sde=subvpsde"}).get()), nullptr);
  EXPECT_NE(dynamic_cast<trainer::SmldLoss*>(pick({"training.sde=vesde", "training.continuous=false"}).get()), nullptr);
  EXPECT_NE(dynamic_cast<trainer::DdpmLoss*>(pick({"training.sde=vpsde", "training.continuous=false"}).get()), nullptr);
  EXPECT_THROW(pick({"training.sde=subvpsde", "training.continuous=false"}), Error);
  EXPECT_THROW(pick({"training.continuous=false", "training.likelihood_weighting=true"}), Error);
  EXPECT_NE(dynamic_cast<trainer::SmldLoss*>(pick({"training.continuous=false", "training.anneal_power=1"}).get()),
            nullptr);
  EXPECT_THROW(pick({"training.anneal_power=1"}), Error);  // continuous DSM has no sigma^p weight
  EXPECT_THROW(pick({"training.sde=vpsde", "training.continuous=false", "training.anneal_power=1"}), Error);
  EXPECT_THROW(trainer::SmldLoss(sde_of(sdes::SdeKind::VP), false), Error);
  EXPECT_THROW(trainer::DdpmLoss(sde_of(sdes::SdeKind::VE), true), Error);
}

TEST(Losses, SameSeedSameLoss) {
  auto model = exact_continuous_model(sdes::SdeKind::VP);
  trainer::DsmLoss loss(sde_of(sdes::SdeKind::VP), true, false, kEps);
  auto batch = gaussian_batch(6).slice(0, 0, 64);
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(21), g2 = at::make_generator<at::CPUGeneratorImpl>(21);
  EXPECT_EQ(loss(model, batch, g1).item<float>(), loss(model, batch, g2).item<float>());
}

}  // namespace
}  // namespace scorch
