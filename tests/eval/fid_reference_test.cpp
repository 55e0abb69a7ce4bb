// Reference .npz files: mu/sigma with scorch's sidecar (image count, preprocessing check), score_sde's raw
// pool_3 activations (statistics and per-image features), statistics of the wrong dimension.
#include "eval/fid_reference.h"

#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/npz.h"
#include "support/run.h"

namespace scorch::eval {
namespace {

TEST(ReadReferenceStats, MuSigmaTakeTheImageCountAndPreprocessingFromTheSidecar) {
  const auto path = test::temp_dir("fidref") + "/ref.npz";
  io::npz::write_npz(path, {{"mu", torch::zeros({2048}, torch::kDouble)}, {"sigma", torch::eye(2048, torch::kDouble)}});
  auto ref = read_reference_stats(path, "tf");
  EXPECT_EQ(ref.stats.count, 0) << "pytorch-fid's .npz does not say how many images it summarises";
  EXPECT_FALSE(ref.features.defined());

  write_file_atomic(path + ".json", R"({"preprocessing": "tf", "images": 7})");
  EXPECT_EQ(read_reference_stats(path, "tf").stats.count, 7);
  try {
    read_reference_stats(path, "pytorch-fid");
    FAIL() << "statistics of another preprocessing were accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("the FID would mix two pipelines"), std::string::npos) << e.message();
    EXPECT_EQ(e.hint(), "pass --preprocessing tf");
  }
}

TEST(ReadReferenceStats, Pool3ActivationsGiveStatisticsAndPerImageFeatures) {
  const auto path = test::temp_dir("fidref") + "/pool3.npz";
  auto act = torch::randn({5, 1, 1, 2048});  // (N, 1, 1, 2048) float32, as TF writes them
  io::npz::write_npz(path, {{"pool_3", act}});
  const auto ref = read_reference_stats(path, "tf");
  EXPECT_EQ(ref.stats.count, 5);
  ASSERT_TRUE(ref.features.defined());
  EXPECT_EQ(ref.features.sizes(), (std::vector<int64_t>{5, 2048}));
  EXPECT_EQ(ref.features.scalar_type(), torch::kDouble);
  EXPECT_TRUE(torch::allclose(ref.stats.mu, act.flatten(1).to(torch::kDouble).mean(0)));
}

TEST(ReadReferenceStats, RefusesStatisticsOfAnotherDimension) {
  const auto path = test::temp_dir("fidref") + "/small.npz";
  io::npz::write_npz(path, {{"mu", torch::zeros({10}, torch::kDouble)}, {"sigma", torch::eye(10, torch::kDouble)}});
  try {
    read_reference_stats(path, "tf");
    FAIL() << "10-d statistics were accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("statistics are 10-d"), std::string::npos) << e.message();
  }
}

}  // namespace
}  // namespace scorch::eval
