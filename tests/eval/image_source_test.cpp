// In-memory image sources: what they read back, and the inputs they refuse.
#include "eval/image_source.h"

#include <gtest/gtest.h>

#include "core/error.h"

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

}  // namespace
}  // namespace scorch::eval
