// Test support: a run dir holding one checkpoint of a freshly initialised tiny model (EMA = raw weights
// + a small offset), written with the same API the trainer uses, for sampler/CLI tests before training.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace scorch::test {

// Writes <run>/checkpoints/step-N (and `latest`) for configs/small/<config_name> with `overrides`
// ("key=value"), the weights initialised from `init_seed`; returns the run dir.
std::string write_tiny_run(const std::string& run, const std::string& config_name,
                           const std::vector<std::string>& overrides, int64_t step = 1, uint64_t init_seed = 0);

}  // namespace scorch::test
