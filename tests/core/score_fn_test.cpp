// Score functions: the labels each SDE hands the network and the output-to-score conversions, by hand.
#include "core/sdes/score_fn.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/sdes/subvp_sde.h"
#include "core/sdes/ve_sde.h"
#include "core/sdes/vp_sde.h"
#include "support/checks.h"

namespace scorch {
namespace {

using test::at;

// sqrt(1 - prod_{j<=i} (1 - beta_j)) with beta_j = linspace(1e-4, 0.02, 1000)_j, in double.
double ddpm_std(int64_t i) {
  double abar = 1.0;
  for (int64_t j = 0; j <= i; ++j) abar *= 1.0 - (1e-4 + (0.02 - 1e-4) * j / 999.0);
  return std::sqrt(1.0 - abar);
}

TEST(ScoreFn, LabelsPerSdeAndMode) {
  sdes::VESDE ve(0.01, 50.0, 1000);
  sdes::VPSDE vp(0.1, 20.0, 1000);
  sdes::SubVPSDE svp(0.1, 20.0, 1000);
  auto t = torch::tensor({1.0f, 0.5f, 1e-5f});
  auto ve_cont = sdes::model_labels(ve, t, true);
  EXPECT_NEAR(at(ve_cont, 0), 50.0, 1e-4);
  EXPECT_NEAR(at(ve_cont, 1), 0.01 * std::sqrt(5000.0), 1e-6);
  // Discrete VE: round((1 - t) 999); t = 1 -> 0 (sigma_max), t = 0.5 -> round(499.5) = 500, 1e-5 -> 999.
  auto ve_disc = model_labels(ve, t, false);
  EXPECT_EQ(ve_disc.scalar_type(), torch::kLong);
  EXPECT_EQ(ve_disc[0].item<int64_t>(), 0);
  EXPECT_EQ(ve_disc[1].item<int64_t>(), 500);
  EXPECT_EQ(ve_disc[2].item<int64_t>(), 999);
  // VP and sub-VP continuous: 999 t whatever N; VP discrete: t (N - 1), not rounded.
  EXPECT_NEAR(at(model_labels(vp, t, true), 1), 499.5, 1e-4);
  EXPECT_NEAR(at(model_labels(svp, t, true), 1), 499.5, 1e-4);
  sdes::VPSDE vp500(0.1, 20.0, 500);
  EXPECT_NEAR(at(sdes::model_labels(vp500, t, true), 1), 499.5, 1e-4);
  EXPECT_NEAR(at(sdes::model_labels(vp500, t, false), 1), 249.5, 1e-4);
  EXPECT_EQ(model_labels(vp, t, false).scalar_type(), torch::kFloat32);
}

TEST(ScoreFn, OutputConversions) {
  auto x = torch::ones({2, 1, 2, 2});
  auto t = torch::tensor({0.5f, 0.25f});
  torch::Tensor seen;
  sdes::ModelFn model = [&seen](const torch::Tensor& xx, const torch::Tensor& labels) {
    seen = labels;
    return torch::full_like(xx, 3.0);
  };
  // VE: the network's output is the score already.
  auto ve = std::make_shared<sdes::VESDE>(0.01, 50.0, 1000);
  EXPECT_NEAR(at(sdes::make_score_fn(ve, model, true)(x, t), 0), 3.0, 1e-6);
  EXPECT_NEAR(at(seen, 1), 0.01 * std::pow(5000.0, 0.25), 1e-6);
  // VP continuous: -out / sqrt(1 - exp(-int beta)).
  auto vp = std::make_shared<sdes::VPSDE>(0.1, 20.0, 1000);
  auto s = sdes::make_score_fn(vp, model, true)(x, t);
  const double ib = 0.1 * 0.5 + 0.5 * 19.9 * 0.25;
  EXPECT_NEAR(at(s, 0), -3.0 / std::sqrt(1 - std::exp(-ib)), 1e-5);
  // sub-VP continuous: -out / (1 - exp(-int beta)).
  auto svp = std::make_shared<sdes::SubVPSDE>(0.1, 20.0, 1000);
  EXPECT_NEAR(at(make_score_fn(svp, model, true)(x, t), 0), -3.0 / (1 - std::exp(-ib)), 1e-5);
  // VP discrete: std from the DDPM table at long(t * 999): 499 and 249.
  auto sd = make_score_fn(vp, model, false)(x, t);
  EXPECT_NEAR(at(sd, 0), -3.0 / ddpm_std(499), 1e-5);
  EXPECT_NEAR(at(sd, 4), -3.0 / ddpm_std(249), 1e-5);
  EXPECT_NEAR(at(seen, 0), 499.5, 1e-4);
}

TEST(ScoreFn, SubVpDiscreteIsRefused) {
  auto svp = std::make_shared<sdes::SubVPSDE>(0.1, 20.0, 1000);
  sdes::ModelFn model = [](const torch::Tensor& x, const torch::Tensor&) { return x; };
  try {
    sdes::make_score_fn(svp, model, false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("subvpsde"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("continuous"), std::string::npos) << e.what();
  }
  EXPECT_THROW(sdes::model_labels(*svp, torch::ones({1}), false), Error);
}

}  // namespace
}  // namespace scorch
