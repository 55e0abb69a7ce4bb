// Type checks of config values against the option table (core/config_value.h).
#include "core/config_value.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "core/error.h"

namespace scorch {
namespace {

std::string render(const YAML::Node& n) {
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

bool is_int(const std::string& s) {
  if (s.empty()) return false;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  return i < s.size() && std::all_of(s.begin() + i, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_float(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

bool is_bool(const std::string& s) {
  static const std::set<std::string> ok = {"true", "false", "True", "False", "TRUE", "FALSE"};
  return ok.count(s) > 0;
}

// Lists may also be written Python-style, "(1, 2, 2, 2)", as score_sde configs do, or bare, "1,2,2".
YAML::Node as_sequence(const YAML::Node& n) {
  if (n.IsSequence()) return n;
  if (n.IsScalar()) {
    std::string s = n.Scalar();
    if (s.size() >= 2 && s.front() == '(' && s.back() == ')')
      s = s.substr(1, s.size() - 2);
    else if (s.find(',') == std::string::npos)
      s = "";
    if (!s.empty()) {
      try {
        YAML::Node parsed = YAML::Load("[" + s + "]");
        if (parsed.IsSequence()) return parsed;
      } catch (const YAML::Exception&) {
      }
    }
  }
  return YAML::Node();
}

}  // namespace

YAML::Node typed_value(const OptionSpec& spec, const YAML::Node& n, const std::string& source) {
  auto bad = [&]() {
    return Error(__FILE__, __LINE__,
                 fmt::format("config key '{}' (from {}) has value {}, expected {}", spec.key, source, render(n),
                             type_name(spec.type)),
                 fmt::format("{}: {} (default {})", spec.key, spec.help, spec.default_yaml));
  };
  auto scalar_ok = [&](const YAML::Node& x, ValueType t) {
    if (!x.IsScalar()) return false;
    const std::string& s = x.Scalar();
    // The getters read values through yaml-cpp's conversions: a number they cannot convert (out of int64's range,
    // nan, 1e400) is refused here, naming the key, not later as yaml-cpp's "bad conversion".
    int64_t i = 0;
    double f = 0;
    switch (t) {
      case ValueType::Int: return is_int(s) && YAML::convert<int64_t>::decode(x, i);
      case ValueType::Float: return is_float(s) && YAML::convert<double>::decode(x, f) && std::isfinite(f);
      case ValueType::Bool: return is_bool(s);
      case ValueType::Switch: return is_bool(s) || s == "auto";
      default: return true;
    }
  };
  switch (spec.type) {
    case ValueType::Int:
    case ValueType::Float:
    case ValueType::Bool:
    case ValueType::Switch:
      if (!scalar_ok(n, spec.type)) throw bad();
      return n;
    case ValueType::String:
      if (n.IsNull()) return YAML::Node("");
      if (!n.IsScalar()) throw bad();
      return n;
    case ValueType::IntList:
    case ValueType::FloatList: {
      YAML::Node seq = as_sequence(n);
      if (!seq.IsDefined() || seq.IsNull()) throw bad();
      ValueType elem = spec.type == ValueType::IntList ? ValueType::Int : ValueType::Float;
      YAML::Node out(YAML::NodeType::Sequence);
      for (const auto& x : seq) {
        if (!scalar_ok(x, elem)) throw bad();
        out.push_back(x);
      }
      return out;
    }
  }
  throw bad();
}

}  // namespace scorch
