// Writing a dataset directory from any source: shards split over the ranks, manifest by rank 0.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "data/format.h"
#include "data/sources.h"

namespace scorch::dist {
class Communicator;
}

namespace scorch::data {

struct WriteOptions {
  std::string out;         // dataset directory (created)
  int64_t shard_size = 0;  // items per shard; 0 picks about 256 MiB per shard
  bool overwrite = false;  // replace an existing dataset in `out`
};

// Items 0..layout.count-1 are produced by `fill(index, dst)` (layout.item_bytes() bytes) and `label(index)`
// when layout.has_labels. Rank r writes shards r, r+W, … into `out`/.incoming; when all are written, rank 0
// renames them over the dataset `out` held and writes the manifest last, so an interrupted pack never looks
// complete, and one that fails while writing shards leaves the dataset it was replacing whole. Returns the manifest.
Manifest write_dataset(Manifest layout, const std::function<void(int64_t, uint8_t*)>& fill,
                       const std::function<int64_t(int64_t)>& label, const WriteOptions& options,
                       dist::Communicator& comm);

// A Source packed with its description and `command` recorded in the manifest.
Manifest pack_source(const Source& source, const std::string& command, const WriteOptions& options,
                     dist::Communicator& comm);

}  // namespace scorch::data
