// Config: parsing and layering of the option table's keys (their types: core/config_value.h).
#include "core/config.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/config_value.h"
#include "core/error.h"

namespace scorch {

const char* type_name(ValueType t) {
  switch (t) {
    case ValueType::Int: return "an integer (64-bit)";
    case ValueType::Float: return "a finite number";
    case ValueType::Bool: return "true or false";
    case ValueType::Switch: return "true, false or auto";
    case ValueType::String: return "a string";
    case ValueType::IntList: return "a list of integers, e.g. [1, 2, 2, 2]";
    case ValueType::FloatList: return "a list of numbers";
  }
  return "?";
}

const char* scope_name(Scope s) {
  switch (s) {
    case Scope::Network: return "network";
    case Scope::Objective: return "objective";
    case Scope::Training: return "training";
    case Scope::Sampling: return "sampling";
    case Scope::Runtime: return "runtime";
    case Scope::Informational: return "informational";
  }
  return "?";
}

const OptionSpec* find_option(const std::string& key) {
  for (const auto& o : option_table())
    if (o.key == key) return &o;
  return nullptr;
}

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string leaf(const std::string& key) {
  auto p = key.rfind('.');
  return p == std::string::npos ? key : key.substr(p + 1);
}

// yaml-cpp nodes are handles: assigning to a map slot writes through to every Config copy sharing that node.
// A fresh clone in a fresh slot keeps copies independent.
void replace_value(std::map<std::string, YAML::Node>& values, const std::string& key, const YAML::Node& node) {
  values.erase(key);
  values.emplace(key, YAML::Clone(node));
}

}  // namespace

const OptionSpec& require_option(const std::string& key, const std::string& source);

std::string closest_key(const std::string& key) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& o : option_table()) {
    // A key whose last part matches exactly ("batch_size" under the wrong section) wins outright.
    size_t d = leaf(o.key) == leaf(key) ? 0 : edit_distance(key, o.key);
    if (d < best_d) best_d = d, best = o.key;
  }
  return best;
}

Config Config::defaults() {
  Config c;
  for (const auto& o : option_table()) {
    c.values_[o.key] = YAML::Load(o.default_yaml);
    if (c.values_[o.key].IsNull()) c.values_[o.key] = YAML::Node("");
    c.sources_[o.key] = "default";
  }
  return c;
}

Config Config::resolve(const std::string& path, const std::vector<std::string>& overrides) {
  Config c = defaults();
  if (!path.empty()) c.merge_file(path);
  for (const auto& a : overrides) c.set_assignment(a, "--set");
  return c;
}

namespace {

// A key as a message can show it: control bytes escaped, and cut short, since a damaged file can make a
// whole paragraph (or binary) into one key.
std::string printable_key(const std::string& key) {
  constexpr size_t kShown = 80;
  std::string out;
  for (size_t i = 0; i < std::min(key.size(), kShown); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    out += c >= 0x20 && c < 0x7f ? std::string(1, static_cast<char>(c)) : fmt::format("\\x{:02x}", c);
  }
  return key.size() > kShown ? out + fmt::format("... ({} bytes)", key.size()) : out;
}

}  // namespace

void Config::merge_file(const std::string& path) {
  // score_sde's own configs are Python (ml_collections); their YAML copies live in configs/.
  SCORCH_CHECK_HINT(std::filesystem::path(path).extension() != ".py",
                    "every score_sde config is in configs/ as YAML under the same name, e.g. "
                    "configs/ve/cifar10_ncsnpp_continuous.yaml (docs/from-score-sde.md)",
                    "config file '{}' is one of score_sde's Python configs; scorch reads YAML", path);
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    SCORCH_FAIL("cannot read config file '{}'", path);
  } catch (const YAML::Exception& e) {
    SCORCH_FAIL("config file '{}' is not valid YAML: {}", path, e.what());
  }
  SCORCH_CHECK_HINT(!root.IsNull(), "a config file holds sections such as training:, model:, data:",
                    "config file '{}' is empty: expected a YAML mapping of sections", path);
  SCORCH_CHECK(root.IsMap(), "config file '{}' must be a YAML mapping of sections (training:, model:, ...)", path);
  merge_yaml(root, path);
}

void Config::merge_yaml(const YAML::Node& root, const std::string& source) {
  // Flatten nested maps into dotted keys; a map under a leaf key is a type error, not a new section.
  std::function<void(const YAML::Node&, const std::string&)> walk = [&](const YAML::Node& n,
                                                                        const std::string& prefix) {
    std::map<std::string, int> lines;  // this mapping's keys: YAML forbids one twice, yaml-cpp keeps both
    for (const auto& kv : n) {
      SCORCH_CHECK(kv.first.IsScalar(), "config '{}': a key under '{}' is not a name (line {})", source,
                   prefix.empty() ? "the top level" : prefix, kv.first.Mark().line + 1);
      std::string key = prefix.empty() ? kv.first.Scalar() : prefix + "." + kv.first.Scalar();
      const int line = kv.first.Mark().line + 1;
      const auto [first, fresh] = lines.emplace(kv.first.Scalar(), line);
      SCORCH_CHECK_HINT(fresh, "keep one of them", "config '{}': '{}' appears twice (lines {} and {})", source,
                        printable_key(key), first->second, line);
      if (kv.second.IsMap() && !find_option(key)) {
        walk(kv.second, key);
      } else {
        replace_value(values_, key, typed_value(require_option(key, source), kv.second, source));
        sources_[key] = source;
      }
    }
  };
  try {
    walk(root, "");
  } catch (const YAML::Exception& e) {
    SCORCH_FAIL("config '{}': {}", source, e.what());
  }
}

const OptionSpec& require_option(const std::string& key, const std::string& source) {
  const OptionSpec* spec = find_option(key);
  if (!spec) {
    const std::string hint = key.size() <= 100 ? fmt::format("did you mean '{}'? ", closest_key(key)) : "";
    throw Error(__FILE__, __LINE__, fmt::format("unknown config key '{}' (from {})", printable_key(key), source),
                hint + "`scorch train --help` lists every key");
  }
  return *spec;
}

void Config::set(const std::string& key, const std::string& value_yaml, const std::string& source) {
  const OptionSpec& spec = require_option(key, source);
  YAML::Node n;
  try {
    n = YAML::Load(value_yaml);
  } catch (const YAML::Exception&) {
    n = YAML::Node(value_yaml);
  }
  replace_value(values_, key, typed_value(spec, n, source));
  sources_[key] = source;
}

void Config::set_assignment(const std::string& assignment, const std::string& source) {
  auto eq = assignment.find('=');
  SCORCH_CHECK_HINT(eq != std::string::npos && eq > 0, "write it as key=value, e.g. --set training.batch_size=64",
                    "override '{}' has no '='", assignment);
  set(assignment.substr(0, eq), assignment.substr(eq + 1), source);
}

const YAML::Node& Config::value(const std::string& key, ValueType expected) const {
  const OptionSpec* spec = find_option(key);
  SCORCH_CHECK(spec, "internal: config key '{}' is not in the option table", key);
  SCORCH_CHECK(spec->type == expected, "internal: config key '{}' read as {}, but it is {}", key, type_name(expected),
               type_name(spec->type));
  return values_.at(key);
}

int64_t Config::get_int(const std::string& key) const { return value(key, ValueType::Int).as<int64_t>(); }
double Config::get_float(const std::string& key) const { return value(key, ValueType::Float).as<double>(); }
bool Config::get_bool(const std::string& key) const {
  std::string s = value(key, ValueType::Bool).Scalar();
  return s == "true" || s == "True" || s == "TRUE";
}
Switch Config::get_switch(const std::string& key) const {
  const std::string s = value(key, ValueType::Switch).Scalar();
  if (s == "auto") return Switch::Auto;
  return s == "true" || s == "True" || s == "TRUE" ? Switch::On : Switch::Off;
}
std::string Config::get_string(const std::string& key) const { return value(key, ValueType::String).as<std::string>(); }
std::vector<int64_t> Config::get_int_list(const std::string& key) const {
  return value(key, ValueType::IntList).as<std::vector<int64_t>>();
}
std::vector<double> Config::get_float_list(const std::string& key) const {
  return value(key, ValueType::FloatList).as<std::vector<double>>();
}

std::string Config::value_text(const std::string& key) const {
  const OptionSpec* spec = find_option(key);
  SCORCH_CHECK(spec, "internal: config key '{}' is not in the option table", key);
  switch (spec->type) {
    case ValueType::Int: return std::to_string(get_int(key));
    case ValueType::Float: return fmt::format("{}", get_float(key));  // shortest text that reads back exactly
    case ValueType::Bool: return get_bool(key) ? "true" : "false";
    case ValueType::Switch: return switch_name(get_switch(key));
    case ValueType::String: return get_string(key);
    case ValueType::IntList: return fmt::format("{}", fmt::join(get_int_list(key), ","));
    case ValueType::FloatList: return fmt::format("{}", fmt::join(get_float_list(key), ","));
  }
  return "";
}

const std::string& Config::source_of(const std::string& key) const { return sources_.at(key); }

std::string network_family(const std::string& model_name) {
  if (model_name == "ncsnpp" || model_name == "ddpm" || model_name == "mlp") return model_name;
  if (model_name == "wideresnet_noise_conditional") return "wideresnet";
  static const std::set<std::string> refinenets = {"ncsn",      "ncsnv2",     "ncsnv2_deeper", "ncsnv2_deepest",
                                                   "ncsnv2_64", "ncsnv2_128", "ncsnv2_256"};
  return refinenets.count(model_name) ? "refinenet" : "";
}

namespace {

bool family_reads(const OptionSpec& spec, const std::string& family) {
  if (spec.networks.empty() || family.empty()) return true;
  std::istringstream words(spec.networks);
  for (std::string w; words >> w;)
    if (w == family) return true;
  return false;
}

}  // namespace

void Config::check_read_by_network(const Config& base) const {
  const std::string name = get_string("model.name"), family = network_family(name);
  for (const auto& o : option_table()) {
    const bool set_here = source_of(o.key) != base.source_of(o.key);
    SCORCH_CHECK_HINT(!set_here || family_reads(o, family),
                      fmt::format("remove {} (`--dry-run` prints the keys {} reads)", o.key, name),
                      "{} = {} (from {}) is not an option of model.name {} (from {}): only {} read it, so the value "
                      "would change nothing",
                      o.key, value_text(o.key), source_of(o.key), name, source_of("model.name"), o.networks);
  }
}

std::string Config::to_yaml() const {
  YAML::Emitter e;
  e << YAML::BeginMap;
  std::string open_section;
  const std::string family = network_family(get_string("model.name"));
  for (const auto& o : option_table()) {
    if (!family_reads(o, family)) continue;
    auto dot = o.key.find('.');
    std::string section = dot == std::string::npos ? "" : o.key.substr(0, dot);
    std::string name = dot == std::string::npos ? o.key : o.key.substr(dot + 1);
    if (section != open_section) {
      if (!open_section.empty()) e << YAML::EndMap;
      if (!section.empty()) e << YAML::Key << section << YAML::Value << YAML::Block << YAML::BeginMap;
      open_section = section;
    }
    const YAML::Node& v = values_.at(o.key);
    e << YAML::Key << name << YAML::Value;
    if (v.IsSequence()) {
      e << YAML::Flow << YAML::BeginSeq;
      for (const auto& x : v) e << x.Scalar();
      e << YAML::EndSeq;
    } else if (o.type == ValueType::String) {
      e << YAML::DoubleQuoted << v.as<std::string>();
    } else {
      e << v.Scalar();
    }
  }
  if (!open_section.empty()) e << YAML::EndMap;
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

void Config::save(const std::string& path) const { write_file_atomic(path, to_yaml()); }

}  // namespace scorch
