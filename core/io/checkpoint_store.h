// The checkpoints/ directory of a run: atomic step directories, the `latest` link, retention, and
// finding the newest complete checkpoint (skipping partial or corrupt ones with a warning).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace scorch::io {

struct CheckpointRetention {
  int64_t keep_last = 3;       // newest rolling checkpoints kept
  int64_t snapshot_every = 0;  // steps divisible by this are kept forever (0: none), whatever later saves use
};

class CheckpointStore {
 public:
  explicit CheckpointStore(std::string dir, CheckpointRetention retention = {});

  const std::string& dir() const { return dir_; }
  static std::string step_name(int64_t step);  // "step-000050000"

  // Writes checkpoint `step`: `write(tmp_dir)` fills a temporary directory with its files; then meta.json (the
  // given `meta` plus the file list with sizes and SHA-256 digests, and "snapshot", kept forever, unless `meta`
  // says) is added,
  // everything is fsynced, the directory is renamed to step-N, `latest` is pointed at it, and old rolling
  // checkpoints are pruned. Returns the final directory.
  std::string save(int64_t step, nlohmann::json meta, const std::function<void(const std::string&)>& write);

  // Removes what saves killed mid-way left behind (a ".tmp-step-N-PID" directory, a ".latest-PID" link,
  // files of write_file_atomic). Only while no save is running.
  void remove_leftovers() const;
  // Step directories, oldest first.
  std::vector<std::string> list() const;
  // The newest checkpoint whose meta.json parses and whose files all exist with their recorded sizes;
  // `why_not` (when given) collects one line per newer checkpoint that was skipped and why.
  std::optional<std::string> latest_complete(std::vector<std::string>* why_not = nullptr) const;
  // What validate() reads: meta.json and the files' sizes (cheap, for choosing among checkpoints), or also
  // every byte against the SHA-256 digests meta.json records (before a load: a bit flipped in place keeps the
  // size).
  enum class Check { Sizes, Contents };
  // Throws naming the first problem when `ckpt_dir` is not a complete checkpoint.
  static nlohmann::json validate(const std::string& ckpt_dir, Check check = Check::Contents);

 private:
  bool is_snapshot(int64_t step) const;
  bool written_as_snapshot(const std::filesystem::path& d, int64_t step) const;
  void prune(int64_t newest_step);
  // Takes step directory `d` out of the store at once (a rename to a ".tmp-step-…" leftover that
  // remove_leftovers clears), then deletes it: a kill mid-delete leaves no partial step-N behind.
  void remove_step_dir(const std::filesystem::path& d) const;
  std::string dir_;
  CheckpointRetention retention_;
  mutable std::map<std::string, bool> snapshot_cache_;  // step dir name -> written as a snapshot
};

}  // namespace scorch::io
