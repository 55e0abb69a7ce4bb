// `scorch data …` end to end: pack (also under mpirun -np 2, byte-identical), verify, info, export.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"
#include "core/io/image_io.h"
#include "core/io/npz.h"
#include "data/dataset.h"
#include "data/format.h"
#include "support/prerequisite.h"
#include "support/run.h"

namespace scorch::data {
namespace {

namespace fs = std::filesystem;

test::RunResult scorch(const std::string& args) { return test::run(test::scorch_bin() + " " + args + " 2>&1", 300); }

TEST(DataCli, FashionMnistPackVerifyInfoExport) {
  const std::string root = "/usr/share/datasets/fashion-mnist/";
  SCORCH_REQUIRE_PREREQUISITE(fs::exists(root + "train-images-idx3-ubyte.gz"), "dataset-fashion-mnist not installed");
  const auto dir = test::temp_dir("cli_fmnist");
  auto r = scorch("data pack " + root + "train-images-idx3-ubyte.gz --labels " + root +
                  "train-labels-idx1-ubyte.gz --out " + dir + "/fm --shard-size 20000");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto m = read_manifest(dir + "/fm");
  EXPECT_EQ(m.count, 60000);
  EXPECT_EQ(m.shards.size(), 3u);
  // The command `data info` shows runs again as it is (it used to add .npz keys that IDX input refuses) and
  // packs the same bytes.
  auto again = m.command;
  ASSERT_EQ(again.rfind("scorch ", 0), 0u) << again;
  const auto out = again.find("--out " + dir + "/fm ");
  ASSERT_NE(out, std::string::npos) << again;
  again.replace(out, 6 + dir.size() + 3, "--out " + dir + "/fm2");
  r = scorch(again.substr(7));
  ASSERT_EQ(r.code, 0) << again << "\n" << r.output;
  const auto m2 = read_manifest(dir + "/fm2");
  for (size_t i = 0; i < m.shards.size(); ++i) EXPECT_EQ(m2.shards.at(i).sha256, m.shards[i].sha256) << i;
  r = scorch("data verify " + dir + "/fm");
  EXPECT_EQ(r.code, 0) << r.output;
  r = scorch("data info " + dir + "/fm");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("[28, 28, 1]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("classes   10\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("      9      6000   10.0%"), std::string::npos) << r.output;  // Fashion-MNIST is balanced
  r = scorch("data export " + dir + "/fm --out " + dir + "/png --count 10");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir + "/png/000009.png"));
  EXPECT_EQ(io::read_image(dir + "/png/grid.png", 0).channels, 1);
}

// A count or size that cannot be (0 or negative) is refused naming the flag: each of these was taken as if the flag
// were absent (0 is those flags' "unset") and packed, synthesised or exported everything without a word; so was an
// option of the other synthetic kind. A grid of 0 stays valid (no grid).
TEST(DataCli, CountsAndSizesMustBePositive) {
  const auto dir = test::temp_dir("cli_counts");
  ASSERT_EQ(scorch("data synth shapes --out " + dir + "/s --count 8 --resolution 8 --channels 1").code, 0);
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"data pack " + dir + "/s --out " + dir + "/p --resolution 0", "--resolution"},
      {"data pack " + dir + "/s --out " + dir + "/p --pad -8", "--pad"},
      {"data pack " + dir + "/s --out " + dir + "/p --crop 0", "--crop"},
      {"data pack " + dir + "/s --out " + dir + "/p --shard-size -1", "--shard-size"},
      {"data synth shapes --out " + dir + "/q --count -5", "--count"},
      {"data synth shapes --out " + dir + "/q --count 8 --shard-size 0", "--shard-size"},
      {"data synth shapes --out " + dir + "/q --count 8 --resolution 0", "--resolution"},
      {"data synth mixture --out " + dir + "/q --count 8 --components 0", "--components"},
      {"data export " + dir + "/s --out " + dir + "/e --count 0", "--count"},
      {"data export " + dir + "/s --out " + dir + "/e --grid-size -5", "--grid-size"},
      // An option of the other kind was ignored.
      {"data synth shapes --out " + dir + "/q --count 8 --dim 5",
       "--dim is an option of `scorch data synth mixture`, not of shapes"},
      {"data synth mixture --out " + dir + "/q --count 8 --resolution 64",
       "--resolution is an option of `scorch data synth shapes`, not of mixture"}};
  for (const auto& [args, flag] : refused) {
    const auto r = scorch(args);
    EXPECT_NE(r.code, 0) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(flag), std::string::npos) << args << "\n" << r.output;
  }
  for (const char* name : {"/p", "/q", "/e"}) EXPECT_FALSE(fs::exists(dir + name)) << name;
  EXPECT_NE(scorch("data export " + dir + "/s --out " + dir + "/e --count 0")
                .output.find("--count: must be a positive count, got 0"),
            std::string::npos);
  auto r = scorch("data export " + dir + "/s --out " + dir + "/e --count 2 --grid-size 0");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir + "/e/000001.png"));
  EXPECT_FALSE(fs::exists(dir + "/e/grid.png"));
  // Into a folder that holds files: refused (they would stay among the new images), or with --overwrite an earlier
  // export's files go first; a file no export wrote is still refused.
  r = scorch("data export " + dir + "/s --out " + dir + "/e --count 1 --grid-size 0");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find(dir + "/e holds 2 file(s)"), std::string::npos) << r.output;
  r = scorch("data export " + dir + "/s --out " + dir + "/e --count 1 --grid-size 0 --overwrite");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir + "/e/000000.png"));
  EXPECT_FALSE(fs::exists(dir + "/e/000001.png"));
  std::ofstream(dir + "/e/notes.txt") << "mine";
  r = scorch("data export " + dir + "/s --out " + dir + "/e --count 1 --overwrite");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("holds 1 file(s) that no export wrote"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir + "/e/notes.txt"));
  EXPECT_TRUE(fs::exists(dir + "/e/000000.png")) << "a refusal removes nothing";
  fs::remove(dir + "/e/notes.txt");
  // Arguments that would write nothing are refused before the earlier export is touched (it used to be removed
  // first); a killed export's hidden leftover does not block the next one, which leaves no staging behind.
  r = scorch("data export " + dir + "/s --out " + dir + "/e --grid-only --grid-size 0 --overwrite");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(fs::exists(dir + "/e/000000.png")) << r.output;
  std::ofstream(dir + "/e/.000001.png.tmp-12345") << "killed";
  r = scorch("data export " + dir + "/s --out " + dir + "/e --count 2 --grid-size 0 --overwrite");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir + "/e/000001.png"));
  EXPECT_FALSE(fs::exists(dir + "/e/.incoming"));
  // An --out that is a file is named.
  std::ofstream(dir + "/afile") << "x";
  r = scorch("data export " + dir + "/s --out " + dir + "/afile");
  EXPECT_NE(r.output.find("--out '" + dir + "/afile' is a file, not a directory"), std::string::npos) << r.output;
}

// A folder with one sub-folder per class packs with labels (classes in byte order of their names), and
// `data info` counts them by name.
TEST(DataCli, FolderClassesBecomeLabelsThatInfoCounts) {
  const auto dir = test::temp_dir("cli_classes");
  const std::vector<std::pair<std::string, int>> classes = {{"dog", 3}, {"cat", 2}, {"zebra", 1}};
  for (const auto& [name, n] : classes) {
    fs::create_directories(dir + "/in/" + name);
    for (int i = 0; i < n; ++i)
      io::write_png(dir + "/in/" + name + "/" + std::to_string(i) + ".png",
                    io::Image{4, 4, 3, std::vector<uint8_t>(48, static_cast<uint8_t>(40 * i))});
  }
  auto r = scorch("data pack " + dir + "/in --out " + dir + "/ds");
  ASSERT_EQ(r.code, 0) << r.output;
  r = scorch("data info " + dir + "/ds");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("labels    yes"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("classes   3\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("      0         2   33.3%  cat\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("      1         3   50.0%  dog\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("      2         1   16.7%  zebra\n"), std::string::npos) << r.output;

  io::write_png(dir + "/in/loose.png", io::Image{4, 4, 3, std::vector<uint8_t>(48, 0)});
  r = scorch("data pack " + dir + "/in --out " + dir + "/mixed");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(read_manifest(dir + "/mixed").has_labels);  // an image outside the class folders: no labels
}

// `synth mixture --preset pitfall` and the same mixture spelled out write the same set, whose component
// labels follow the weights 0.2 / 0.8 within sampling error (4 standard errors: sqrt(0.16 / 20000) = 0.0028).
TEST(DataCli, MixtureFromItsParametersFollowsItsWeights) {
  const auto dir = test::temp_dir("cli_mixture");
  auto r = scorch("data synth mixture --preset pitfall --count 20000 --seed 4 --out " + dir + "/preset");
  ASSERT_EQ(r.code, 0) << r.output;
  r = scorch("data synth mixture --dim 2 --weights 0.2,0.8 --means -5,-5,5,5 --stds 1,1 --count 20000 --seed 4 --out " +
             dir + "/spelled");
  ASSERT_EQ(r.code, 0) << r.output;
  Dataset preset(dir + "/preset"), spelled(dir + "/spelled");
  int64_t second = 0;
  for (int64_t i = 0; i < preset.size(); ++i) second += preset.label(i);
  EXPECT_NEAR(second / 20000.0, 0.8, 4 * 0.0028);
  std::vector<int64_t> some = {0, 1, 2, 19999};
  EXPECT_TRUE(torch::equal(preset.read_items(some), spelled.read_items(some)));
  EXPECT_EQ(preset.manifest().extra["mixture"], spelled.manifest().extra["mixture"]);

  r = scorch("data synth mixture --dim 2 --weights 0.5,0.6 --means 0,0,1,1 --stds 1,1 --out " + dir + "/bad");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--weights sum to 1.1"), std::string::npos) << r.output;
  r = scorch("data synth mixture --dim 2 --weights 0.5,0.5 --means 0,0,1 --stds 1,1 --out " + dir + "/bad");
  EXPECT_NE(r.output.find("--means holds 3 numbers; 2 components in 2 dimensions need 4"), std::string::npos)
      << r.output;
}

TEST(DataCli, PadCentresTheImagesOnAZeroCanvas) {
  const std::string root = "/usr/share/datasets/fashion-mnist/";
  SCORCH_REQUIRE_PREREQUISITE(fs::exists(root + "t10k-images-idx3-ubyte.gz"), "dataset-fashion-mnist not installed");
  const auto dir = test::temp_dir("cli_pad");
  auto r = scorch("data pack " + root + "t10k-images-idx3-ubyte.gz --out " + dir + "/raw");
  ASSERT_EQ(r.code, 0) << r.output;
  r = scorch("data pack " + root + "t10k-images-idx3-ubyte.gz --out " + dir + "/pad --pad 32");
  ASSERT_EQ(r.code, 0) << r.output;
  Dataset raw(dir + "/raw"), pad(dir + "/pad");
  EXPECT_EQ(pad.manifest().shape, (std::vector<int64_t>{32, 32, 1}));
  auto a = raw.read_items({0, 9999}).view({2, 28, 28});
  auto b = pad.read_items({0, 9999}).view({2, 32, 32});
  EXPECT_TRUE(torch::equal(b.slice(1, 2, 30).slice(2, 2, 30), a));
  EXPECT_EQ(b.sum().item<int64_t>(), a.sum().item<int64_t>());  // the border is all zeros
  r = scorch("data pack " + root + "t10k-images-idx3-ubyte.gz --out " + dir + "/bad --pad 16");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--pad 16 is smaller than the images (28x28)"), std::string::npos) << r.output;
}

TEST(DataCli, VerifyNamesTheBadShardAndFails) {
  const auto dir = test::temp_dir("cli_verify");
  ASSERT_EQ(scorch("data synth shapes --out " + dir + "/s --count 30 --resolution 8 --shard-size 10").code, 0);
  std::ofstream(dir + "/s/shard-00002.h5", std::ios::app) << "junk";
  const auto r = scorch("data verify " + dir + "/s");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("shard-00002.h5"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("shard-00001.h5"), std::string::npos) << r.output;
}

TEST(DataCli, PngFolderPackAndMixedSizesError) {
  const auto dir = test::temp_dir("cli_png");
  fs::create_directories(dir + "/in");
  for (int i = 0; i < 5; ++i)
    io::write_png(dir + fmt::format("/in/{}.png", i),
                  io::Image{20, 30, 3, std::vector<uint8_t>(1800, uint8_t(i * 40))});
  io::write_png(dir + "/in/odd.png", io::Image{16, 16, 3, std::vector<uint8_t>(768, 1)});
  auto r = scorch("data pack " + dir + "/in --out " + dir + "/ds");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--resolution"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/ds/manifest.json"));
  r = scorch("data pack " + dir + "/in --out " + dir + "/ds --resolution 16");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_manifest(dir + "/ds").shape, (std::vector<int64_t>{16, 16, 3}));
}

// score_sde's CelebA recipe on a folder: --crop before --resolution, the filter recorded; a crop larger than an
// image names it; the options are refused for formats they do not apply to.
TEST(DataCli, CropThenResizeAFolderAndRefusals) {
  const auto dir = test::temp_dir("cli_crop");
  fs::create_directories(dir + "/in");
  for (int i = 0; i < 3; ++i)
    io::write_png(dir + fmt::format("/in/{}.png", i),
                  io::Image{20, 30, 3, std::vector<uint8_t>(1800, uint8_t(i * 40))});
  auto r = scorch("data pack " + dir + "/in --out " + dir + "/ds --crop 16 --resolution 8 --resize-filter bilinear");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto m = read_manifest(dir + "/ds");
  EXPECT_EQ(m.shape, (std::vector<int64_t>{8, 8, 3}));
  const auto manifest = read_file(dir + "/ds/manifest.json");
  EXPECT_NE(manifest.find("--resolution 8 --crop 16 --resize-filter bilinear"), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("\"resize_filter\": \"bilinear\""), std::string::npos) << manifest;
  r = scorch("data pack " + dir + "/in --out " + dir + "/ds2 --crop 16");  // crop only: 16 x 16
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_manifest(dir + "/ds2").shape, (std::vector<int64_t>{16, 16, 3}));

  r = scorch("data pack " + dir + "/in --out " + dir + "/ds3 --crop 24 --resolution 8");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("is 20x30: smaller than --crop 24"), std::string::npos) << r.output;
  r = scorch("data pack " + dir + "/in --out " + dir + "/ds3 --resolution 8 --resize-filter lanczos");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("unknown resize filter 'lanczos'"), std::string::npos) << r.output;
  r = scorch("data pack " + dir + "/t10k-images-idx3-ubyte.gz --format idx --out " + dir + "/ds3 --crop 20");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--crop and --resize-filter apply to image folders only, not to --format idx"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir + "/ds3/manifest.json"));
}

// Options of another format were ignored without a word (a --labels file that does not even exist, a
// --labels-key the .npz lacks: the set packed unlabelled).
TEST(DataCli, OptionsOfAnotherFormatAndMissingLabelsAreRefused) {
  const auto dir = test::temp_dir("cli_options");
  fs::create_directories(dir + "/in");
  io::write_png(dir + "/in/0.png", io::Image{4, 4, 3, std::vector<uint8_t>(48, 1)});
  const auto images = torch::zeros({3, 4, 4, 3}, torch::kUInt8);
  io::npz::write_npz(dir + "/s.npz", {{"images", images}, {"labels", torch::tensor({0, 1, 2})}});
  io::npz::write_npz(dir + "/neg.npz", {{"images", images}, {"labels", torch::tensor({0, -1, 2})}});
  const std::vector<std::pair<std::string, std::string>> refused = {
      {dir + "/in --labels /nonexistent", "--labels (an IDX labels file) applies to --format idx, not folder"},
      {dir + "/in --labels-key y", "--images-key and --labels-key apply to --format npy"},
      {dir + "/s.npz --skip-bad", "--skip-bad applies to image folders, not --format npy"},
      {dir + "/s.npz --labels-key nope", "has no array 'nope' (--labels-key)"},
      {dir + "/neg.npz", "hold a negative class id (-1)"}};
  for (const auto& [args, message] : refused) {
    auto r = scorch("data pack " + args + " --out " + dir + "/ds");
    EXPECT_NE(r.code, 0) << args;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
    EXPECT_FALSE(fs::exists(dir + "/ds/manifest.json")) << args;
  }
  auto r = scorch("data pack " + dir + "/s.npz --labels-key labels --out " + dir + "/ok");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(read_manifest(dir + "/ok").has_labels);
}

TEST(DataCli, TwoRanksPackTheSameBytes) {
  const auto dir = test::temp_dir("cli_mpi");
  const std::string args = " data synth shapes --count 40 --resolution 12 --shard-size 7 --seed 4 --out ";
  ASSERT_EQ(scorch(args + dir + "/one").code, 0);
  // test::run starts children without the test binary's own MPI singleton environment.
  const auto r = test::run("mpirun -np 2 --oversubscribe " + test::scorch_bin() + args + dir + "/two 2>&1", 300);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto one = read_manifest(dir + "/one"), two = read_manifest(dir + "/two");
  ASSERT_EQ(one.shards.size(), 6u);
  for (size_t s = 0; s < one.shards.size(); ++s) EXPECT_EQ(one.shards[s].sha256, two.shards[s].sha256) << s;
}

}  // namespace
}  // namespace scorch::data
