// Image decoding (core/io/image_io over stb): what a damaged or hostile file header may not make it do.
#include "core/io/image_io.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace scorch {
namespace {

std::string decode_error(const std::string& bytes) {
  try {
    io::decode_image(bytes, 3, "fuzzed.png");
  } catch (const Error& e) {
    return e.what();
  }
  return "(decoded)";
}

std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16 & 0xff), char(v >> 8 & 0xff), char(v & 0xff)}; }

// A PNG with the given IHDR size whose IDAT chunk declares `idat_length` bytes and holds `idat`.
std::string png(uint32_t width, uint32_t height, uint32_t idat_length, const std::string& idat) {
  const std::string ihdr = be32(width) + be32(height) + std::string("\x08\x02\x00\x00\x00", 5);
  return std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + "IHDR" + ihdr + be32(0) + be32(idat_length) + "IDAT" + idat +
         be32(0) + be32(0) + "IEND" + be32(0);
}

TEST(ImageIo, ARealImageStillDecodes) {
  const auto bytes = io::encode_png({2, 3, 3, std::vector<uint8_t>(18, 7)});
  const auto im = io::decode_image(bytes, 3, "ok.png");
  EXPECT_EQ(im.height, 2);
  EXPECT_EQ(im.width, 3);
  EXPECT_EQ(im.pixels, std::vector<uint8_t>(18, 7));
}

// Found by tests/fuzz (image): stb reserved a chunk's declared length (795 MB from an 85-byte file) and the
// header's pixel count (1.2 GB) before reading anything.
TEST(ImageIo, HeadersClaimingMoreThanTheFileCanHoldAreRefusedBeforeDecoding) {
  auto why = decode_error(png(3, 5, 0x2f69001c, "x"));
  EXPECT_NE(why.find("fuzzed.png"), std::string::npos) << why;
  EXPECT_NE(why.find("PNG chunk 'IDAT'"), std::string::npos) << why;
  why = decode_error(png(12000, 8000, 1, "x"));  // stb itself stops at 2^30 bytes
  EXPECT_NE(why.find("fuzzed.png"), std::string::npos) << why;
  EXPECT_NE(why.find("claims 12000 x 8000 pixels"), std::string::npos) << why;
}

// score_sde's CelebA: central_crop(140) of the 218 x 178 aligned faces (top 39, left 19), then 64 x 64. On a ramp
// image (R = column, G = row) every filter reproduces the ramp away from the edges, so each output pixel must
// read the crop's coordinates at its centre: (j + 0.5) * 140 / 64 - 0.5 plus the offset, to rounding.
TEST(ImageIo, CentreCropThenResizeSamplesTheCropAtPixelCentres) {
  io::Image im{218, 178, 3, std::vector<uint8_t>(size_t(218) * 178 * 3, 0)};
  for (int y = 0; y < 218; ++y)
    for (int x = 0; x < 178; ++x) {
      im.pixels[(size_t(y) * 178 + x) * 3 + 0] = static_cast<uint8_t>(x);
      im.pixels[(size_t(y) * 178 + x) * 3 + 1] = static_cast<uint8_t>(y);
    }
  for (auto filter : {io::ResizeFilter::Mitchell, io::ResizeFilter::Bilinear, io::ResizeFilter::Bicubic}) {
    const auto out = io::center_crop_resize(im, 64, 140, filter);
    ASSERT_EQ(out.height, 64);
    ASSERT_EQ(out.width, 64);
    double worst = 0;
    for (int i = 3; i < 61; ++i)
      for (int j = 3; j < 61; ++j) {
        const double want_x = 19 + (j + 0.5) * 140.0 / 64 - 0.5, want_y = 39 + (i + 0.5) * 140.0 / 64 - 0.5;
        worst = std::max({worst, std::abs(out.pixels[(size_t(i) * 64 + j) * 3 + 0] - want_x),
                          std::abs(out.pixels[(size_t(i) * 64 + j) * 3 + 1] - want_y)});
      }
    EXPECT_LE(worst, 0.5 + 1e-3) << io::resize_filter_name(filter);
  }
  // Without --crop: the largest centred square, 178 x 178 from row 20.
  const auto square = io::center_crop_resize(im, 178);
  EXPECT_EQ(square.pixels[1], 20);
  EXPECT_EQ(square.pixels[0], 0);
}

// Antialiased: a one-pixel checkerboard shrunk 140 -> 64 averages to gray instead of aliasing into patterns.
TEST(ImageIo, ShrinkingAveragesFinePatterns) {
  io::Image im{140, 140, 1, std::vector<uint8_t>(size_t(140) * 140)};
  for (int y = 0; y < 140; ++y)
    for (int x = 0; x < 140; ++x) im.pixels[size_t(y) * 140 + x] = (x + y) % 2 ? 255 : 0;
  for (auto filter : {io::ResizeFilter::Mitchell, io::ResizeFilter::Bilinear, io::ResizeFilter::Bicubic}) {
    const auto out = io::center_crop_resize(im, 64, 0, filter);
    int lo = 255, hi = 0;
    for (int i = 2; i < 62; ++i)
      for (int j = 2; j < 62; ++j)
        lo = std::min<int>(lo, out.pixels[size_t(i) * 64 + j]), hi = std::max<int>(hi, out.pixels[size_t(i) * 64 + j]);
    EXPECT_GE(lo, 100) << io::resize_filter_name(filter);
    EXPECT_LE(hi, 155) << io::resize_filter_name(filter);
  }
}

TEST(ImageIo, ACropLargerThanTheImageAndUnknownFiltersAreRefused) {
  io::Image im{20, 30, 3, std::vector<uint8_t>(size_t(20) * 30 * 3)};
  try {
    io::center_crop_resize(im, 16, 24);
    FAIL() << "a 24 x 24 crop of a 20 x 30 image was made";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a 24x24 crop does not fit in a 20x30 image"), std::string::npos) << e.what();
  }
  try {
    io::resize_filter_named("lanczos");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown resize filter 'lanczos' (mitchell, bilinear, bicubic)"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace scorch
