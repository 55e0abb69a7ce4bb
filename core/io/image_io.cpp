// Image io on Debian's libstb (implementations compiled into libstb; never define STB_*_IMPLEMENTATION here),
// handing JPEG, TIFF and WebP to image_codecs.h.
#include "core/io/image_io.h"

#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/image_codecs.h"

namespace scorch::io {
namespace {

// stb reserves each PNG chunk's declared length before it reads the chunk, so a 100-byte file can ask for
// gigabytes. Every chunk must fit in the bytes that follow it.
void check_png_chunks(const std::string& bytes, const std::string& what) {
  static const std::string kSignature("\x89PNG\r\n\x1a\n", 8);
  if (bytes.compare(0, kSignature.size(), kSignature) != 0) return;
  size_t at = kSignature.size();
  while (bytes.size() - at >= 8) {
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data() + at);
    const uint64_t length = uint64_t(p[0]) << 24 | uint64_t(p[1]) << 16 | uint64_t(p[2]) << 8 | p[3];
    SCORCH_CHECK(
        length + 12 <= bytes.size() - at,
        "cannot decode image '{}': PNG chunk '{}' at byte {} claims {} bytes, {} remain (truncated or damaged)", what,
        bytes.substr(at + 4, 4), at, length, bytes.size() - at - 12);
    if (bytes.compare(at + 4, 4, "IEND") == 0) return;
    at += 12 + length;
  }
}

// A binary PNM's maximum sample value, or -1 when the bytes are no P5/P6 file. stb reads the samples as they
// are, so a maximum of 15 would give values 0-15 where PIL (and netpbm) scale them to 0-255.
int pnm_maxval(const std::string& bytes) {
  if (bytes.size() < 2 || bytes[0] != 'P' || (bytes[1] != '5' && bytes[1] != '6')) return -1;
  size_t at = 2;
  long fields[3] = {0, 0, 0};
  for (long& field : fields) {
    while (at < bytes.size() && (std::isspace(static_cast<unsigned char>(bytes[at])) || bytes[at] == '#')) {
      if (bytes[at] == '#')
        while (at < bytes.size() && bytes[at] != '\n') ++at;
      else
        ++at;
    }
    if (at >= bytes.size() || !std::isdigit(static_cast<unsigned char>(bytes[at]))) return 0;
    for (; at < bytes.size() && std::isdigit(static_cast<unsigned char>(bytes[at])) && field < 1000000; ++at)
      field = field * 10 + (bytes[at] - '0');
  }
  return static_cast<int>(fields[2]);
}

// PIL's convert("L") of RGB: ITU-R 601-2 luma in 16-bit fixed point, rounded. torchvision's Grayscale and
// every PIL-based pipeline grey images this way; stb's own conversion (weights 77/150/29, truncated) and
// libjpeg's Y plane each differ from it by a level on some colours.
uint8_t pil_luma(const uint8_t* rgb) {
  return static_cast<uint8_t>((rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >> 16);
}

// Alpha dropped, grey replicated, or RGB to grey as PIL converts it.
Image with_channels(Image im, int want) {
  if (want == 0) want = im.channels <= 2 ? 1 : 3;
  if (want == im.channels) return im;
  Image out{im.height,        im.width,    want, std::vector<uint8_t>(size_t(im.height) * im.width * want),
            im.file_channels, im.file_bits};
  for (size_t p = 0; p < size_t(im.height) * im.width; ++p) {
    const uint8_t* in = &im.pixels[p * im.channels];
    uint8_t* o = &out.pixels[p * want];
    if (want == 1)
      o[0] = im.channels >= 3 ? pil_luma(in) : in[0];
    else
      for (int c = 0; c < 3; ++c) o[c] = im.channels >= 3 ? in[c] : in[0];
  }
  return out;
}

}  // namespace

void check_claimed_size(uint64_t width, uint64_t height, int channels, size_t encoded_bytes, const std::string& what) {
  const uint64_t claimed = width * height * uint64_t(channels) * 2;
  SCORCH_CHECK(claimed <= std::max<uint64_t>(uint64_t{64} << 20, uint64_t{1100} * encoded_bytes),
               "cannot decode image '{}': its header claims {} x {} pixels in {} bytes (damaged or hostile)", what,
               width, height, encoded_bytes);
}

ImageCodec sniff_image_codec(const std::string& bytes) {
  if (bytes.compare(0, 3, "\xff\xd8\xff") == 0) return ImageCodec::Jpeg;
  if (bytes.compare(0, 4, std::string("II*\0", 4)) == 0 || bytes.compare(0, 4, std::string("MM\0*", 4)) == 0)
    return ImageCodec::Tiff;
  if (bytes.size() >= 12 && bytes.compare(0, 4, "RIFF") == 0 && bytes.compare(8, 4, "WEBP") == 0)
    return ImageCodec::Webp;
  return ImageCodec::Other;
}

Image read_image(const std::string& path, int channels) { return decode_image(read_file(path), channels, path); }

std::pair<int, int> encoded_image_size(const std::string& bytes, const std::string& what) {
  const auto codec = sniff_image_codec(bytes);
  if (codec == ImageCodec::Tiff || codec == ImageCodec::Webp) {  // stb knows neither: decode
    const auto im = decode_image(bytes, 0, what);
    return {im.height, im.width};
  }
  SCORCH_CHECK(bytes.size() <= static_cast<size_t>(std::numeric_limits<int>::max()),
               "cannot decode image '{}': {} bytes is more than stb reads", what, bytes.size());
  int w = 0, h = 0, file_channels = 0;
  SCORCH_CHECK(stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()), &w,
                                     &h, &file_channels) != 0,
               "cannot decode image '{}': {}", what, stbi_failure_reason() ? stbi_failure_reason() : "unknown format");
  return {h, w};
}

Image decode_image(const std::string& bytes, int channels, const std::string& what) {
  SCORCH_CHECK(channels == 0 || channels == 1 || channels == 3, "decode_image: channels must be 0, 1 or 3, got {}",
               channels);
  SCORCH_CHECK(bytes.size() <= static_cast<size_t>(std::numeric_limits<int>::max()),
               "cannot decode image '{}': {} bytes is more than stb reads", what, bytes.size());
  switch (sniff_image_codec(bytes)) {
    case ImageCodec::Jpeg:  // colour files decode to RGB and grey as PIL greys them, not to libjpeg's Y plane
      return with_channels(decode_jpeg(bytes, channels == 1 ? 0 : channels, what), channels);
    case ImageCodec::Tiff: return with_channels(decode_tiff(bytes, what), channels);
    case ImageCodec::Webp: return with_channels(decode_webp(bytes, what), channels);
    case ImageCodec::Other: break;
  }
  const auto* in = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int n = static_cast<int>(bytes.size());
  check_png_chunks(bytes, what);
  const int maxval = pnm_maxval(bytes);
  SCORCH_CHECK(maxval < 0 || maxval == 255 || maxval == 65535,
               "cannot decode image '{}': a PNM file with maximum value {}; scorch reads maxima 255 and 65535", what,
               maxval);
  int w = 0, h = 0, file_channels = 0;
  SCORCH_CHECK(stbi_info_from_memory(in, n, &w, &h, &file_channels) != 0, "cannot decode image '{}': {}", what,
               stbi_failure_reason() ? stbi_failure_reason() : "unknown format");
  const int want = channels != 0 ? channels : (file_channels <= 2 ? 1 : 3);
  check_claimed_size(w, h, std::max(file_channels, want), bytes.size(), what);
  const int bits = stbi_is_16_bit_from_memory(in, n) ? 16 : 8;
  // Colour files become grey here, not in stb, so that they grey as PIL greys them.
  const int load = want == 1 && file_channels >= 3 ? 3 : want;
  uint8_t* data = stbi_load_from_memory(in, n, &w, &h, &file_channels, load);
  SCORCH_CHECK(data != nullptr, "cannot decode image '{}': {}", what,
               stbi_failure_reason() ? stbi_failure_reason() : "unknown error");
  Image out{h, w, load, std::vector<uint8_t>(data, data + size_t(w) * h * load), file_channels, bits};
  stbi_image_free(data);
  return with_channels(std::move(out), want);
}

ResizeFilter resize_filter_named(const std::string& name) {
  if (name == "mitchell") return ResizeFilter::Mitchell;
  if (name == "bilinear") return ResizeFilter::Bilinear;
  if (name == "bicubic") return ResizeFilter::Bicubic;
  SCORCH_FAIL("unknown resize filter '{}' (mitchell, bilinear, bicubic)", name);
}

const char* resize_filter_name(ResizeFilter filter) {
  switch (filter) {
    case ResizeFilter::Mitchell: return "mitchell";
    case ResizeFilter::Bilinear: return "bilinear";
    case ResizeFilter::Bicubic: return "bicubic";
  }
  return "?";
}

Image center_crop_resize(const Image& image, int size, int crop, ResizeFilter filter) {
  SCORCH_CHECK(size > 0, "resize: size must be positive, got {}", size);
  const int side = crop > 0 ? crop : std::min(image.height, image.width);
  SCORCH_CHECK(side <= image.height && side <= image.width, "a {}x{} crop does not fit in a {}x{} image", side, side,
               image.height, image.width);
  const int y0 = (image.height - side) / 2, x0 = (image.width - side) / 2;
  const size_t row = size_t(image.width) * image.channels;
  const uint8_t* first = image.pixels.data() + y0 * row + size_t(x0) * image.channels;
  Image out{size, size, image.channels, std::vector<uint8_t>(size_t(size) * size * image.channels)};
  if (side == size) {
    for (int y = 0; y < size; ++y)
      std::memcpy(out.pixels.data() + size_t(y) * size * image.channels, first + y * row,
                  size_t(size) * image.channels);
    return out;
  }
  if (filter == ResizeFilter::Mitchell) {
    // stb's resize reads the crop in place through the source stride; it filters over the whole footprint
    // of each output pixel when shrinking, which is the antialiasing.
    const int ok =
        stbir_resize_uint8(first, side, side, static_cast<int>(row), out.pixels.data(), size, size, 0, image.channels);
    SCORCH_CHECK(ok != 0, "resize from {}x{} to {}x{} failed", side, side, size, size);
    return out;
  }
  namespace F = torch::nn::functional;
  const auto crop_hwc = torch::from_blob(const_cast<uint8_t*>(first), {side, side, image.channels},
                                         {static_cast<int64_t>(row), image.channels, 1}, torch::kUInt8);
  const auto x = crop_hwc.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32);  // (1, C, side, side)
  F::InterpolateFuncOptions how;
  how.size(std::vector<int64_t>{size, size}).align_corners(false).antialias(true);
  if (filter == ResizeFilter::Bilinear)
    how.mode(torch::kBilinear);
  else
    how.mode(torch::kBicubic);
  const auto y = F::interpolate(x, how);  // (1, C, size, size)
  const auto hwc = y.squeeze(0).permute({1, 2, 0}).round().clamp(0, 255).to(torch::kUInt8).contiguous();
  std::memcpy(out.pixels.data(), hwc.data_ptr<uint8_t>(), out.pixels.size());
  return out;
}

void write_png(const std::string& path, const Image& image) {
  SCORCH_CHECK(image.channels == 1 || image.channels == 3, "write_png '{}': channels must be 1 or 3, got {}", path,
               image.channels);
  // Encoded in memory and written by write_file_atomic, which checks every write: stbi_write_png ignores
  // fwrite's and fclose's errors, so on a full disk it would put an empty file in place of a good one.
  write_file_atomic(path, encode_png(image));
}

std::string encode_png(const Image& image) {
  SCORCH_CHECK(image.channels == 1 || image.channels == 3, "encode_png: channels must be 1 or 3, got {}",
               image.channels);
  std::string out;
  const auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  SCORCH_CHECK(stbi_write_png_to_func(append, &out, image.width, image.height, image.channels, image.pixels.data(),
                                      image.width * image.channels) != 0,
               "cannot encode a {}x{} PNG", image.width, image.height);
  return out;
}

Image make_grid(const uint8_t* pixels, int64_t count, int height, int width, int channels, int columns) {
  SCORCH_CHECK(count > 0 && columns > 0, "make_grid: need at least one image and one column");
  const int gap = 2, cols = static_cast<int>(std::min<int64_t>(columns, count));
  const int rows = static_cast<int>((count + cols - 1) / cols);
  Image out{rows * (height + gap) + gap, cols * (width + gap) + gap, channels, {}};
  out.pixels.assign(size_t(out.height) * out.width * channels, 0);
  const size_t item = size_t(height) * width * channels;
  for (int64_t i = 0; i < count; ++i) {
    const int gy = gap + static_cast<int>(i / cols) * (height + gap),
              gx = gap + static_cast<int>(i % cols) * (width + gap);
    for (int y = 0; y < height; ++y)
      std::memcpy(out.pixels.data() + (size_t(gy + y) * out.width + gx) * channels,
                  pixels + i * item + size_t(y) * width * channels, size_t(width) * channels);
  }
  return out;
}

}  // namespace scorch::io
