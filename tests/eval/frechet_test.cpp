// Fréchet distance: zero for equal statistics, closed forms, order invariance, and scipy's sqrtm route.
#include "eval/frechet.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/io/npz.h"
#include "eval/feature_moments.h"
#include "support/prerequisite.h"
#include "support/run.h"

namespace scorch::eval {
namespace {

// Features with a full-rank, unequal-eigenvalue covariance: (n, d) float64.
torch::Tensor features(int64_t n, int64_t d, double shift, uint64_t seed) {
  torch::manual_seed(seed);
  auto mix = torch::randn({d, d}, torch::kDouble) / std::sqrt(static_cast<double>(d));
  return torch::relu(torch::randn({n, d}, torch::kDouble).matmul(mix) + shift);
}

GaussianStats stats_of(const torch::Tensor& f) {
  FeatureMoments m(f.size(1));
  m.add(f);
  return m.stats();
}

TEST(Frechet, MomentsMatchMeanAndUnbiasedCovariance) {
  auto f = features(300, 16, 0.3, 1);
  auto s = stats_of(f);
  EXPECT_TRUE(torch::allclose(s.mu, f.mean(0), 0, 1e-14));
  EXPECT_TRUE(torch::allclose(s.sigma, torch::cov(f.t()), 0, 1e-13));  // np.cov, ddof 1
  EXPECT_EQ(s.count, 300);
}

TEST(Frechet, SameStatisticsGiveZero) {
  auto s = stats_of(features(3000, 256, 0.3, 2));
  auto r = frechet_distance(s, s);
  // Tr S - 2 Tr sqrt(S S) + Tr S cancels to float64 round-off of the trace (about 1e-16 * Tr S * d).
  EXPECT_NEAR(r.fid, 0.0, 1e-9 * s.sigma.trace().item<double>());
  EXPECT_EQ(r.route, "cholesky");
}

TEST(Frechet, ImageOrderDoesNotMatter) {
  auto f = features(1000, 64, 0.3, 3);
  auto g = features(1000, 64, 0.5, 4);
  auto perm = torch::randperm(1000, torch::kLong);
  const double a = frechet_distance(stats_of(f), stats_of(g)).fid;
  const double b = frechet_distance(stats_of(f.index({perm})), stats_of(g)).fid;
  EXPECT_NEAR(a, b, 1e-10 * a);
}

// Covariances sharing eigenvectors: Tr sqrt(S1 S2) = sum sqrt(a_i b_i), so
// FID = |mu1 - mu2|^2 + sum (a_i + b_i - 2 sqrt(a_i b_i)).
TEST(Frechet, MatchesTheClosedFormForCommutingCovariances) {
  torch::manual_seed(5);
  const int64_t d = 128;
  auto q = std::get<0>(torch::linalg_qr(torch::randn({d, d}, torch::kDouble)));
  auto a = torch::rand({d}, torch::kDouble) * 2 + 0.01, b = torch::rand({d}, torch::kDouble) * 3 + 0.01;
  GaussianStats s1{torch::randn({d}, torch::kDouble), q.matmul(torch::diag(a)).matmul(q.t()), 0};
  GaussianStats s2{torch::randn({d}, torch::kDouble), q.matmul(torch::diag(b)).matmul(q.t()), 0};
  const double expected =
      (s1.mu - s2.mu).pow(2).sum().item<double>() + (a + b - 2 * (a * b).sqrt()).sum().item<double>();
  EXPECT_NEAR(frechet_distance(s1, s2).fid, expected, 1e-10 * expected);
}

TEST(Frechet, SingularCovarianceTakesTheRobustRoute) {
  auto s1 = stats_of(features(100, 256, 0.3, 6));  // rank <= 99 < 256
  auto s2 = stats_of(features(100, 256, 0.4, 7));
  auto r = frechet_distance(s1, s2);
  EXPECT_TRUE(r.rank_deficient);
  EXPECT_EQ(r.route, "eigh");
  EXPECT_TRUE(std::isfinite(r.fid));
  EXPECT_GT(r.fid, 0);
}

TEST(Frechet, RejectsMismatchedShapes) {
  EXPECT_THROW(checked_stats(torch::zeros({4}), torch::zeros({3, 3}), 0, "x"), Error);
  EXPECT_THROW(checked_stats(torch::zeros({4, 1}), torch::zeros({4, 4}), 0, "x"), Error);
}

// Independent computation: scipy.linalg.sqrtm of the non-symmetric product (pytorch-fid's formula).
TEST(Frechet, AgreesWithScipySqrtmToOneMillionth) {
  const std::string py = test::python();
  SCORCH_REQUIRE_PREREQUISITE(!py.empty() && test::run(py + " -c 'import scipy.linalg, numpy'").code == 0,
                              "no Python scipy");
  auto dir = test::temp_dir("frechet");
  auto s1 = stats_of(features(4000, 512, 0.3, 8));
  auto s2 = stats_of(features(4000, 512, 0.35, 9));
  io::npz::write_npz(dir + "/s.npz", {{"mu1", s1.mu}, {"sigma1", s1.sigma}, {"mu2", s2.mu}, {"sigma2", s2.sigma}});
  auto r =
      test::run(py + " -c \"\nimport numpy as np, scipy.linalg\nd = np.load('" + dir +
                    "/s.npz')\n"
                    "c, _ = scipy.linalg.sqrtm(d['sigma1'] @ d['sigma2'], disp=False)\n"
                    "m = ((d['mu1'] - d['mu2'])**2).sum()\n"
                    "print(repr(float(m + np.trace(d['sigma1']) + np.trace(d['sigma2']) - 2*np.trace(c.real))))\n\"",
                300);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto last = r.output.find_last_of("\n", r.output.size() - 2);  // warnings may precede the number
  const double scipy_fid = std::stod(r.output.substr(last == std::string::npos ? 0 : last + 1));
  const double ours = frechet_distance(s1, s2).fid;
  EXPECT_NEAR(ours, scipy_fid, 1e-6 * std::abs(scipy_fid)) << "scipy " << scipy_fid << " ours " << ours;
}

}  // namespace
}  // namespace scorch::eval
