// eval::fid and its scoring: FID, IS and KID from extracted features; KID needs the per-image features that
// only a folder (or pool_3) has; reference statistics written from a folder, then the FID against them.
// The Inception is randomly initialised (no downloaded weights), so the numbers only compare with each other.
#include "eval/fid.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/dist/device.h"
#include "core/dist/mpi_comm.h"
#include "core/error.h"
#include "core/io/npz.h"
#include "data/pack.h"
#include "data/synth.h"
#include "eval/feature_moments.h"
#include "eval/fid_extractor.h"
#include "eval/fid_reference.h"
#include "eval/scores.h"
#include "support/random_inception.h"
#include "support/run.h"

namespace scorch::eval {
namespace {

Extracted extracted(const torch::Tensor& features, const torch::Tensor& logits = {}) {
  FeatureMoments m(features.size(1));
  m.add(features);
  return {m.stats(), logits, features};
}

TEST(ScoreSamples, FidIsAndKidAsAsked) {
  torch::manual_seed(0);
  const auto a = extracted(torch::randn({20, 8}, torch::kDouble), torch::randn({20, 1008}, torch::kDouble));
  const auto b = extracted(torch::randn({30, 8}, torch::kDouble) + 0.5);
  const auto plain = score_samples(a, b, {}, "ref");
  EXPECT_DOUBLE_EQ(plain.at("fid").get<double>(), frechet_distance(a.stats, b.stats).fid);
  EXPECT_FALSE(plain.contains("is") || plain.contains("kid")) << plain.dump();

  ScoreOptions o;
  o.is = o.kid = true;
  o.is_splits = 2;
  o.kid_subsets = 3;
  const auto all = score_samples(a, b, o, "ref");
  EXPECT_DOUBLE_EQ(all.at("is").at("mean").get<double>(), inception_score(a.logits, 2).mean);
  EXPECT_EQ(all.at("is").at("splits"), 2);
  EXPECT_EQ(all.at("kid").at("subsets"), 3);
  EXPECT_EQ(all.at("kid").at("subset_size"), 20) << "clamped to the smaller set";
}

TEST(ScoreSamples, KidNeedsPerImageFeaturesOfTheReference) {
  const auto a = extracted(torch::randn({10, 8}, torch::kDouble));
  auto b = extracted(torch::randn({10, 8}, torch::kDouble));
  b.features = torch::Tensor();  // a mu/sigma file
  try {
    ScoreOptions kid;
    kid.kid = true;
    score_samples(a, b, kid, "ref.npz");
    FAIL() << "KID against statistics alone was computed";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("--kid needs per-image features of the reference"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("ref.npz"), std::string::npos) << e.message();
  }
}

// `scorch fid stats` then `scorch fid` as library calls. One FID only: with 2048-d features on one core the
// Frechet distance (eigh of 2048 x 2048 matrices) costs more than the small extractions.
TEST(Fid, StatsOfAFolderThenTheFidOfSamplesAgainstThem) {
  const auto dir = test::temp_dir("fid");
  dist::LocalCommunicator comm;
  data::synth_shapes(3, 16, 3, 1, "test", {dir + "/samples", 0, false}, comm);
  data::synth_shapes(4, 16, 3, 2, "test", {dir + "/ref", 0, false}, comm);
  FidOptions o;
  o.extractor.inception = test::write_random_inception(dir);
  o.extractor.device = "cpu";
  o.extractor.batch_size = 4;
  o.extractor.input_size = 80;  // a small network input keeps the test fast; the pipeline is the same

  const auto written = write_reference_stats(dir + "/ref", dir + "/ref.npz", o.extractor);
  EXPECT_EQ(written.path, dir + "/ref.npz");
  EXPECT_EQ(written.images, 4);
  const auto stats = io::npz::read_npz(dir + "/ref.npz");
  EXPECT_EQ(stats.at("sigma").sizes(), (std::vector<int64_t>{2048, 2048}));
  const auto sidecar = nlohmann::json::parse(read_file(dir + "/ref.npz.json"));
  EXPECT_EQ(sidecar.at("images"), 4);
  EXPECT_EQ(sidecar.at("preprocessing"), "tf");

  const auto r = fid(dir + "/samples", dir + "/ref.npz", o);
  const double f = r.at("fid").get<double>();
  EXPECT_TRUE(std::isfinite(f) && f > 0) << r.dump(2);
  EXPECT_EQ(r.at("samples").at("images"), 3);
  EXPECT_EQ(r.at("ref").at("images"), 4) << "from the sidecar";
  EXPECT_EQ(r.at("ref").at("path"), dir + "/ref.npz");
  EXPECT_EQ(r.at("feature_extractor").at("path"), o.extractor.inception);
  EXPECT_EQ(r.at("ranks"), 1);
  EXPECT_FALSE(r.contains("is") || r.contains("kid"));
}

// `fid --ckpts` samples between extractions under the sampling config's switches, which are process-wide
// (sampling.tf32; sampling.deterministic with its sampling.threads), so each extraction sets its own again.
// LibTorch keeps the flags on a CPU too.
TEST(FidExtractor, EachRunSetsItsOwnRuntimeAgainWhateverRanBefore) {
  const auto dir = test::temp_dir("fid-runtime");
  dist::LocalCommunicator comm;
  data::synth_shapes(2, 16, 3, 1, "test", {dir + "/samples", 0, false}, comm);
  ExtractorSettings s;
  s.inception = test::write_random_inception(dir);
  s.device = "cpu";
  s.input_size = 80;
  auto& ctx = at::globalContext();
  const int threads_before = torch::get_num_threads();
  for (const bool tf32 : {false, true}) {
    s.precision = tf32 ? "tf32" : "fp32";
    FidExtractor ex(s);
    const int threads = torch::get_num_threads();
    // What a deterministic sampler run between two extractions leaves behind.
    dist::set_tf32(!tf32);
    torch::set_num_threads(threads + 1);
    ctx.setDeterministicAlgorithms(true, /*warn_only=*/false);
    ctx.setDeterministicCuDNN(true);
    EXPECT_EQ(ex.run(dir + "/samples", false, false).stats.count, 2);
    EXPECT_EQ(ctx.allowTF32CuBLAS(), tf32) << s.precision;
    EXPECT_EQ(ctx.allowTF32CuDNN(), tf32) << s.precision;
    EXPECT_EQ(torch::get_num_threads(), threads) << s.precision;
    EXPECT_FALSE(ctx.deterministicAlgorithms()) << s.precision;
    EXPECT_FALSE(ctx.deterministicCuDNN()) << s.precision;
  }
  dist::set_tf32(false);
  torch::set_num_threads(threads_before);
}

}  // namespace
}  // namespace scorch::eval
