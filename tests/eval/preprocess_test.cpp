// FID preprocessing: the TF1 legacy resize against its formula, input ranges, grayscale handling.
#include "eval/preprocess.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace scorch::eval {
namespace {

// TF1 ResizeBilinear (align_corners=False, half_pixel_centers=False) written per pixel in double.
double tf1_pixel(const torch::Tensor& img, int64_t oy, int64_t ox, int64_t out_h, int64_t out_w) {
  const int64_t h = img.size(0), w = img.size(1);
  const double sy = oy * (static_cast<double>(h) / out_h), sx = ox * (static_cast<double>(w) / out_w);
  const int64_t y0 = static_cast<int64_t>(std::floor(sy)), x0 = static_cast<int64_t>(std::floor(sx));
  const int64_t y1 = std::min(y0 + 1, h - 1), x1 = std::min(x0 + 1, w - 1);
  const double dy = sy - y0, dx = sx - x0;
  auto at = [&](int64_t y, int64_t x) { return img[y][x].item<double>(); };
  const double top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * dx;
  const double bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * dx;
  return top + (bottom - top) * dy;
}

TEST(Preprocess, Tf1ResizeMatchesTheLegacyFormula) {
  torch::manual_seed(0);
  auto img = torch::randint(0, 256, {13, 9}).to(torch::kFloat);
  const int64_t out_h = 29, out_w = 20;  // non-integer factors on both axes
  auto out = resize_bilinear_tf1(img.view({1, 1, 13, 9}), out_h, out_w)[0][0];
  double worst = 0;
  for (int64_t y = 0; y < out_h; ++y)
    for (int64_t x = 0; x < out_w; ++x)
      worst = std::max(worst, std::abs(out[y][x].item<double>() - tf1_pixel(img, y, x, out_h, out_w)));
  // float32 arithmetic on values <= 255: a few ulps of 255 at most.
  EXPECT_LT(worst, 1e-4);
}

TEST(Preprocess, Tf1ResizeKeepsSourcePixelsOnTheIntegerGrid) {
  auto img = torch::arange(16, torch::kFloat).view({1, 1, 4, 4});
  auto out = resize_bilinear_tf1(img, 12, 12);
  // No half-pixel offset: output (3i, 3j) sits exactly on input (i, j); the last rows clamp.
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 4; ++j) EXPECT_EQ(out[0][0][3 * i][3 * j].item<float>(), img[0][0][i][j].item<float>());
  EXPECT_EQ(out[0][0][11][11].item<float>(), 15.0f);
}

TEST(Preprocess, InputRangesOfBothModes) {
  auto black = torch::zeros({1, 8, 8, 3}, torch::kByte), white = torch::full({1, 8, 8, 3}, 255, torch::kByte);
  EXPECT_FLOAT_EQ(preprocess(black, Preprocessing::PytorchFid, 16).min().item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(preprocess(white, Preprocessing::PytorchFid, 16).max().item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(preprocess(black, Preprocessing::Tf, 16).min().item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(preprocess(white, Preprocessing::Tf, 16).max().item<float>(), 127.0f / 128.0f);
}

TEST(Preprocess, PytorchFidModeIsHalfPixelBilinear) {
  // Upscaling 2 -> 4 with half-pixel centres: output centres at 0.25, 0.75, 1.25, 1.75 of the input
  // grid, clamped at the edges: [a, a + (b - a)/4, a + 3(b - a)/4, b].
  auto img = torch::tensor({0, 255, 0, 255}, torch::kByte).view({1, 2, 2, 1});  // each row: 0, 255
  auto out = preprocess(img, Preprocessing::PytorchFid, 4)[0][0][0];            // first channel, first row
  const float a = -1, b = 1;
  EXPECT_NEAR(out[0].item<float>(), a, 1e-6);
  EXPECT_NEAR(out[1].item<float>(), a + (b - a) / 4, 1e-6);
  EXPECT_NEAR(out[2].item<float>(), a + 3 * (b - a) / 4, 1e-6);
  EXPECT_NEAR(out[3].item<float>(), b, 1e-6);
}

TEST(Preprocess, GrayscaleIsRepeatedAndAlphaDropped) {
  auto gray = torch::randint(0, 256, {2, 10, 10, 1}).to(torch::kByte);
  auto out = preprocess(gray, Preprocessing::Tf, 20);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 3, 20, 20}));
  EXPECT_TRUE(torch::equal(out[0][0], out[0][2]));
  auto rgba = torch::cat({gray.expand({-1, -1, -1, 3}), torch::zeros({2, 10, 10, 1}, torch::kByte)}, 3);
  EXPECT_TRUE(torch::equal(preprocess(rgba, Preprocessing::Tf, 20), out));
  EXPECT_THROW(preprocess(torch::zeros({1, 4, 4, 2}, torch::kByte), Preprocessing::Tf), Error);
}

}  // namespace
}  // namespace scorch::eval
