// Dataset: manifest + lazily opened ShardReaders; global index -> (shard, local index) by binary search.
#include "data/dataset.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"

namespace scorch::data {

Dataset::Dataset(const std::string& dir) : dir_(dir), manifest_(read_manifest(dir)) {
  int64_t start = 0;
  for (const auto& s : manifest_.shards) starts_.push_back(start), start += s.count;
  shards_.resize(manifest_.shards.size());
  opened_ = std::make_unique<std::once_flag[]>(manifest_.shards.size());
}

std::string Dataset::shard_path(size_t s) const {
  return (std::filesystem::path(dir_) / manifest_.shards.at(s).file).string();
}

const ShardReader& Dataset::shard(size_t s) const {
  SCORCH_CHECK(s < shards_.size(), "dataset '{}': shard {} out of range", dir_, s);
  std::call_once(opened_[s], [&] {
    shards_[s] = std::make_unique<ShardReader>(shard_path(s), manifest_, manifest_.shards[s].count);
  });
  return *shards_[s];
}

std::pair<size_t, int64_t> Dataset::locate(int64_t index) const {
  SCORCH_CHECK(index >= 0 && index < size(), "dataset '{}': index {} out of range [0, {})", dir_, index, size());
  const auto it = std::upper_bound(starts_.begin(), starts_.end(), index) - 1;
  const auto s = static_cast<size_t>(it - starts_.begin());
  return {s, index - *it};
}

void Dataset::read(int64_t index, void* dst) const {
  const auto [s, local] = locate(index);
  try {
    shard(s).read(local, dst);
  } catch (const Error& e) {
    // A shard truncated, replaced or unreadable after the run started: say which image of the whole set.
    throw Error(__FILE__, __LINE__, fmt::format("dataset '{}', image {}: {}", dir_, index, e.message()),
                e.hint().empty()
                    ? fmt::format("run `scorch data verify {}`; checkpoints already written are intact", dir_)
                    : e.hint());
  }
}

int64_t Dataset::label(int64_t index) const {
  SCORCH_CHECK(manifest_.has_labels, "dataset '{}' has no labels", dir_);
  const auto [s, local] = locate(index);
  return shard(s).labels().at(local);
}

torch::Tensor Dataset::read_items(const std::vector<int64_t>& indices) const {
  std::vector<int64_t> shape{static_cast<int64_t>(indices.size())};
  shape.insert(shape.end(), manifest_.shape.begin(), manifest_.shape.end());
  auto out = torch::empty(shape, manifest_.dtype == "float32" ? torch::kFloat32 : torch::kUInt8);
  auto* p = static_cast<char*>(out.data_ptr());
  for (size_t i = 0; i < indices.size(); ++i) read(indices[i], p + i * item_bytes());
  return out;
}

torch::Tensor Dataset::read_labels(const std::vector<int64_t>& indices) const {
  auto out = torch::empty({static_cast<int64_t>(indices.size())}, torch::kInt64);
  auto* p = out.data_ptr<int64_t>();
  for (size_t i = 0; i < indices.size(); ++i) p[i] = label(indices[i]);
  return out;
}

}  // namespace scorch::data
