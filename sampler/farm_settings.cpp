// decides_samples / first_sample_difference (see farm_settings.h).
#include "sampler/farm_settings.h"

#include <yaml-cpp/yaml.h>

namespace scorch::sampler {
namespace {

Config from_yaml(const std::string& text, const std::string& source) {
  auto c = Config::defaults();
  c.merge_yaml(YAML::Load(text), source);
  return c;
}

}  // namespace

bool decides_samples(const OptionSpec& option) {
  if (option.key == "sampling.cuda_graph" || option.key == "sampling.channels_last") return false;
  return option.scope == Scope::Network || option.scope == Scope::Objective || option.scope == Scope::Sampling;
}

ConfigDifference first_sample_difference(const std::string& before_yaml, const std::string& before_source,
                                         const std::string& now_yaml) {
  const auto before = from_yaml(before_yaml, before_source), now = from_yaml(now_yaml, "this run's config");
  for (const auto& o : option_table()) {
    if (!decides_samples(o)) continue;
    if (before.value_text(o.key) != now.value_text(o.key))
      return {o.key, before.value_text(o.key), now.value_text(o.key)};
  }
  return {};
}

}  // namespace scorch::sampler
