// Line plots: the PNG decodes to the requested size and the series are drawn in their colours.
#include "core/io/plot.h"

#include <gtest/gtest.h>
#include <stb_image.h>

#include <algorithm>
#include <array>
#include <filesystem>

#include "support/run.h"

namespace scorch {
namespace {

TEST(Plot, WritesADecodablePngWithTheSeriesDrawn) {
  auto dir = test::temp_dir("plot");
  io::PlotPanel loss{"loss", "step", {{"loss", {0, 1, 2, 3}, {4, 2, 1, 0.5}}}, true};
  io::PlotPanel speed{"images/s", "step", {{"rank 0", {0, 1, 2, 3}, {10, 12, 11, 13}}, {"rank 1", {0, 1}, {9, 9}}}};
  io::write_line_plot(dir + "/m.png", {loss, speed}, 400, 200);
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
  io::write_line_plot(dir + "/e.png", {io::PlotPanel{"nothing", "step", {{"x", {}, {}}}}}, 300, 150);
  int w = 0, h = 0, c = 0;
  unsigned char* img = stbi_load((dir + "/e.png").c_str(), &w, &h, &c, 3);
  ASSERT_NE(img, nullptr);
  EXPECT_EQ(w, 300);
  EXPECT_EQ(h, 150);
  // The two axes are long runs of the axis grey (90, 90, 90): the longest row of them spans most of the
  // width (x axis), the longest column most of the height (y axis). Nothing is drawn in a series colour.
  auto axis = [&](int x, int y) {
    const unsigned char* p = img + 3 * (static_cast<size_t>(y) * w + x);
    return p[0] == 90 && p[1] == 90 && p[2] == 90;
  };
  int longest_row = 0, longest_col = 0, coloured = 0;
  for (int y = 0; y < h; ++y) {
    int n = 0;
    for (int x = 0; x < w; ++x) n += axis(x, y);
    longest_row = std::max(longest_row, n);
  }
  for (int x = 0; x < w; ++x) {
    int n = 0;
    for (int y = 0; y < h; ++y) n += axis(x, y);
    longest_col = std::max(longest_col, n);
  }
  for (int i = 0; i < w * h; ++i) coloured += img[3 * i] == 31 && img[3 * i + 1] == 119 && img[3 * i + 2] == 180;
  stbi_image_free(img);
  EXPECT_GT(longest_row, w / 2);
  EXPECT_GT(longest_col, h / 2);
  EXPECT_EQ(coloured, 0);
  std::filesystem::remove_all(dir);
}

// Markers make one-point series visible, and log_x spaces 1, 10 and 100 evenly: the middle marker's centre
// lies halfway between the others (a linear axis would put it at 9/99 of the way).
TEST(Plot, MarkersOnALogarithmicXAxis) {
  auto dir = test::temp_dir("plot");
  io::PlotPanel p{"fid", "nfe", {{"", {1}, {5}}, {"", {10}, {6}}, {"", {100}, {7}}}};
  p.log_x = p.markers = true;
  io::write_line_plot(dir + "/l.png", {p}, 400, 200);
  p.markers = false;
  io::write_line_plot(dir + "/n.png", {p}, 400, 200);
  auto centre_x = [&](const std::string& file, std::array<unsigned char, 3> rgb, int& count) {
    int w = 0, h = 0, c = 0;
    unsigned char* img = stbi_load(file.c_str(), &w, &h, &c, 3);
    EXPECT_NE(img, nullptr);
    double sum = 0;
    count = 0;
    for (int i = 0; img && i < w * h; ++i)
      if (img[3 * i] == rgb[0] && img[3 * i + 1] == rgb[1] && img[3 * i + 2] == rgb[2]) sum += i % w, ++count;
    stbi_image_free(img);
    return count ? sum / count : -1.0;
  };
  int n_blue = 0, n_red = 0, n_green = 0, n_none = 0;
  double blue = centre_x(dir + "/l.png", {31, 119, 180}, n_blue);
  double red = centre_x(dir + "/l.png", {214, 39, 40}, n_red);
  double green = centre_x(dir + "/l.png", {44, 160, 44}, n_green);
  centre_x(dir + "/n.png", {214, 39, 40}, n_none);
  EXPECT_EQ(n_blue, 25);
  EXPECT_EQ(n_red, 25);
  EXPECT_EQ(n_green, 25);
  EXPECT_EQ(n_none, 0);
  EXPECT_NEAR(red, (blue + green) / 2, 1.0);
  EXPECT_GT(green - blue, 200);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace scorch
