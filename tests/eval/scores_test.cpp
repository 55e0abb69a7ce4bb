// Inception Score and KID: values that follow from their definitions.
#include "eval/scores.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace scorch::eval {
namespace {

TEST(InceptionScore, UniformPredictionsScoreOne) {
  auto r = inception_score(torch::zeros({100, 1008}, torch::kDouble), 10);
  EXPECT_NEAR(r.mean, 1.0, 1e-12);
  EXPECT_NEAR(r.std, 0.0, 1e-12);
}

// Confident predictions spread evenly over K classes inside each split: IS = K per split.
TEST(InceptionScore, ConfidentEvenPredictionsScoreTheClassCount) {
  const int64_t k = 8, per = 40;
  auto logits = torch::full({per * 2, 1008}, -200.0, torch::kDouble);
  for (int64_t i = 0; i < per * 2; ++i) logits.index_put_({i, i % k}, 200.0);
  auto r = inception_score(logits, 2);
  EXPECT_NEAR(r.mean, static_cast<double>(k), 1e-9);
  // With one split the same: splits are contiguous chunks of the given order.
  EXPECT_NEAR(inception_score(logits, 1).mean, static_cast<double>(k), 1e-9);
}

TEST(InceptionScore, SplitsAreContiguousChunks) {
  // First half all class 0, second half all class 1: each split is one class (IS 1), one split gives 2.
  auto logits = torch::full({20, 1008}, -200.0, torch::kDouble);
  logits.slice(0, 0, 10).select(1, 0).fill_(200.0);
  logits.slice(0, 10, 20).select(1, 1).fill_(200.0);
  EXPECT_NEAR(inception_score(logits, 2).mean, 1.0, 1e-9);
  EXPECT_NEAR(inception_score(logits, 1).mean, 2.0, 1e-9);
  EXPECT_THROW(inception_score(logits, 21), Error);
}

// With subsets covering each whole set, every subset gives the same unbiased MMD^2; check it against
// the definition written as explicit loops.
TEST(Kid, MatchesTheUnbiasedMmdDefinition) {
  torch::manual_seed(0);
  const int64_t n = 30, d = 16;
  auto x = torch::randn({n, d}, torch::kDouble), y = torch::randn({n, d}, torch::kDouble) + 0.3;
  auto k = [&](const torch::Tensor& a, const torch::Tensor& b) { return std::pow(a.dot(b).item<double>() / d + 1, 3); };
  double xx = 0, yy = 0, xy = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      if (i != j) xx += k(x[i], x[j]), yy += k(y[i], y[j]);
      xy += k(x[i], y[j]);
    }
  const double expected = (xx + yy) / (n * (n - 1.0)) - 2 * xy / (n * n);
  auto r = kernel_inception_distance(x, y, KidOptions{3, 1000, 1});
  EXPECT_NEAR(r.mean, expected, 1e-10 * std::abs(expected));
  EXPECT_NEAR(r.std, 0.0, 1e-10 * std::abs(expected));
}

TEST(Kid, SameDistributionIsNearZeroAndShiftIsPositive) {
  torch::manual_seed(1);
  auto a = torch::randn({400, 32}, torch::kDouble), b = torch::randn({400, 32}, torch::kDouble);
  auto same = kernel_inception_distance(a, b, KidOptions{20, 200, 2});
  auto shifted = kernel_inception_distance(a, b + 1.0, KidOptions{20, 200, 2});
  EXPECT_LT(std::abs(same.mean), 3 * same.std + 1e-3);
  EXPECT_GT(shifted.mean, 10 * std::abs(same.mean));
}

}  // namespace
}  // namespace scorch::eval
