// Random streams derived from (seed, stream id) and generator state capture for checkpoints.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace scorch {

// splitmix64 of (seed, stream): well-separated 64-bit seeds for independent streams, e.g. one per
// sample batch id, so results never depend on which rank draws them.
uint64_t mix_seed(uint64_t seed, uint64_t stream);
torch::Generator cpu_generator(uint64_t seed, uint64_t stream);

// Opaque, JSON-safe text (base64) of a generator's full state, and its inverse.
std::string generator_state(torch::Generator& gen);
void set_generator_state(torch::Generator& gen, const std::string& state);

}  // namespace scorch
