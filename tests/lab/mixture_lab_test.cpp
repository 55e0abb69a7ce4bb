// The 2-D mixture lab end to end: what it writes, and that its table shows what the theory says. Seeded, so
// the figures are the same on every run; the tolerances are those of the sampling error all the same.
#include "lab/mixture_lab.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "support/checks.h"
#include "support/run.h"

namespace scorch::lab {
namespace {

const LabRow& row(const MixtureLabReport& r, const std::string& score, const std::string& sampler) {
  for (const auto& x : r.rows)
    if (x.score == score && x.sampler == sampler) return x;
  throw std::runtime_error("no row " + score + " / " + sampler);
}

// 250 training steps: the learned score is good where the data is (the errors below), so PC and annealed
// Langevin on it recover the weight 0.8 as the exact score does, while plain Langevin on either splits the
// starting points at the basin boundary (0.51 for the exact score).
TEST(MixtureLab, TheTableShowsThePitfallAndItsCure) {
  const auto dir = test::temp_dir("lab");
  MixtureLabOptions o;
  o.out = dir;
  o.config = test::source_dir() + "/configs/small/mixture_mlp.yaml";
  o.steps = 250;
  o.points = 600;
  const auto r = run_mixture_lab(o);
  for (const char* f : {"samples.png", "scores.png", "table.md", "table.json", "data/manifest.json"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
  EXPECT_NE(read_file(dir + "/table.md").find("| learned | PC |"), std::string::npos);
  // Which network the learned rows are of: a rerun with fewer --steps resumes this one.
  EXPECT_EQ(r.trained_steps, 250);
  EXPECT_NE(read_file(dir + "/table.md").find("after 250 training steps"), std::string::npos);
  ASSERT_EQ(r.rows.size(), 8u);
  const double se = std::sqrt(0.16 / o.points);
  for (const char* sampler : {"PC", "ODE (RK45)"}) {
    EXPECT_NEAR(row(r, "exact", sampler).weight, 0.8, 4 * se + 0.01) << sampler;
    EXPECT_LT(row(r, "exact", sampler).mmd2, 0.01) << sampler;
  }
  // Annealed Langevin ends at sigma = 1 (the data widened to std sqrt(2)) with a finite-step bias of 0.015.
  EXPECT_NEAR(row(r, "exact", "annealed Langevin").weight, 0.8, 4 * se + 0.03);
  EXPECT_NEAR(row(r, "learned", "PC").weight, 0.8, 4 * se + 0.03);
  EXPECT_NEAR(row(r, "learned", "annealed Langevin").weight, 0.8, 4 * se + 0.03);
  for (const char* score : {"exact", "learned"}) {
    EXPECT_LT(row(r, score, "Langevin, one level").weight, 0.65) << score;
    EXPECT_GT(row(r, score, "Langevin, one level").mmd2, 0.05) << score;
  }
  EXPECT_LT(std::abs(r.mmd2_baseline), 0.005);
  ASSERT_FALSE(r.score_error.empty());
  for (const auto& [sigma, e] : r.score_error) {
    if (sigma >= 0.5) {
      EXPECT_LT(e, 0.2) << "sigma " << sigma;
    }
  }
}

TEST(MixtureLab, RefusesAMissingConfigAndADiscreteOne) {
  MixtureLabOptions o;
  o.out = test::temp_dir("lab-refusals");
  o.config = "/nonexistent/mixture.yaml";
  test::expect_error_containing([&] { run_mixture_lab(o); }, "config /nonexistent/mixture.yaml does not exist");
  o.config = test::source_dir() + "/configs/small/mixture_mlp.yaml";
  o.sets = {"training.continuous=false"};
  test::expect_error_containing([&] { run_mixture_lab(o); }, "with training.continuous false");
}

// A rerun in the same --out reuses the data only with the seed they were drawn with: another --seed took the old
// data and ran without a word. (The discrete config is refused after the data are written, so nothing trains here.)
TEST(MixtureLab, ARerunWithAnotherSeedIsRefused) {
  MixtureLabOptions o;
  o.out = test::temp_dir("lab-seed");
  o.config = test::source_dir() + "/configs/small/mixture_mlp.yaml";
  o.sets = {"training.continuous=false"};
  test::expect_error_containing([&] { run_mixture_lab(o); }, "with training.continuous false");
  o.seed = 5;
  test::expect_error_containing([&] { run_mixture_lab(o); },
                                "holds the data of `scorch lab mixture --seed 0`, not of --seed 5");
  o.seed = 0;
  test::expect_error_containing([&] { run_mixture_lab(o); }, "with training.continuous false");
  // --steps is a positive count: -5 used to train the config's steps, 0 to tabulate an untrained network.
  for (const char* steps : {"0", "-5"}) {
    const auto r = test::run(test::scorch_bin() + " lab mixture --out " + o.out + " --steps " + steps + " 2>&1");
    EXPECT_NE(r.code, 0) << steps;
    EXPECT_NE(r.output.find("--steps"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("must be a positive count"), std::string::npos) << r.output;
  }
}

}  // namespace
}  // namespace scorch::lab
