// `scorch fid` as users run it: plain refusals (no weights, wrong npz keys) and a small end-to-end run.
#include <gtest/gtest.h>
#include <stb_image_write.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/io/npz.h"
#include "eval/inception_weights.h"
#include "support/prerequisite.h"
#include "support/random_inception.h"
#include "support/run.h"

namespace scorch::eval {
namespace {

std::string image_dir(const std::string& root, int count, int seed) {
  const std::string dir = root + "/img" + std::to_string(seed);
  std::filesystem::create_directories(dir);
  torch::manual_seed(seed);
  for (int i = 0; i < count; ++i) {
    auto img = torch::randint(0, 256, {16, 16, 3}).to(torch::kByte).contiguous();
    stbi_write_png((dir + "/" + std::to_string(i) + ".png").c_str(), 16, 16, 3, img.data_ptr(), 16 * 3);
  }
  return dir;
}

TEST(FidCommand, WithoutWeightsItRefusesAndSaysHowToGetThem) {
  const auto root = test::temp_dir("fidcmd");
  const auto dir = image_dir(root, 2, 0);
  auto r = test::run("SCORCH_FID_WEIGHTS=" + root + "/missing.pt " + test::scorch_bin() + " fid stats --data " + dir +
                     " --out " + root + "/s.npz");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("not found"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("launch/setup"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(root + "/s.npz"));
}

TEST(FidCommand, RejectsReferenceFilesWithWrongKeysOrShapes) {
  const auto root = test::temp_dir("fidcmd");
  const auto dir = image_dir(root, 2, 0);
  io::npz::write_npz(root + "/bad.npz", {{"means", torch::zeros({2048}, torch::kDouble)}});
  auto r = test::run(test::scorch_bin() + " fid --samples " + dir + " --ref " + root + "/bad.npz");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("expected keys mu + sigma"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("means"), std::string::npos) << r.output;
  io::npz::write_npz(root + "/shape.npz", {{"mu", torch::zeros({2048}, torch::kDouble)},
                                           {"sigma", torch::zeros({2048, 2047}, torch::kDouble)}});
  r = test::run(test::scorch_bin() + " fid --samples " + dir + " --ref " + root + "/shape.npz");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("sigma must be (2048, 2048)"), std::string::npos) << r.output;
}

// A reference that cannot give KID (mu/sigma only) is refused before the samples are read, not after their
// extraction; statistics of other Inception weights (their sidecar says which) are scored with a warning.
TEST(FidCommand, KidAgainstStatisticsAndOtherWeightsAreCaughtUpFront) {
  const auto root = test::temp_dir("fidcmd");
  const auto weights = test::write_random_inception(root);
  io::npz::write_npz(root + "/ms.npz",
                     {{"mu", torch::zeros({2048}, torch::kDouble)}, {"sigma", torch::eye(2048, torch::kDouble)}});
  const auto bin = test::scorch_bin() + " fid --inception " + weights + " --batch-size 2 --ref " + root + "/ms.npz";
  std::filesystem::create_directories(root + "/no-images");  // reading the samples would fail on it
  auto r = test::run(bin + " --samples " + root + "/no-images --kid 2>&1");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--kid needs per-image features of the reference"), std::string::npos) << r.output;
  r = test::run(bin + " --samples " + image_dir(root, 2, 0) + " --is --is-splits 0 2>&1");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--is-splits"), std::string::npos) << r.output;

  std::ofstream(root + "/ms.npz.json")
      << R"J({"feature_extractor": {"weights": "pt_inception.pth (1 bytes, crc32 0)"}})J";
  r = test::run(bin + " --samples " + image_dir(root, 2, 0) + " --out " + root + "/r.json 2>&1", 600);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("was computed with the Inception weights pt_inception.pth (1 bytes, crc32 0), this run "
                          "extracts with inception.safetensors"),
            std::string::npos)
      << r.output;
}

// The real 299 path end to end with installed weights: stats of one folder, FID of it against itself
// (0 up to the round-off of a singular 3-image covariance) in the JSON result.
TEST(FidCommand, StatsThenFidOfAFolderAgainstItself) {
  try {
    default_weights_path();
  } catch (const Error&) {
    SCORCH_REQUIRE_PREREQUISITE(false, "no real FID weights installed (launch/setup)");
  }
  const auto root = test::temp_dir("fidcmd");
  const auto dir = image_dir(root, 3, 1);
  auto r = test::run(test::scorch_bin() + " fid stats --data " + dir + " --out " + root + "/ref.npz", 600);
  ASSERT_EQ(r.code, 0) << r.output;
  auto ref = io::npz::read_npz(root + "/ref.npz");
  EXPECT_EQ(ref.at("sigma").sizes(), (std::vector<int64_t>{2048, 2048}));
  EXPECT_EQ(ref.at("mu").scalar_type(), torch::kDouble);
  r = test::run(test::scorch_bin() + " fid --samples " + dir + " --ref " + root + "/ref.npz --out " + root + "/r.json",
                600);
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string json = test::run("cat " + root + "/r.json").output;
  EXPECT_NE(json.find("\"preprocessing\": \"tf\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"images\": 3"), std::string::npos) << json;
  // The reference's image count comes from scorch's sidecar ref.npz.json (the .npz itself has none).
  const auto result = nlohmann::json::parse(json, nullptr, false);
  ASSERT_TRUE(result.is_object()) << json;
  EXPECT_EQ(result["ref"]["images"], 3) << json;
  EXPECT_NE(r.output.find("3 and 3 images"), std::string::npos) << r.output;
  const auto at = json.find("\"fid\": ");
  ASSERT_NE(at, std::string::npos) << json;
  // 3 images: rank-2 covariances, so the eigh route takes square roots of ~2046 round-off eigenvalues;
  // zero to 1e-5 of the total variance 2 Tr(Sigma): with N < 2048 float64 routes disagree with scipy's
  // sqrtm at 1e-4..1e-5 relative (full-rank FID(X, X) is tested to 1e-9 in frechet_test).
  const double variance = 2 * ref.at("sigma").trace().item<double>();
  EXPECT_NEAR(std::stod(json.substr(at + 7)), 0.0, 1e-5 * variance) << json;
  // A reference made with the other preprocessing is refused rather than mixed.
  r = test::run(test::scorch_bin() + " fid --samples " + dir + " --ref " + root +
                "/ref.npz --preprocessing pytorch-fid");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("mix two pipelines"), std::string::npos) << r.output;
}

// A dataset dir in the HDF5 shard format (here two shards from `scorch data synth`) is read through data/.
TEST(FidCommand, ReadsHdf5DatasetDirs) {
  try {
    default_weights_path();
  } catch (const Error&) {
    SCORCH_REQUIRE_PREREQUISITE(false, "no real FID weights installed (launch/setup)");
  }
  const auto root = test::temp_dir("fidcmd");
  auto r = test::run(test::scorch_bin() + " data synth shapes --out " + root + "/ds --count 5 --resolution 32 " +
                     "--channels 1 --shard-size 3");
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::run(test::scorch_bin() + " fid stats --data " + root + "/ds --out " + root + "/s.npz", 600);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("(5 images, preprocessing tf)"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace scorch::eval
