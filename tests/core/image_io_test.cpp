// Image decoding (core/io/image_io over stb): what a damaged or hostile file header may not make it do.
#include "core/io/image_io.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace scorch
