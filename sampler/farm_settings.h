// A sample farm's settings: what out/farm.json records (the farm's identity), which config keys decide its images,
// and the checks that a resume continues the same farm.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "sampler/farm.h"

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

// What out/farm.json records: the counts, the seed, the images' shape (`image_shape` is (C, H, W)), the model's
// identity, the config, and the flags and task that change what the images are.
nlohmann::json farm_identity(const std::vector<int64_t>& image_shape, const Config& config, const FarmOptions& o);

// `path` (a farm.json) as a JSON object; anything else is an error naming it, with o.start_over as the way out.
nlohmann::json read_farm_file(const std::string& path, const FarmOptions& o);

// Throws unless the farm whose farm.json (`farm_file`) reads `before` was made with the settings `now` says: the
// first top-level key that differs, then the first config key that decides samples. A weights digest that one
// side lacks (a farm from before digests, a dry run) is not compared.
void check_same_farm(nlohmann::json before, nlohmann::json now, const std::string& farm_file, const FarmOptions& o);

}  // namespace scorch::sampler
