// `scorch data pack` on TFRecords written by another encoder (the `tfrecord` PyPI package): progressive-GAN
// levels and the image/encoded layout give the same bytes and labels as packing the arrays directly; a
// damaged record is named.
#include "data/tfrecord_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "core/atomic_file.h"
#include "data/dataset.h"
#include "support/prerequisite.h"
#include "support/run.h"

namespace scorch::data {
namespace {

namespace fs = std::filesystem;

test::RunResult tfr_scorch(const std::string& args) {
  return test::run(test::scorch_bin() + " " + args + " 2>&1", 300);
}

class TfrecordPack : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::temp_dir("tfrecord_pack");
    const auto r = test::run(test::python() + " " + test::source_dir() + "/tests/data/write_tfrecords.py " + dir_);
    have_writer_ = r.code == 0;
    if (!have_writer_) std::cerr << r.output;
  }
  void SetUp() override {
    SCORCH_REQUIRE_PREREQUISITE(have_writer_, "Python with numpy and the tfrecord package writes the inputs");
  }
  // Both datasets hold the same images, bit for bit, and the same labels.
  static void expect_same_dataset(const std::string& a, const std::string& b) {
    Dataset x(a), y(b);
    ASSERT_EQ(x.size(), y.size());
    EXPECT_EQ(x.manifest().shape, y.manifest().shape);
    std::vector<int64_t> all(static_cast<size_t>(x.size()));
    std::iota(all.begin(), all.end(), 0);
    EXPECT_TRUE(torch::equal(x.read_items(all), y.read_items(all)));
    ASSERT_TRUE(x.manifest().has_labels && y.manifest().has_labels);
    EXPECT_TRUE(torch::equal(x.read_labels(all), y.read_labels(all)));
  }
  static inline std::string dir_;
  static inline bool have_writer_ = false;
};

TEST_F(TfrecordPack, ProgressiveGanLevelIsPickedByResolutionAndPacksBitForBit) {
  auto r = tfr_scorch("data pack " + dir_ + "/pgan --resolution 8 --out " + dir_ + "/ds-pgan");
  ASSERT_EQ(r.code, 0) << r.output;
  r = tfr_scorch("data pack " + dir_ + "/pgan-r03.npz --out " + dir_ + "/ds-npz");
  ASSERT_EQ(r.code, 0) << r.output;
  expect_same_dataset(dir_ + "/ds-pgan", dir_ + "/ds-npz");
  EXPECT_EQ(Dataset(dir_ + "/ds-pgan").manifest().shape, (std::vector<int64_t>{8, 8, 3}));
  r = tfr_scorch("data info " + dir_ + "/ds-pgan");
  EXPECT_NE(r.output.find("tfrecord"), std::string::npos) << r.output;

  r = tfr_scorch("data pack " + dir_ + "/pgan --out " + dir_ + "/ds-none");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("several levels: r02 (4x4), r03 (8x8)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--resolution"), std::string::npos) << r.output;
  r = tfr_scorch("data pack " + dir_ + "/pgan --resolution 16 --out " + dir_ + "/ds-16");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("no level for --resolution 16"), std::string::npos) << r.output;
}

TEST_F(TfrecordPack, EncodedImagesAndTheirLabelsPackBitForBit) {
  auto r = tfr_scorch("data pack " + dir_ + "/encoded/part-0.tfrecords --out " + dir_ + "/ds-enc");
  ASSERT_EQ(r.code, 0) << r.output;
  r = tfr_scorch("data pack " + dir_ + "/encoded.npz --out " + dir_ + "/ds-enc-npz");
  ASSERT_EQ(r.code, 0) << r.output;
  expect_same_dataset(dir_ + "/ds-enc", dir_ + "/ds-enc-npz");
}

TEST_F(TfrecordPack, ADamagedRecordIsNamedByFileAndIndex) {
  const auto bad = dir_ + "/bad-r03.tfrecords";
  std::string bytes = read_file(dir_ + "/pgan/set-r03.tfrecords");
  const size_t record = bytes.size() / 10;  // ten records of equal size
  bytes[3 * record + 40] ^= 0x55;           // inside record 3's data
  std::ofstream(bad, std::ios::binary) << bytes;
  auto r = tfr_scorch("data pack " + bad + " --out " + dir_ + "/ds-bad");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("bad-r03.tfrecords' record 3"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ + "/ds-bad/manifest.json"));
  // A file that is not image records at all: the features it has are listed.
  r = tfr_scorch("data pack " + dir_ + "/pgan/set-rxx.labels --format tfrecord --out " + dir_ + "/ds-labels");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("set-rxx.labels"), std::string::npos) << r.output;
  // A shape whose byte count wraps around int64 to 0: an error, not a division by zero (SIGFPE).
  r = tfr_scorch("data pack " + dir_ + "/forged/huge-r02.tfrecords --out " + dir_ + "/ds-huge");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("H, W in 1..65536, got [1, 4294967296, 4294967296]"), std::string::npos) << r.output;
  // --grayscale converts encoded images only: progressive-GAN records were packed in colour without a word.
  r = tfr_scorch("data pack " + dir_ + "/pgan/set-r03.tfrecords --grayscale --out " + dir_ + "/ds-gray");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("progressive-GAN records are packed as stored, here [3, 8, 8]"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace scorch::data
