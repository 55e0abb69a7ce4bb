// Image sources: in memory, and folders read as pytorch-fid reads them (its file set, PIL's pixels).
#include "eval/image_source.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "support/run.h"

namespace scorch::eval {
namespace {

TEST(TensorImageSource, ReadsTheImagesInOrder) {
  auto images = torch::randint(0, 256, {5, 4, 6, 3}, torch::kUInt8);  // (N, H, W, C)
  auto source = tensor_image_source(images, "five images");
  EXPECT_EQ(source->size(), 5);
  EXPECT_EQ(source->describe(), "five images");
  auto batch = source->read(1, 4);
  ASSERT_EQ(batch.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(torch::equal(batch[i], images[i + 1]));
}

TEST(TensorImageSource, RefusesWhatIsNotUint8Nhwc) {
  EXPECT_THROW(tensor_image_source(torch::zeros({2, 4, 4, 3}), "float"), Error);
  EXPECT_THROW(tensor_image_source(torch::zeros({4, 4, 3}, torch::kUInt8), "3-d"), Error);
  EXPECT_THROW(tensor_image_source(torch::zeros({2, 4, 4, 2}, torch::kUInt8), "2 channels"), Error);
}

namespace fs = std::filesystem;

// pytorch-fid globs its lower-case extensions (case-sensitive) and decodes with PIL: upper-case and .tga files
// are not its images, and each image it reads must come out as PIL's RGB (tests/core/image_codecs_test.cpp
// checks every format; here, that the folder reader goes through that decoder and not another).
TEST(FolderImageSource, ReadsPytorchFidsFilesAsPilDecodesThem) {
  const auto images = test::source_dir() + "/tests/fixtures/images";
  const auto dir = test::temp_dir("fid-folder");
  const std::vector<std::pair<std::string, std::string>> copies = {
      {"rgb_q75_420.jpg", "a.jpg"}, {"rgba_lossy.webp", "b.webp"}, {"palette.tif", "c.tif"},
      {"grey.pgm", "d.pgm"},        {"rgb.png", "e.PNG"},          {"rgb.png", "f.tga"}};
  for (const auto& [from, to] : copies) fs::copy_file(images + "/" + from, dir + "/" + to);
  auto source = open_image_source(dir);
  ASSERT_EQ(source->size(), 4);
  const auto got = source->read(0, 4);
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(copies[i].first);
    const auto want = read_file(images + "/decoded/" + copies[i].first + ".rgb");
    ASSERT_EQ(got[i].sizes(), (std::vector<int64_t>{17, 21, 3}));
    EXPECT_EQ(std::string(static_cast<const char*>(got[i].data_ptr()), got[i].numel()), want);
  }
}

TEST(FolderImageSource, RefusesWhatPytorchFidWouldMisread) {
  const auto images = test::source_dir() + "/tests/fixtures/images";
  const auto dir = test::temp_dir("fid-grey16");
  fs::copy_file(images + "/refused_grey16.png", dir + "/a.png");
  auto source = open_image_source(dir);
  try {
    source->read(0, 1);
    FAIL() << "a 16-bit grey PNG was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("16-bit greyscale"), std::string::npos) << e.what();
  }
  const auto upper = test::temp_dir("fid-upper");
  fs::copy_file(images + "/rgb.png", upper + "/a.PNG");
  try {
    open_image_source(upper);
    FAIL() << "a folder of .PNG files was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a.PNG"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace scorch::eval
