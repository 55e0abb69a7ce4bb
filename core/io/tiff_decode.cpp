// TIFF through libtiff, read from memory: the 8-bit layouts image folders hold, pixels as PIL gives them.
#include <tiffio.h>

#include <algorithm>
#include <cstdarg>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "core/io/image_codecs.h"

namespace scorch::io {
namespace {

struct TiffBytes {
  const std::string* bytes;
  toff_t at = 0;
};

tmsize_t tiff_read(thandle_t h, void* buf, tmsize_t n) {
  auto* m = static_cast<TiffBytes*>(h);
  const auto left = m->at < m->bytes->size() ? m->bytes->size() - m->at : 0;
  const auto k = std::min<uint64_t>(static_cast<uint64_t>(n), left);
  std::memcpy(buf, m->bytes->data() + m->at, k);
  m->at += k;
  return static_cast<tmsize_t>(k);
}
tmsize_t tiff_write(thandle_t, void*, tmsize_t) { return 0; }
toff_t tiff_seek(thandle_t h, toff_t off, int whence) {
  auto* m = static_cast<TiffBytes*>(h);
  const toff_t base = whence == SEEK_CUR ? m->at : whence == SEEK_END ? m->bytes->size() : 0;
  m->at = base + off;
  return m->at;
}
int tiff_close(thandle_t) { return 0; }
toff_t tiff_size(thandle_t h) { return static_cast<TiffBytes*>(h)->bytes->size(); }
int tiff_map(thandle_t, void**, toff_t*) { return 0; }
void tiff_unmap(thandle_t, void*, toff_t) {}

// libtiff's messages go to the file's error, never to stderr; warnings (unknown tags) are dropped.
int tiff_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* message = static_cast<std::string*>(user);
  char line[512];
  std::vsnprintf(line, sizeof line, fmt, ap);
  if (message->empty()) *message = fmt::format("{}: {}", module ? module : "libtiff", line);
  return 1;
}
int tiff_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

struct TiffCloser {
  void operator()(TIFF* t) const { TIFFClose(t); }
};

}  // namespace

Image decode_tiff(const std::string& bytes, const std::string& what) {
  std::string message;
  TiffBytes memory{&bytes};
  std::unique_ptr<TIFFOpenOptions, void (*)(TIFFOpenOptions*)> options(TIFFOpenOptionsAlloc(), TIFFOpenOptionsFree);
  TIFFOpenOptionsSetErrorHandlerExtR(options.get(), tiff_error, &message);
  TIFFOpenOptionsSetWarningHandlerExtR(options.get(), tiff_warning, nullptr);
  TIFFOpenOptionsSetMaxSingleMemAlloc(options.get(), tmsize_t{256} << 20);
  // "rm": no memory mapping (the bytes are already in memory, and tiff_map declines anyway).
  std::unique_ptr<TIFF, TiffCloser> tif(TIFFClientOpenExt(what.c_str(), "rm", &memory, tiff_read, tiff_write, tiff_seek,
                                                          tiff_close, tiff_size, tiff_map, tiff_unmap, options.get()));
  SCORCH_CHECK(tif, "cannot decode TIFF '{}': {}", what, message.empty() ? "not a TIFF file" : message);
  TIFF* t = tif.get();
  uint32_t width = 0, height = 0;
  uint16_t bits = 1, samples = 1, planar = PLANARCONFIG_CONTIG, format = SAMPLEFORMAT_UINT, photometric = 0;
  uint16_t compression = COMPRESSION_NONE;
  TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &width);
  TIFFGetField(t, TIFFTAG_IMAGELENGTH, &height);
  TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bits);
  TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &samples);
  TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
  TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &format);
  TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &compression);
  SCORCH_CHECK(TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photometric), "cannot decode TIFF '{}': no Photometric tag", what);
  SCORCH_CHECK(width > 0 && height > 0, "cannot decode TIFF '{}': {} x {} pixels", what, width, height);
  SCORCH_CHECK(bits == 8 && format == SAMPLEFORMAT_UINT,
               "cannot decode TIFF '{}': {}-bit {} samples; scorch reads 8-bit TIFFs (convert it to 8 bits: PIL, "
               "which pytorch-fid uses, clips 16-bit grey at 255)",
               what, bits,
               format == SAMPLEFORMAT_IEEEFP ? "float"
               : format == SAMPLEFORMAT_INT  ? "signed"
                                             : "unsigned");
  SCORCH_CHECK(planar == PLANARCONFIG_CONTIG || samples == 1,
               "cannot decode TIFF '{}': its colour planes are stored apart (PlanarConfiguration 2); scorch reads "
               "interleaved samples",
               what);

  int channels = 0;  // what the pixels come out as: 1 grey, 3 RGB
  bool invert = false, alpha = false;
  std::vector<uint8_t> palette;  // 256 x RGB
  if (photometric == PHOTOMETRIC_YCBCR && compression == COMPRESSION_JPEG) {
    // libtiff's JPEG codec converts to RGB itself, as PIL has it do.
    TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
    photometric = PHOTOMETRIC_RGB;
  }
  if ((photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE) && samples <= 2) {
    channels = 1, invert = photometric == PHOTOMETRIC_MINISWHITE, alpha = samples == 2;
  } else if (photometric == PHOTOMETRIC_RGB && (samples == 3 || samples == 4)) {
    channels = 3, alpha = samples == 4;
  } else if (photometric == PHOTOMETRIC_PALETTE && samples == 1) {
    channels = 3;
    uint16_t *r = nullptr, *g = nullptr, *b = nullptr;
    SCORCH_CHECK(TIFFGetField(t, TIFFTAG_COLORMAP, &r, &g, &b),
                 "cannot decode TIFF '{}': palette image without a "
                 "ColorMap",
                 what);
    for (int i = 0; i < 256; ++i)  // 16-bit entries; PIL keeps their high byte
      for (const uint16_t* c : {r, g, b}) palette.push_back(static_cast<uint8_t>(c[i] >> 8));
  } else {
    SCORCH_FAIL(
        "cannot decode TIFF '{}': Photometric {} with {} samples per pixel; scorch reads grey, grey + alpha, "
        "RGB, RGBA, palette and YCbCr JPEG TIFFs",
        what, photometric, samples);
  }
  if (alpha) {
    uint16_t count = 0;
    uint16_t* kinds = nullptr;
    // Premultiplied (associated) alpha would need undoing, as PIL's RGBa mode does; scorch refuses it instead.
    if (TIFFGetField(t, TIFFTAG_EXTRASAMPLES, &count, &kinds) && count > 0)
      SCORCH_CHECK(kinds[0] != EXTRASAMPLE_ASSOCALPHA,
                   "cannot decode TIFF '{}': its alpha is premultiplied (ExtraSamples 1); scorch reads unassociated "
                   "alpha only",
                   what);
  }
  check_claimed_size(width, height, samples, bytes.size(), what);

  std::vector<uint8_t> raw(size_t(width) * height * samples);  // (H, W, samples) as stored
  const size_t row_bytes = size_t(width) * samples;
  if (TIFFIsTiled(t)) {
    uint32_t tw = 0, th = 0;
    TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
    SCORCH_CHECK(tw > 0 && th > 0 && TIFFTileSize64(t) == uint64_t(tw) * th * samples,
                 "cannot decode TIFF '{}': tiles of {} x {} pixels in {} bytes", what, tw, th, TIFFTileSize64(t));
    std::vector<uint8_t> tile(size_t(tw) * th * samples);
    for (uint32_t y = 0; y < height; y += th)
      for (uint32_t x = 0; x < width; x += tw) {
        SCORCH_CHECK(TIFFReadTile(t, tile.data(), x, y, 0, 0) >= 0, "cannot decode TIFF '{}': tile at ({}, {}): {}",
                     what, x, y, message);
        const size_t cols = std::min(tw, width - x) * size_t(samples);
        for (uint32_t r = 0; r < th && y + r < height; ++r)
          std::memcpy(&raw[(y + r) * row_bytes + size_t(x) * samples], &tile[size_t(r) * tw * samples], cols);
      }
  } else {
    SCORCH_CHECK(uint64_t(TIFFScanlineSize64(t)) == row_bytes, "cannot decode TIFF '{}': rows of {} bytes, {} expected",
                 what, TIFFScanlineSize64(t), row_bytes);
    for (uint32_t r = 0; r < height; ++r)
      SCORCH_CHECK(TIFFReadScanline(t, &raw[r * row_bytes], r, 0) == 1, "cannot decode TIFF '{}': row {}: {}", what, r,
                   message);
  }

  Image out{static_cast<int>(height), static_cast<int>(width), channels, {}};
  out.file_channels = samples;
  out.pixels.resize(size_t(width) * height * channels);
  for (size_t p = 0; p < size_t(width) * height; ++p) {
    const uint8_t* in = &raw[p * samples];
    uint8_t* o = &out.pixels[p * channels];
    if (!palette.empty())
      std::memcpy(o, &palette[size_t(in[0]) * 3], 3);
    else if (channels == 1)
      o[0] = invert ? static_cast<uint8_t>(255 - in[0]) : in[0];
    else
      std::memcpy(o, in, 3);
  }
  return out;
}

}  // namespace scorch::io
