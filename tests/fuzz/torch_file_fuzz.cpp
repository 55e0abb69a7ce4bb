// Fuzz target: torch.save files (core/io/torch_file): the zip container and the legacy stream, as
// score_sde_pytorch and NCSN checkpoints arrive.
#include "core/io/torch_file.h"
#include "fuzz_support.h"

using namespace scorch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::input_file(data, size, "input.pth");
  fuzz::refuse_only_by_name(path, [&] {
    io::sniff_torch_file(path);
    fuzz::touch(io::read_torch_file(path).root, path);
  });
  return 0;
}
