// WebP through libwebp: still images, lossy or lossless, to RGB.
#include <webp/decode.h>

#include "core/error.h"
#include "core/io/image_codecs.h"

namespace scorch::io {

Image decode_webp(const std::string& bytes, const std::string& what) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  WebPBitstreamFeatures features;
  const auto status = WebPGetFeatures(data, bytes.size(), &features);
  SCORCH_CHECK(status == VP8_STATUS_OK, "cannot decode WebP '{}': libwebp status {} (damaged or not WebP)", what,
               static_cast<int>(status));
  SCORCH_CHECK(!features.has_animation,
               "cannot decode WebP '{}': it is animated; scorch reads still images (save the frame you mean as its "
               "own file)",
               what);
  check_claimed_size(features.width, features.height, 3, bytes.size(), what);
  Image out{features.height, features.width, 3, {}};
  out.file_channels = features.has_alpha ? 4 : 3;
  out.pixels.resize(size_t(out.width) * out.height * 3);
  // Alpha, when there is one, is dropped: PIL's convert("RGB") drops it too, without premultiplying.
  SCORCH_CHECK(WebPDecodeRGBInto(data, bytes.size(), out.pixels.data(), out.pixels.size(), out.width * 3) != nullptr,
               "cannot decode WebP '{}': libwebp could not decode its pixels (damaged)", what);
  return out;
}

}  // namespace scorch::io
