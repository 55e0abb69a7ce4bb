// Synthetic sets: mixture points follow the stored mixture; shapes are deterministic from the seed.
#include "data/synth.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/sha256.h"
#include "data/dataset.h"
#include "data_test_util.h"
#include "support/run.h"

namespace scorch::data {
namespace {

TEST(Synth, MixtureManifestGivesExactScore) {
  const auto dir = test::temp_dir("mixture");
  synth_mixture(make_mixture(2, 8, 1), 4000, 1, "test", {dir, 1000, false}, *test_util::local_comm());
  Dataset ds(dir);
  EXPECT_EQ(ds.manifest().kind, "points");
  const auto mix = Mixture::from_json(ds.manifest().extra["mixture"]);
  // Component means recovered from the points (labels = component): within 4 standard errors.
  std::vector<int64_t> all(4000);
  for (int64_t i = 0; i < 4000; ++i) all[i] = i;
  const auto x = ds.read_items(all).to(torch::kDouble), y = ds.read_labels(all);
  for (int c = 0; c < 8; ++c) {
    const auto sel = x.index({y == c});
    ASSERT_GT(sel.size(0), 300);
    const double tol = 4 * 0.5 / std::sqrt(double(sel.size(0)));
    EXPECT_NEAR(sel.select(1, 0).mean().item<double>(), mix.means[c][0], tol);
    EXPECT_NEAR(sel.select(1, 1).mean().item<double>(), mix.means[c][1], tol);
  }
  // The analytic score matches a central finite difference of log p (h = 1e-5, error O(h^2)).
  std::vector<double> p{0.3, -1.2}, score;
  mix.log_density(p, &score);
  for (int d = 0; d < 2; ++d) {
    auto a = p, b = p;
    a[d] += 1e-5, b[d] -= 1e-5;
    EXPECT_NEAR(score[d], (mix.log_density(a, nullptr) - mix.log_density(b, nullptr)) / 2e-5, 1e-6);
  }
}

// NaN compares false with everything, so "positive" checks let it through: a mixture of NaN means or infinite
// spreads wrote NaN points and a manifest with null parameters.
TEST(Synth, MixtureParametersMustBeFinite) {
  const double nan = std::nan(""), inf = INFINITY;
  expect_error([&] { mixture_from_lists(1, {1}, {nan}, {1}); }, {"--means must be finite, got nan"});
  expect_error([&] { mixture_from_lists(1, {1}, {0}, {inf}); }, {"--stds must be positive and finite, got inf"});
  expect_error([&] { mixture_from_lists(1, {1}, {0}, {nan}); }, {"--stds must be positive and finite, got nan"});
  expect_error([&] { mixture_from_lists(1, {nan}, {0}, {1}); }, {"--weights must be positive"});
  EXPECT_NO_THROW(mixture_from_lists(1, {1}, {-3}, {0.5}));
}

TEST(Synth, ShapesAreDeterministicAtAnyResolution) {
  const auto a = test::temp_dir("shapes_a"), b = test::temp_dir("shapes_b");
  auto comm = test_util::local_comm();
  synth_shapes(50, 24, 3, 9, "test", {a, 0, false}, *comm);
  synth_shapes(50, 24, 3, 9, "test", {b, 0, false}, *comm);
  EXPECT_EQ(sha256_file(a + "/shard-00000.h5"), sha256_file(b + "/shard-00000.h5"));
  Dataset ds(a);
  std::vector<int> per_class(kShapeClasses, 0);
  for (int64_t i = 0; i < 50; ++i) per_class.at(ds.label(i))++;
  for (int c = 0; c < kShapeClasses; ++c) EXPECT_GT(per_class[c], 0) << c;
  std::vector<uint8_t> big(100 * 100);
  int64_t label = -1;
  draw_shape(9, 3, 100, 1, big.data(), &label);
  EXPECT_EQ(label, ds.label(3));
}

}  // namespace
}  // namespace scorch::data
