// Range-checked integers from JSON (see json_numbers.h).
#include "core/json_numbers.h"

#include <limits>

#include "core/error.h"

namespace scorch {
namespace {

// At most 80 characters of the offending value: a forged number may be thousands of digits long.
std::string shown(const nlohmann::json& v) {
  auto text = v.dump();
  return text.size() > 80 ? text.substr(0, 77) + "..." : text;
}

template <typename T>
std::vector<T> list_of(const nlohmann::json& v, std::string_view what,
                       T (*one)(const nlohmann::json&, std::string_view)) {
  SCORCH_CHECK(v.is_array(), "{} is {}, expected a list of integers", what, shown(v));
  std::vector<T> out;
  out.reserve(v.size());
  for (const auto& e : v) out.push_back(one(e, what));
  return out;
}

}  // namespace

int64_t json_int64(const nlohmann::json& v, std::string_view what) {
  const bool ok = v.is_number_integer() &&
                  (!v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t{std::numeric_limits<int64_t>::max()});
  SCORCH_CHECK(ok, "{} is {}, expected an integer from {} to {}", what, shown(v), std::numeric_limits<int64_t>::min(),
               std::numeric_limits<int64_t>::max());
  return v.get<int64_t>();
}

uint64_t json_uint64(const nlohmann::json& v, std::string_view what) {
  // A non-negative number parsed from text is unsigned, but one set from a signed C++ value is not.
  const bool ok = v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
  SCORCH_CHECK(ok, "{} is {}, expected an integer from 0 to {}", what, shown(v), std::numeric_limits<uint64_t>::max());
  return v.get<uint64_t>();
}

std::vector<int64_t> json_int64_list(const nlohmann::json& v, std::string_view what) {
  return list_of<int64_t>(v, what, json_int64);
}

std::vector<uint64_t> json_uint64_list(const nlohmann::json& v, std::string_view what) {
  return list_of<uint64_t>(v, what, json_uint64);
}

}  // namespace scorch
