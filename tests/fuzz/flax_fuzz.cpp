// Fuzz target: Flax msgpack checkpoints (core/io/flax_msgpack): score_sde's released classifier.
#include "core/io/flax_msgpack.h"
#include "fuzz_support.h"

using namespace scorch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::input_file(data, size, "checkpoint_1");
  fuzz::refuse_only_by_name(path, [&] {
    (void)io::looks_like_flax_msgpack(path);
    for (const auto& [name, t] : io::read_flax_msgpack(path).arrays) fuzz::touch(t);
  });
  return 0;
}
