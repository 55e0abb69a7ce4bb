// A packed dataset directory: random access by global index across shards, opened lazily.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "data/format.h"
#include "data/shard.h"

namespace scorch::data {

class Dataset {
 public:
  // Reads and checks the manifest; shards open on first use (one handle per shard per process).
  explicit Dataset(const std::string& dir);

  const Manifest& manifest() const { return manifest_; }
  const std::string& dir() const { return dir_; }
  int64_t size() const { return manifest_.count; }
  int64_t item_bytes() const { return manifest_.item_bytes(); }

  // Copies item `index` (item_bytes() bytes) to `dst`; thread-safe.
  void read(int64_t index, void* dst) const;
  int64_t label(int64_t index) const;  // requires manifest().has_labels
  // Items [index...] as a tensor (n, *shape) with the manifest's dtype, and labels (n,) int64.
  torch::Tensor read_items(const std::vector<int64_t>& indices) const;
  torch::Tensor read_labels(const std::vector<int64_t>& indices) const;
  // (shard number, index within it) of a global index.
  std::pair<size_t, int64_t> locate(int64_t index) const;
  const ShardReader& shard(size_t s) const;  // opens it if needed
  std::string shard_path(size_t s) const;

 private:
  std::string dir_;
  Manifest manifest_;
  std::vector<int64_t> starts_;  // global index of each shard's first item
  mutable std::vector<std::unique_ptr<ShardReader>> shards_;
  mutable std::unique_ptr<std::once_flag[]> opened_;
};

}  // namespace scorch::data
