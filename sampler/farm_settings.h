// Which config keys decide a sample farm's images, and the first of them that differs between the config a farm was
// started with and the one it is resumed with.
#pragma once
#include <string>

#include "core/config.h"

namespace scorch::sampler {

// The network's and the objective's keys, and the sampling keys but those that change only the speed (their
// effect is float round-off: sampling.cuda_graph, sampling.channels_last). Training, runtime and informational keys
// (device, dist.timeout_s, logging, ...) may change on a resume.
bool decides_samples(const OptionSpec& option);

struct ConfigDifference {
  std::string key, before, now;  // key empty: none
};

// Both configs as YAML (Config::to_yaml, as farm.json keeps it) read back over the defaults, so that a key neither
// wrote (one a later scorch added, or one the network ignores) compares at its default. `before_source` names the
// file the first came from in an error.
ConfigDifference first_sample_difference(const std::string& before_yaml, const std::string& before_source,
                                         const std::string& now_yaml);

}  // namespace scorch::sampler
