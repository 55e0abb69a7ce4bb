// write_dataset: deterministic sharding (shard s holds items [s*S, (s+1)*S)), disjoint shards per rank staged
// beside the dataset, checksums all-gathered to rank 0, which swaps the shards in and writes the manifest.
#include "data/pack.h"

#include <fmt/ranges.h>

#include <filesystem>
#include <optional>
#include <set>

#include "core/dir_lock.h"
#include "core/dist/communicator.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "data/shard.h"

namespace scorch::data {

namespace fs = std::filesystem;

namespace {

bool is_shard(const std::string& name) { return name.rfind("shard-", 0) == 0 && fs::path(name).extension() == ".h5"; }

// New shards go here first, so that a dataset being replaced stays whole until the new one is: a pack that fails
// half way (a bad file, a full disk, a killed job) leaves the old dataset readable. Hidden, so it is not taken for
// a file of someone else's; a failed write's leftovers are removed by the next one.
constexpr const char* kStagingName = ".incoming";

// `out` must hold nothing but a dataset (its manifest and shards, or the shards of an interrupted write), and
// that only with `overwrite`: its shards used to be deleted whatever the directory was (a sample farm killed
// before its manifest, say). Returns the dataset's file names.
std::vector<std::string> check_target(const std::string& out, bool overwrite) {
  std::vector<std::string> ours, others;
  for (const auto& e : fs::directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    if (name == kManifestName || (is_shard(name) && e.is_regular_file()))
      ours.push_back(name);
    else if (name[0] != '.')  // hidden files pass: a killed write's leftovers (atomic_file.h), the lock, .DS_Store
      others.push_back(name);
  }
  SCORCH_CHECK_HINT(others.empty(), "use an empty or new --out",
                    "'{}' holds {} file(s) no dataset writes (such as '{}'): a dataset is written only into an "
                    "empty directory or over another dataset",
                    out, others.size(), others.empty() ? "" : others.front());
  const bool has_manifest = fs::exists(fs::path(out) / kManifestName);
  SCORCH_CHECK_HINT(ours.empty() || overwrite, "pass --overwrite to replace it, or choose another --out",
                    "'{}' already holds {}", out,
                    has_manifest ? "a dataset" : "dataset shards without a manifest (an interrupted write?)");
  return ours;
}

// The old dataset stops looking complete (manifest first), each staged shard is renamed over its namesake (one
// atomic step each), the old shards past the new count go, and the caller writes the new manifest. Only a kill
// inside these renames leaves shards without a manifest, for `--overwrite` to clear.
void replace_dataset(const fs::path& out, const std::vector<std::string>& old, const std::vector<ShardEntry>& shards) {
  fs::remove(out / kManifestName);
  std::set<std::string> kept;
  for (const auto& s : shards) {
    fs::rename(out / kStagingName / s.file, out / s.file);
    kept.insert(s.file);
  }
  for (const auto& name : old)
    if (is_shard(name) && !kept.count(name)) fs::remove(out / name);
  fs::remove_all(out / kStagingName);
}

}  // namespace

Manifest write_dataset(Manifest layout, const std::function<void(int64_t, uint8_t*)>& fill,
                       const std::function<int64_t(int64_t)>& label, const WriteOptions& options,
                       dist::Communicator& comm) {
  SCORCH_CHECK(layout.count > 0, "nothing to write to '{}'", options.out);
  const int64_t item = layout.item_bytes();
  SCORCH_CHECK(item > 0, "'{}': items of shape [{}] hold no bytes", options.out, fmt::join(layout.shape, ", "));
  const int64_t per_shard =
      options.shard_size > 0 ? options.shard_size : std::max<int64_t>(1, (int64_t(256) << 20) / item);
  const int64_t shards = (layout.count + per_shard - 1) / per_shard;
  const fs::path staging = fs::path(options.out) / kStagingName;
  std::vector<std::string> old;
  // Two writers into one directory would remove each other's staging and shards (rank 0 decides for its job).
  std::optional<DirLock> lock;
  if (comm.rank() == 0) {
    make_output_dir(options.out, "--out");
    lock.emplace(options.out, "dataset writer", "two writers would remove each other's shards",
                 "wait for it to finish, or write to another --out");
    old = check_target(options.out, options.overwrite);
    fs::remove_all(staging);
    fs::create_directories(staging);
  }
  comm.barrier();

  nlohmann::json mine = nlohmann::json::array();
  int64_t my_items = 0;
  for (int64_t s = comm.rank(); s < shards; s += comm.world())
    my_items += std::min(per_shard, layout.count - s * per_shard);
  Progress progress("packing", my_items, "img", comm.rank() == 0);
  std::vector<uint8_t> buffer;
  std::vector<int64_t> labels;
  try {
    for (int64_t s = comm.rank(); s < shards; s += comm.world()) {
      const int64_t first = s * per_shard, n = std::min(per_shard, layout.count - first);
      buffer.resize(size_t(n) * item);
      labels.resize(layout.has_labels ? n : 0);
      for (int64_t i = 0; i < n; ++i) {
        fill(first + i, buffer.data() + i * item);
        if (layout.has_labels) labels[i] = label(first + i);
        progress.add(1);
      }
      const std::string name = shard_file_name(s), path = (staging / name).string();
      write_shard(path, layout, buffer.data(), n, layout.has_labels ? labels.data() : nullptr);
      mine.push_back({{"index", s}, {"file", name}, {"count", n}, {"sha256", sha256_file(path)}});
    }
  } catch (...) {
    // A dataset's worth of staged shards would stay hidden in `out`. With other ranks still writing there, the
    // next pack into `out` clears them instead.
    std::error_code ec;
    if (comm.world() == 1) fs::remove_all(staging, ec);
    throw;
  }
  progress.finish();

  std::vector<ShardEntry> entries(shards);
  for (const auto& text : comm.all_gather(mine.dump()))
    for (const auto& e : nlohmann::json::parse(text))
      entries[e["index"].get<size_t>()] = {e["file"], e["count"], e["sha256"]};
  layout.shards = entries;
  if (comm.rank() == 0) {
    replace_dataset(options.out, old, entries);
    write_manifest(options.out, layout);
  }
  comm.barrier();
  return layout;
}

Manifest pack_source(const Source& source, const std::string& command, const WriteOptions& options,
                     dist::Communicator& comm) {
  Manifest layout;
  layout.kind = "images";
  layout.dtype = "uint8";
  layout.shape = source.shape();
  layout.count = source.count();
  layout.has_labels = source.has_labels();
  layout.source = source.describe();
  layout.command = command;
  return write_dataset(
      layout, [&](int64_t i, uint8_t* dst) { source.read(i, dst); }, [&](int64_t i) { return source.label(i); },
      options, comm);
}

}  // namespace scorch::data
