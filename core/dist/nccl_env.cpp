// scorch's NCCL defaults (nccl_env.h).
#include "core/dist/nccl_env.h"

#include <cstdlib>

namespace scorch::dist {

std::vector<std::string> set_nccl_defaults() {
  static const std::pair<const char*, const char*> kDefaults[] = {{"NCCL_GRAPH_REGISTER", "0"}};
  std::vector<std::string> set;
  for (const auto& [name, value] : kDefaults) {
    if (std::getenv(name) != nullptr) continue;
    setenv(name, value, /*overwrite=*/0);
    set.push_back(std::string(name) + "=" + value);
  }
  return set;
}

}  // namespace scorch::dist
