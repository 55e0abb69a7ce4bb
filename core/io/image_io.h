// Image decoding (PNG, BMP, PNM and the rest through stb; JPEG, TIFF and WebP through image_codecs.h), PNG
// writing/encoding (stb), centre-crop + antialiased resize, and image grids.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace scorch::io {

// Interleaved 8-bit pixels, row-major HWC.
struct Image {
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;
  int file_channels = 0, file_bits = 8;  // what the file stores per pixel, as decoded from (16: 16-bit PNG/PNM)
};

// Decodes PNG/JPEG/TIFF/WebP/BMP/PNM/… from `path` into `channels` channels (1 gray, 3 RGB; 0 keeps the
// file's, with gray+alpha -> gray and RGBA -> RGB): the pixels of PIL's Image.open(path).convert("RGB" or "L"),
// colour files greyed by PIL's luma. 16-bit PNG and PNM samples keep their high byte; PNM files
// whose maximum is not 255 or 65535 are refused. Throws naming the file and the decoder's reason.
Image read_image(const std::string& path, int channels);
// The same for encoded bytes in memory; `what` names them in errors (a file and record).
Image decode_image(const std::string& bytes, int channels, const std::string& what);
// Height and width from the header alone (no pixels decoded); throws like decode_image when unreadable.
std::pair<int, int> encoded_image_size(const std::string& bytes, const std::string& what);
// How center_crop_resize resamples. Mitchell: stb's antialiased Mitchell filter (Catmull-Rom when enlarging).
// Bilinear / Bicubic: torch's antialiased interpolation (PIL's filters; bicubic with a = -0.5), the kind of
// tf.image.resize(..., antialias=True) that score_sde's datasets.py uses for CelebA (bilinear) and LSUN (bicubic).
enum class ResizeFilter { Mitchell, Bilinear, Bicubic };
// "mitchell" | "bilinear" | "bicubic"; anything else throws naming it and the choices.
ResizeFilter resize_filter_named(const std::string& name);
const char* resize_filter_name(ResizeFilter filter);
// A centred crop x crop square (0: the largest centred square; top = (height - crop) / 2, left likewise, as
// score_sde's central_crop), then a resize to size x size with `filter` (none when the sizes are equal).
Image center_crop_resize(const Image& image, int size, int crop = 0, ResizeFilter filter = ResizeFilter::Mitchell);
// Writes a PNG atomically; channels 1 or 3.
void write_png(const std::string& path, const Image& image);
// The PNG file's bytes, for embedding (TensorBoard image summaries); channels 1 or 3.
std::string encode_png(const Image& image);
// Tiles `count` HWC images (contiguous in `pixels`) into a grid with `columns` columns and a 2-pixel gap.
Image make_grid(const uint8_t* pixels, int64_t count, int height, int width, int channels, int columns);

}  // namespace scorch::io
