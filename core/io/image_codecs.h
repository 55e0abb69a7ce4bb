// The decoders that stb lacks or gets differently from the reference tools: JPEG through libjpeg-turbo (the
// library under PIL, pytorch-fid and TensorFlow's decode_jpeg), TIFF through libtiff, WebP through libwebp.
#pragma once
#include <cstdint>
#include <string>

#include "core/io/image_io.h"

namespace scorch::io {

// What the first bytes say the file is; Other goes to stb.
enum class ImageCodec { Jpeg, Tiff, Webp, Other };
ImageCodec sniff_image_codec(const std::string& bytes);
// Decoders allocate what a header claims. No format inflates much beyond deflate's 1032:1, so a claim past
// that ratio (beyond 64 MiB, which any real image may have) is a damaged or hostile header: throws naming it.
void check_claimed_size(uint64_t width, uint64_t height, int channels, size_t encoded_bytes, const std::string& what);

// libjpeg-turbo with its defaults (integer DCT, fancy upsampling), as PIL and decode_jpeg decode: the same
// bytes out. channels 3: RGB (greyscale replicated); 1: the luma plane, as decode_jpeg(channels=1); 0: the
// file's. CMYK/YCCK and truncated files are refused.
Image decode_jpeg(const std::string& bytes, int channels, const std::string& what);
// 8 bits per sample, interleaved, in strips or tiles, any compression libtiff decodes: grey (MinIsBlack or
// MinIsWhite), grey + alpha, RGB(A) with unassociated alpha, palette, and YCbCr JPEG-in-TIFF (read as RGB).
// The first page only, in stored row order (as PIL). Returns 1 (grey) or 3 channels, alpha dropped.
Image decode_tiff(const std::string& bytes, const std::string& what);
// Still WebP, lossy or lossless; alpha dropped. Returns 3 channels.
Image decode_webp(const std::string& bytes, const std::string& what);

}  // namespace scorch::io
