// Line plots: the PNG decodes to the requested size and the series are drawn in their colours.
#include <gtest/gtest.h>
#include <stb_image.h>

#include <filesystem>

#include "core/io/plot.h"
#include "support/run.h"

namespace scorch {
namespace {

TEST(Plot, WritesADecodablePngWithTheSeriesDrawn) {
  auto dir = test::temp_dir("plot");
  PlotPanel loss{"loss", "step", {{"loss", {0, 1, 2, 3}, {4, 2, 1, 0.5}}}, true};
  PlotPanel speed{"images/s", "step", {{"rank 0", {0, 1, 2, 3}, {10, 12, 11, 13}}, {"rank 1", {0, 1}, {9, 9}}}};
  write_line_plot(dir + "/m.png", {loss, speed}, 400, 200);
  int w = 0, h = 0, c = 0;
  unsigned char* img = stbi_load((dir + "/m.png").c_str(), &w, &h, &c, 3);
  ASSERT_NE(img, nullptr);
  EXPECT_EQ(w, 400);
  EXPECT_EQ(h, 400);
  int blue = 0, red = 0;
  for (int i = 0; i < w * h; ++i) {
    blue += img[3 * i] == 31 && img[3 * i + 1] == 119 && img[3 * i + 2] == 180;
    red += img[3 * i] == 214 && img[3 * i + 1] == 39 && img[3 * i + 2] == 40;
  }
  stbi_image_free(img);
  EXPECT_GT(blue, 100);
  EXPECT_GT(red, 20);
  std::filesystem::remove_all(dir);
}

TEST(Plot, EmptySeriesStillDrawsAxes) {
  auto dir = test::temp_dir("plot");
  write_line_plot(dir + "/e.png", {PlotPanel{"nothing", "step", {{"x", {}, {}}}}});
  EXPECT_TRUE(std::filesystem::exists(dir + "/e.png"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace scorch
