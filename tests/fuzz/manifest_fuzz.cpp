// Fuzz target: a dataset's manifest.json (data/format): what every loader trusts about the shards.
#include "data/format.h"
#include "fuzz_support.h"

using namespace scorch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::input_file(data, size, "manifest.json");
  fuzz::refuse_only_by_name(path, [&] {
    const auto m = data::read_manifest(path.substr(0, path.rfind('/')));
    (void)data::to_json(m);
  });
  return 0;
}
