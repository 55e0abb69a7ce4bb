// Gaussian-kernel MMD against its closed form for two unit Gaussians in D dimensions a distance delta apart:
// E k(x, x') = (h^2 / (h^2 + 2))^(D/2), E k(x, y) = that times exp(-delta^2 / (2 (h^2 + 2))), so
// MMD^2 = 2 (h^2 / (h^2 + 2))^(D/2) (1 - exp(-delta^2 / (2 (h^2 + 2)))). The estimator is unbiased; with
// 2000 points a side its standard deviation is below 0.002 here, so 0.01 is 5 of them.
#include "eval/mmd.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace scorch::eval {
namespace {

double closed_form(double delta, double h, int d) {
  const double c = std::pow(h * h / (h * h + 2), d / 2.0);
  return 2 * c * (1 - std::exp(-delta * delta / (2 * (h * h + 2))));
}

TEST(Mmd, MatchesTheClosedFormForShiftedGaussians) {
  const int d = 2;
  const double h = 1.5;
  torch::manual_seed(5);
  const auto x = torch::randn({2000, d}, torch::kFloat64);
  for (const double delta : {0.0, 0.5, 2.0}) {
    auto shift = torch::zeros({d}, torch::kFloat64);
    shift[0] = delta;
    const auto y = torch::randn({2000, d}, torch::kFloat64) + shift;
    EXPECT_NEAR(mmd2_gaussian(x, y, h), closed_form(delta, h, d), 0.01) << "delta " << delta;
  }
}

TEST(Mmd, MedianBandwidthAndBadInput) {
  torch::manual_seed(6);
  const auto x = torch::randn({500, 2}, torch::kFloat64), y = torch::randn({500, 2}, torch::kFloat64) + 3;
  EXPECT_GT(mmd2_gaussian(x, y), 0.1);
  EXPECT_LT(std::abs(mmd2_gaussian(x, torch::randn({500, 2}, torch::kFloat64))), 0.01);
  // The median distance of two standard 2-D Gaussian sets is sqrt(2) * the median of a chi with 2 degrees of
  // freedom, 2 sqrt(ln 2) = 1.665.
  EXPECT_NEAR(median_distance(torch::randn({1500, 2}, torch::kFloat64), torch::randn({1500, 2}, torch::kFloat64)),
              1.665, 0.05);
  EXPECT_THROW(mmd2_gaussian(x, torch::randn({500, 3})), Error);
  EXPECT_THROW(mmd2_gaussian(x.narrow(0, 0, 1), y), Error);
}

}  // namespace
}  // namespace scorch::eval
