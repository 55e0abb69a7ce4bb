// Fuzz target: .npz archives (core/io/npz: zip container, stored or deflated members): FID statistics and fixtures.
#include "core/io/npz.h"
#include "fuzz_support.h"

using namespace scorch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::input_file(data, size, "input.npz");
  fuzz::refuse_only_by_name(path, [&] {
    for (const auto& [name, t] : io::npz::read_npz(path)) fuzz::touch(t);
  });
  return 0;
}
