// Random FID Inception weights for tests that need no downloaded network: the numbers they give only
// compare with each other.
#pragma once
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <string>

#include "core/io/safetensors.h"
#include "eval/inception.h"

namespace scorch::test {

// Writes DIR/inception.safetensors (pytorch-fid names) and returns its path. He-initialised convs keep the
// activations' scale through the 94 ReLU layers (torch's default init shrinks them to ~1e-6, and every FID
// to round-off). Seeded: the same weights every call.
inline std::string write_random_inception(const std::string& dir) {
  torch::manual_seed(0);
  eval::InceptionV3 net;
  std::map<std::string, torch::Tensor> state;
  for (const auto& p : net->named_parameters()) {
    auto v = p.value().detach();
    if (v.dim() == 4) v = torch::randn_like(v) * std::sqrt(2.0 / static_cast<double>(v[0].numel()));
    state[p.key()] = v;
  }
  for (const auto& b : net->named_buffers()) state[b.key()] = b.value().detach();
  io::write_safetensors(dir + "/inception.safetensors", state, {});
  return dir + "/inception.safetensors";
}

}  // namespace scorch::test
