// Fuzz target: one .npy array (core/io/npz parse_npy): latents, FID features, arrays users hand to `data pack`.
#include "core/io/npz.h"
#include "fuzz_support.h"

using namespace scorch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string what = "fuzz input.npy";
  fuzz::refuse_only_by_name(
      what, [&] { fuzz::touch(io::npz::parse_npy(std::string(reinterpret_cast<const char*>(data), size), what)); });
  return 0;
}
