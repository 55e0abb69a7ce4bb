// Layered run configuration: schema defaults -> YAML file -> --set overrides, typed and validated.
#pragma once
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/switch.h"

namespace scorch {

// Switch: true, false or auto (a speed switch on where it pays: core/switch.h).
enum class ValueType { Int, Float, Bool, Switch, String, IntList, FloatList };
const char* type_name(ValueType t);

// What a key decides, and so where a change of it is allowed (docs/architecture.md "Config scopes"):
//   Network       the weights' architecture: a resume or `scorch sample` with another value is refused.
//   Objective     the SDE and data representation the network learns: a resume with another value is
//                 refused; a sampler may change it (model.num_scales is also the number of sampling steps).
//   Training      optimisation hyperparameters: a resume with another value continues, with a warning.
//   Sampling      what scorch sample / fid --ckpts read.
//   Runtime       how a run executes (device, precision, logging, memory): free to change on a resume.
//   Informational accepted so score_sde configs load, never read.
enum class Scope { Network, Objective, Training, Sampling, Runtime, Informational };
const char* scope_name(Scope s);

// One row of the option table: the same row is a config key and the CLI flag `--<key>`.
struct OptionSpec {
  std::string key;  // score_sde field name, e.g. "training.batch_size"
  ValueType type;
  std::string default_yaml;  // default value as YAML text, e.g. "128", "[1, 2, 2, 2]", "vesde"
  std::string help;
  Scope scope;
  // The network families that read the key ("ncsnpp ddpm"); empty: every network, or not a network key.
  // Families: ncsnpp, ddpm, refinenet (ncsn and the ncsnv2 depths, score_sde's ncsnv2_64/128/256 included).
  std::string networks = {};
};

const std::vector<OptionSpec>& option_table();
const OptionSpec* find_option(const std::string& key);
// The valid key nearest to `key` by edit distance, for "did you mean" messages.
std::string closest_key(const std::string& key);
// The family of a model.name (see OptionSpec::networks); "" for a name no network has.
std::string network_family(const std::string& model_name);

class Config {
 public:
  // The built-in defaults (score_sde's default_cifar10_configs plus scorch's own keys).
  static Config defaults();
  // Defaults, then `path` when not empty, then each "key=value" override, in order.
  static Config resolve(const std::string& path, const std::vector<std::string>& overrides);

  void merge_file(const std::string& path);
  void merge_yaml(const YAML::Node& root, const std::string& source);
  void set(const std::string& key, const std::string& value_yaml, const std::string& source);
  // "key=value" as given to --set.
  void set_assignment(const std::string& assignment, const std::string& source);

  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  Switch get_switch(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<int64_t> get_int_list(const std::string& key) const;
  std::vector<double> get_float_list(const std::string& key) const;
  // The value of `key` as canonical text ("3", "true", "1,2,2,2"): equal texts are equal values, however
  // each was written (1e1 and 10.0, True and true).
  std::string value_text(const std::string& key) const;
  // Where the value of `key` came from: "default", a file path, or "--set".
  const std::string& source_of(const std::string& key) const;
  // Refuses a key that was set after `base` (by a file, --set or a --key flag) and that the chosen network
  // does not read: such a value would otherwise change nothing, silently.
  void check_read_by_network(const Config& base) const;

  // The resolved configuration as nested YAML, in option-table order, without the keys the network ignores.
  std::string to_yaml() const;
  void save(const std::string& path) const;

 private:
  const YAML::Node& value(const std::string& key, ValueType expected) const;
  std::map<std::string, YAML::Node> values_;
  std::map<std::string, std::string> sources_;
};

}  // namespace scorch
