// Fuzz target: safetensors files (core/io/safetensors): every scorch checkpoint, and weights from anywhere.
#include "core/io/safetensors.h"
#include "fuzz_support.h"

using namespace scorch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::input_file(data, size, "input.safetensors");
  fuzz::refuse_only_by_name(path, [&] {
    for (const auto& [name, t] : io::read_safetensors(path).tensors) fuzz::touch(t);
  });
  return 0;
}
