// Formats scorch::Error so the message carries where it was raised and what to do about it.
#include "core/error.h"

#include <cstring>

namespace scorch {

namespace {
std::string short_file(const char* file) {
  // Keep the path relative to the source tree: "core/config.cpp" rather than an absolute build path.
  static const char* roots[] = {"/core/", "/data/", "/trainer/", "/sampler/", "/eval/", "/apps/", "/tests/"};
  std::string f(file);
  size_t best = std::string::npos;
  for (const char* r : roots) {
    size_t p = f.rfind(r);
    if (p != std::string::npos && (best == std::string::npos || p > best)) best = p;
  }
  return best == std::string::npos ? f : f.substr(best + 1);
}

std::string compose(const std::string& what, const std::string& hint) {
  return hint.empty() ? what : what + "\n  hint: " + hint;
}
}  // namespace

Error::Error(const char* file, int line, const std::string& what, const std::string& hint)
    : std::runtime_error(compose(what, hint) + " [" + short_file(file) + ":" + std::to_string(line) + "]"),
      message_(what),
      hint_(hint),
      where_(short_file(file) + ":" + std::to_string(line)) {}

}  // namespace scorch
