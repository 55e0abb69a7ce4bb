// configs/{ve,vp,subvp} against every score_sde_pytorch config, field for field: each reference key's value, as
// the reference's own get_config() gives it (tests/fixtures/configs, make_fixture.py), equals scorch's resolved one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/config.h"
#include "support/run.h"

namespace scorch {
namespace {

namespace fs = std::filesystem;

fs::path ref_configs_root() { return fs::path(test::source_dir()) / "configs"; }

const nlohmann::json& ref_fixture() {
  static const nlohmann::json j = [] {
    std::ifstream in(fs::path(test::source_dir()) / "tests/fixtures/configs/score_sde_configs.json");
    EXPECT_TRUE(in.is_open()) << "tests/fixtures/configs/score_sde_configs.json is missing";
    return in.is_open() ? nlohmann::json::parse(in) : nlohmann::json::object();
  }();
  return j;
}

// The reference configs' own names ("vp/ddpm/cifar10"), and configs/<name>.yaml for one.
std::vector<std::string> ref_config_names() {
  std::vector<std::string> out;
  const auto& j = ref_fixture();
  if (!j.contains("configs")) return out;
  for (const auto& item : j.at("configs").items()) out.push_back(item.key());
  return out;
}
fs::path ref_yaml_path(const std::string& name) { return ref_configs_root() / (name + ".yaml"); }

// What is allowed to differ, each for a reason configs/README.md gives. `config` "*" is every config. Every entry
// must still be needed: a stale one fails the test too.
struct RefAllowance {
  std::string config, key, reason;
};

// Reference keys with no scorch key. (`device`, a torch.device, is dropped by make_fixture.py already.)
const std::vector<RefAllowance>& ref_missing_allowed() {
  static const std::vector<RefAllowance> v = {
      {"*", "model.interpolation",
       "ve/ncsn*, ve/ncsnv2*: 'bilinear', which the refinenet networks hard-code (configs/README.md, Dropped)"},
      {"ve/celeba_ncsnpp", "model.sigma_begin", "set but never read by score_sde (sigma_max is 90 already)"},
      {"ve/ncsnv2/bedroom", "training.continuouse",
       "the reference's typo for training.continuous; the YAML writes what it means (continuous: false)"},
  };
  return v;
}

// Reference keys whose scorch value differs on purpose.
const std::vector<RefAllowance>& ref_value_allowed() {
  static const std::vector<RefAllowance> v = {
      {"ve/ncsn/celeba", "training.loss",
       "the reference's 'vesde' is a typo for training.sde (which the YAML sets); scorch's training.loss is the "
       "objective, dsm"},
      {"ve/ncsnv2/bedroom", "training.continuous",
       "the reference stays True through its continuouse typo (and then fails); the YAML says false, what it means"},
  };
  return v;
}

// YAMLs under ve/, vp/, subvp/ that are no score_sde_pytorch config.
const std::vector<RefAllowance>& ref_extra_allowed() {
  static const std::vector<RefAllowance> v = {
      {"ve/cifar10_classifier", "",
       "score_sde's noise-conditional classifier, which only the JAX repository (yang-song/score_sde) has"},
  };
  return v;
}

const RefAllowance* ref_find_allowance(const std::vector<RefAllowance>& list, const std::string& config,
                                       const std::string& key) {
  for (const auto& a : list)
    if ((a.config == "*" || a.config == config) && a.key == key) return &a;
  return nullptr;
}

// Whether the network model.name builds reads `spec` (OptionSpec::networks); a key it does not read cannot be set
// by a file (Config::check_read_by_network refuses it), so the YAML leaves the default whatever the reference says.
bool ref_network_reads(const OptionSpec& spec, const Config& c) {
  const std::string family = network_family(c.get_string("model.name"));
  if (spec.networks.empty() || family.empty()) return true;
  std::istringstream words(spec.networks);
  for (std::string w; words >> w;)
    if (w == family) return true;
  return false;
}

bool ref_floats_equal(double a, double b) {
  return a == b || std::fabs(a - b) <= 1e-12 * std::max(std::fabs(a), std::fabs(b));
}

bool ref_is_int(const nlohmann::json& v) { return v.is_number_integer(); }  // false for booleans
bool ref_is_number(const nlohmann::json& v) { return v.is_number(); }       // false for booleans

// "" when scorch's value of `spec.key` equals the reference's `ref`, else what differs.
std::string ref_compare(const Config& c, const OptionSpec& spec, const nlohmann::json& ref) {
  const std::string ours = c.value_text(spec.key), theirs = ref.dump();
  const std::string differ = "scorch " + ours + ", reference " + theirs;
  const std::string bad_type = "reference value " + theirs + " is not a " + type_name(spec.type);
  switch (spec.type) {
    case ValueType::Int:
      if (!ref_is_int(ref)) return bad_type;
      return c.get_int(spec.key) == ref.get<int64_t>() ? "" : differ;
    case ValueType::Float:
      if (!ref_is_number(ref)) return bad_type;
      return ref_floats_equal(c.get_float(spec.key), ref.get<double>()) ? "" : differ;
    case ValueType::Bool:
      if (!ref.is_boolean()) return bad_type;
      return c.get_bool(spec.key) == ref.get<bool>() ? "" : differ;
    case ValueType::Switch:
      if (!ref.is_boolean()) return bad_type;
      return c.get_switch(spec.key) == (ref.get<bool>() ? Switch::On : Switch::Off) ? "" : differ;
    case ValueType::String:
      if (!ref.is_string()) return bad_type;
      return c.get_string(spec.key) == ref.get<std::string>() ? "" : differ;
    case ValueType::IntList: {
      if (!ref.is_array() || !std::all_of(ref.begin(), ref.end(), ref_is_int)) return bad_type;
      return c.get_int_list(spec.key) == ref.get<std::vector<int64_t>>() ? "" : differ;
    }
    case ValueType::FloatList: {
      if (!ref.is_array() || !std::all_of(ref.begin(), ref.end(), ref_is_number)) return bad_type;
      const auto a = c.get_float_list(spec.key);
      const auto b = ref.get<std::vector<double>>();
      if (a.size() != b.size()) return differ;
      for (size_t i = 0; i < a.size(); ++i)
        if (!ref_floats_equal(a[i], b[i])) return differ;
      return "";
    }
  }
  return "unknown type";
}

TEST(ConfigsReference, FixtureHoldsEveryReferenceConfig) {
  const auto& j = ref_fixture();
  EXPECT_EQ(j.value("reference", ""), "yang-song/score_sde_pytorch");
  EXPECT_EQ(j.value("commit", "").rfind("cb1f359", 0), 0u) << "configs/README.md names commit cb1f359";
  // score_sde_pytorch's configs/ holds 39 configs besides its three default_*_configs.py.
  EXPECT_EQ(ref_config_names().size(), 39u);
  // Only the torch.device was left out of the fixture.
  for (const auto& [name, dropped] : j.at("dropped").items())
    EXPECT_EQ(dropped, nlohmann::json::array({"device"})) << name;
}

TEST(ConfigsReference, EveryReferenceConfigHasItsYaml) {
  for (const auto& name : ref_config_names()) {
    const auto path = ref_yaml_path(name);
    if (!fs::exists(path)) {
      ADD_FAILURE() << "score_sde_pytorch configs/" << name << ".py has no " << path.string();
      continue;
    }
    std::ifstream in(path);
    std::string first;
    std::getline(in, first);
    EXPECT_EQ(first.rfind("# score_sde_pytorch configs/" + name + ".py (commit cb1f359)", 0), 0u)
        << path << ": the first line names the reference file: " << first;
  }
}

TEST(ConfigsReference, EveryReferenceValueMatches) {
  std::set<std::pair<std::string, std::string>> used;  // (config or "*", key) of each allowance that applied
  size_t compared = 0, unread = 0, no_yaml = 0;
  for (const auto& name : ref_config_names()) {
    const auto path = ref_yaml_path(name);
    if (!fs::exists(path)) {
      ++no_yaml;  // EveryReferenceConfigHasItsYaml names it
      continue;
    }
    const Config base = Config::defaults();
    const Config c = Config::resolve(path.string(), {});
    for (const auto& [key, ref] : ref_fixture().at("configs").at(name).items()) {
      const OptionSpec* spec = find_option(key);
      if (!spec) {
        const RefAllowance* a = ref_find_allowance(ref_missing_allowed(), name, key);
        if (a)
          used.insert({a->config, key});
        else
          ADD_FAILURE() << path.string() << ": reference key " << key << " = " << ref.dump()
                        << " has no scorch key, and is not in ref_missing_allowed()";
        continue;
      }
      const std::string diff = ref_compare(c, *spec, ref);
      ++compared;
      if (diff.empty()) continue;
      if (!ref_network_reads(*spec, c) && c.source_of(key) == base.source_of(key)) {
        ++unread;  // e.g. model.scale_by_sigma for ncsnv2: the network ignores it and a file may not set it
        continue;
      }
      const RefAllowance* a = ref_find_allowance(ref_value_allowed(), name, key);
      if (a)
        used.insert({a->config, key});
      else
        ADD_FAILURE() << path.string() << ": " << key << ": " << diff;
    }
  }
  for (const auto* list : {&ref_missing_allowed(), &ref_value_allowed()})
    for (const auto& a : *list)
      EXPECT_TRUE(used.count({a.config, a.key})) << "allowance no longer needed: " << a.config << " " << a.key;
  // 39 configs, 2449 reference keys (device is not in the fixture), of which 13 have no scorch key.
  if (no_yaml == 0) {
    EXPECT_EQ(compared, 2436u);
  }
  std::cout << "[ConfigsReference] " << ref_config_names().size() << " configs, " << compared << " keys compared, "
            << unread << " of them unread by the config's network (default kept)\n";
}

TEST(ConfigsReference, EveryYamlIsAReferenceConfig) {
  const auto names = ref_config_names();
  const std::set<std::string> known(names.begin(), names.end());
  std::set<std::string> extra_used;
  for (const std::string dir : {"ve", "vp", "subvp"}) {
    for (const auto& e : fs::recursive_directory_iterator(ref_configs_root() / dir)) {
      if (!e.is_regular_file()) continue;
      const std::string rel = fs::relative(e.path(), ref_configs_root()).generic_string();
      ASSERT_EQ(e.path().extension(), ".yaml") << rel << ": only YAML configs live here";
      const std::string name = rel.substr(0, rel.size() - 5);
      if (known.count(name)) continue;
      if (ref_find_allowance(ref_extra_allowed(), name, ""))
        extra_used.insert(name);
      else
        ADD_FAILURE() << "configs/" << rel << " is no score_sde_pytorch config (nor in ref_extra_allowed())";
    }
  }
  for (const auto& a : ref_extra_allowed())
    EXPECT_TRUE(extra_used.count(a.config)) << "allowance no longer needed: " << a.config;
}

}  // namespace
}  // namespace scorch
