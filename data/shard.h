// One HDF5 shard: writing (deterministic bytes) and opening for random access by item index.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "data/format.h"

namespace scorch::data {

// Serial HDF5 is not thread-safe: every HDF5 call in scorch holds this mutex.
std::mutex& hdf5_mutex();

// Writes `count` items (manifest.kind / shape / dtype; `items` contiguous) and optional labels to `path`
// atomically. No timestamps and a fixed attribute order, so equal input gives equal bytes.
void write_shard(const std::string& path, const Manifest& layout, const void* items, int64_t count,
                 const int64_t* labels);

// A shard opened for reading. Contiguous shards (what scorch writes) are read with pread at offsets known
// at open, so readers never take the HDF5 lock; chunked or compressed ones (e.g. written by h5py) fall
// back to H5Dread under the lock.
class ShardReader {
 public:
  // Checks dtype, rank, shape and count against `layout` / `expected_count`; errors name `path`.
  ShardReader(const std::string& path, const Manifest& layout, int64_t expected_count);
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  int64_t count() const { return count_; }
  void read(int64_t index, void* dst) const;  // thread-safe
  const std::vector<int64_t>& labels() const { return labels_; }
  bool direct() const { return !offsets_.empty(); }
  // The file offset of item `index` on the direct path (used by the raw-read benchmark).
  int64_t offset(int64_t index) const { return offsets_.at(index); }
  int fd() const { return fd_; }

 private:
  std::string path_;
  int64_t count_ = 0, item_bytes_ = 0;
  std::vector<int64_t> offsets_;  // empty: H5Dread path
  std::vector<int64_t> labels_;
  int fd_ = -1;
  hid_t file_ = -1, dset_ = -1;
  std::vector<hsize_t> dims_;
};

}  // namespace scorch::data
