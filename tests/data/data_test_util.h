// Helpers of the data tests: a single-process communicator and a small packed image dataset.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/dist/communicator.h"
#include "data/pack.h"
#include "data/sources.h"

namespace scorch::data::test_util {

inline std::shared_ptr<dist::Communicator> local_comm() {
  return dist::make_communicator("local", torch::Device(torch::kCPU));
}

// Random uint8 images (N, H, W, C) with a fixed torch seed, and labels i % 10.
inline ArraySource random_source(int64_t n, int64_t h, int64_t w, int64_t c, uint64_t seed = 1) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto images = torch::randint(0, 256, {n, h, w, c}, gen, torch::kInt64).to(torch::kUInt8);
  return ArraySource(images, torch::arange(n) % 10, {{"type", "test"}});
}

inline Manifest pack_random(const std::string& out, int64_t n, int64_t h, int64_t w, int64_t c, int64_t shard_size,
                            uint64_t seed = 1) {
  auto src = random_source(n, h, w, c, seed);
  return pack_source(src, "test", {out, shard_size, true}, *local_comm());
}

}  // namespace scorch::data::test_util
