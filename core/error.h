// The one exception type of scorch and the check macros that raise it with file:line and a hint.
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace scorch {

// Library code throws Error; only main() turns it into a message and an exit code.
class Error : public std::runtime_error {
 public:
  Error(const char* file, int line, const std::string& what, const std::string& hint = "");
  const std::string& message() const { return message_; }
  const std::string& hint() const { return hint_; }
  const std::string& where() const { return where_; }

 private:
  std::string message_, hint_, where_;
};

}  // namespace scorch

// SCORCH_FAIL("fmt", args...) throws; SCORCH_CHECK(cond, "fmt", args...) throws when cond is false.
// SCORCH_CHECK_HINT adds a hint that tells the user what to do about it.
#define SCORCH_FAIL(...) throw ::scorch::Error(__FILE__, __LINE__, ::fmt::format(__VA_ARGS__))
#define SCORCH_CHECK(cond, ...)            \
  do {                                     \
    if (!(cond)) SCORCH_FAIL(__VA_ARGS__); \
  } while (0)
#define SCORCH_CHECK_HINT(cond, hint, ...)                                                    \
  do {                                                                                        \
    if (!(cond)) throw ::scorch::Error(__FILE__, __LINE__, ::fmt::format(__VA_ARGS__), hint); \
  } while (0)
