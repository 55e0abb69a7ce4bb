// Image decoding against PIL: every fixture in tests/fixtures/images decodes to the bytes that PIL's
// Image.open(path).convert("RGB") gave (make_fixtures.py), which is what pytorch-fid feeds its Inception. Exact
// equality: the same libraries (libjpeg-turbo, libtiff, libwebp, zlib) decode the same bits, and the rest is
// copying. The files scorch refuses each name their reason.
#include "core/io/image_codecs.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/image_io.h"
#include "support/run.h"

namespace scorch {
namespace {

std::string fixtures() { return test::source_dir() + "/tests/fixtures/images"; }

std::string fixture_error(const std::string& name) {
  try {
    io::read_image(fixtures() + "/" + name, 3);
  } catch (const Error& e) {
    return e.what();
  }
  return "(decoded)";
}

// Every fixture read with `channels` against PIL's bytes in decoded/NAME.SUFFIX.
void expect_pils_pixels(int channels, const std::string& suffix) {
  std::ifstream in(fixtures() + "/expected.json");
  ASSERT_TRUE(in) << "tests/fixtures/images/expected.json";
  const auto expected = nlohmann::json::parse(in);
  ASSERT_GE(expected.size(), 28u);
  for (const auto& [name, shape] : expected.items()) {
    SCOPED_TRACE(name);
    const auto im = io::read_image(fixtures() + "/" + name, channels);
    ASSERT_EQ(im.height, shape[0].get<int>());
    ASSERT_EQ(im.width, shape[1].get<int>());
    ASSERT_EQ(im.channels, channels);
    const auto want = read_file(fixtures() + "/decoded/" + name + "." + suffix);
    ASSERT_EQ(im.pixels.size(), want.size());
    size_t differ = 0;
    for (size_t i = 0; i < want.size(); ++i) differ += im.pixels[i] != static_cast<uint8_t>(want[i]);
    EXPECT_EQ(differ, 0u) << "of " << want.size() << " bytes differ from PIL's";
  }
}

TEST(ImageCodecs, EveryFixtureDecodesToPilsPixels) { expect_pils_pixels(3, "rgb"); }

// torchvision's Grayscale (PIL's convert("L")): colour files grey by PIL's rounded luma, which stb's weights
// and libjpeg's Y plane each miss by a level on some pixels.
TEST(ImageCodecs, EveryFixtureGreysToPilsPixels) { expect_pils_pixels(1, "L"); }

TEST(ImageCodecs, TheNewFormatsReportTheirSizeAndGrey) {
  for (const std::string name : {"rgb_tiled.tif", "rgba_lossy.webp", "rgb_q75_420.jpg"}) {
    SCOPED_TRACE(name);
    const auto bytes = read_file(fixtures() + "/" + name);
    EXPECT_EQ(io::encoded_image_size(bytes, name), std::make_pair(17, 21));
    const auto grey = io::decode_image(bytes, 1, name);
    EXPECT_EQ(grey.channels, 1);
    EXPECT_EQ(grey.pixels.size(), 17u * 21u);
  }
  EXPECT_EQ(io::sniff_image_codec(read_file(fixtures() + "/rgb.tif")), io::ImageCodec::Tiff);
  EXPECT_EQ(io::sniff_image_codec(read_file(fixtures() + "/rgb.png")), io::ImageCodec::Other);
}

TEST(ImageCodecs, RefusedFilesNameTheirReason) {
  EXPECT_NE(fixture_error("refused_cmyk.jpg").find("CMYK"), std::string::npos) << fixture_error("refused_cmyk.jpg");
  EXPECT_NE(fixture_error("refused_truncated.jpg").find("truncated"), std::string::npos)
      << fixture_error("refused_truncated.jpg");
  EXPECT_NE(fixture_error("refused_maxval15.pgm").find("maximum value 15"), std::string::npos)
      << fixture_error("refused_maxval15.pgm");
  EXPECT_NE(fixture_error("refused_bilevel.tif").find("1-bit"), std::string::npos)
      << fixture_error("refused_bilevel.tif");
  EXPECT_NE(fixture_error("refused_grey16.tif").find("16-bit"), std::string::npos)
      << fixture_error("refused_grey16.tif");
  EXPECT_NE(fixture_error("refused_animated.webp").find("animated"), std::string::npos)
      << fixture_error("refused_animated.webp");
  for (const std::string name : {"refused_cmyk.jpg", "refused_bilevel.tif", "refused_animated.webp"})
    EXPECT_NE(fixture_error(name).find(name), std::string::npos) << "the error names the file";
  // Damaged TIFF and WebP bodies fail with their decoder's reason, not a crash.
  auto tif = read_file(fixtures() + "/rgb_lzw.tiff");
  EXPECT_THROW(io::decode_image(tif.substr(0, tif.size() / 2), 3, "half.tiff"), Error);
  auto webp = read_file(fixtures() + "/rgb_lossy.webp");
  EXPECT_THROW(io::decode_image(webp.substr(0, webp.size() / 2), 3, "half.webp"), Error);
}

}  // namespace
}  // namespace scorch
