// Checking a dataset directory against its manifest: presence, checksums, dtype, shape, counts.
#pragma once
#include <string>
#include <vector>

namespace scorch::data {

struct VerifyReport {
  int64_t shards_ok = 0;
  std::vector<std::string> problems;  // one line each, naming the shard and what is wrong
  bool ok() const { return problems.empty(); }
};

// Checks every shard (reading each file once for its sha256, then opening it with HDF5). A bad manifest
// throws; bad shards are collected so that one run lists them all.
VerifyReport verify_dataset(const std::string& dir, bool progress = true);

}  // namespace scorch::data
