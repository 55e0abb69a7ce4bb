// Fuzz target: YAML config files (core/config): configs/ and every run dir's config.yaml.
#include "core/config.h"
#include "fuzz_support.h"

using namespace scorch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::input_file(data, size, "config.yaml");
  fuzz::refuse_only_by_name(path, [&] {
    auto c = Config::defaults();
    c.merge_file(path);
    (void)c.to_yaml();
  });
  return 0;
}
