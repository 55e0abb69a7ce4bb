// Fuzz target: encoded images (core/io/image_io over Debian's stb): PNG/JPEG/BMP/GIF in folders and TFRecords.
#include "core/io/image_io.h"
#include "fuzz_support.h"

using namespace scorch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string what = "fuzz input image";
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  fuzz::refuse_only_by_name(what, [&] { io::encoded_image_size(bytes, what); });
  for (const int channels : {1, 3})
    fuzz::refuse_only_by_name(what, [&] {
      const auto im = io::decode_image(bytes, channels, what);
      fuzz::touch(im.pixels.data(), im.pixels.size());
    });
  return 0;
}
