// Checkpoint directories written atomically (temporary dir + fsync + rename) with a `latest` link.
#include "core/io/checkpoint_store.h"

#include <spdlog/spdlog.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_numbers.h"
#include "core/sha256.h"

namespace scorch::io {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "step-";

std::optional<int64_t> parse_step(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return std::nullopt;
  std::string digits = name.substr(5);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return std::nullopt;
  return std::stoll(digits);
}

}  // namespace

CheckpointStore::CheckpointStore(std::string dir, CheckpointRetention retention)
    : dir_(std::move(dir)), retention_(retention) {}

std::string CheckpointStore::step_name(int64_t step) { return fmt::format("{}{:09d}", kPrefix, step); }

std::string CheckpointStore::save(int64_t step, nlohmann::json meta,
                                  const std::function<void(const std::string&)>& write) {
  fs::create_directories(dir_);
  const fs::path final_dir = fs::path(dir_) / step_name(step);
  const fs::path tmp = fs::path(dir_) / fmt::format(".tmp-{}-{}", step_name(step), ::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    write(tmp.string());
    nlohmann::json files = nlohmann::json::object(), sums = nlohmann::json::object();
    for (const auto& e : fs::directory_iterator(tmp)) {
      SCORCH_CHECK(e.is_regular_file(), "checkpoint writer left a non-file '{}'", e.path().string());
      files[e.path().filename().string()] = static_cast<int64_t>(e.file_size());
      fsync_path(e.path().string());
      sums[e.path().filename().string()] = sha256_file(e.path().string());  // read back from the page cache
    }
    meta["step"] = step;
    // A caller may decide (an imported checkpoint is kept whatever the interval of the run that goes on from it).
    if (!meta.contains("snapshot")) meta["snapshot"] = is_snapshot(step);
    meta["files"] = files;
    meta["sha256"] = sums;
    write_file_atomic((tmp / "meta.json").string(), meta.dump(2) + "\n");
    fsync_path(tmp.string());
    if (fs::exists(final_dir)) remove_step_dir(final_dir);  // a re-save of the same step replaces it whole
    fs::rename(tmp, final_dir);
    fsync_path(dir_);
    snapshot_cache_[final_dir.filename().string()] = meta["snapshot"].get<bool>();  // a re-save may say otherwise
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  // `latest` is a symlink replaced by rename, so readers never see it missing or half-written.
  const fs::path link = fs::path(dir_) / "latest";
  const fs::path tmp_link = fs::path(dir_) / fmt::format(".latest-{}", ::getpid());
  fs::remove(tmp_link);
  fs::create_directory_symlink(step_name(step), tmp_link);
  fs::rename(tmp_link, link);
  fsync_path(dir_);
  prune(step);
  return final_dir.string();
}

void CheckpointStore::remove_leftovers() const {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(".tmp-step-", 0) == 0 || name.rfind(".latest-", 0) == 0) fs::remove_all(e.path(), ec);
  }
  remove_atomic_leftovers(dir_);
}

std::vector<std::string> CheckpointStore::list() const {
  std::vector<std::pair<int64_t, std::string>> found;
  if (!fs::is_directory(dir_)) return {};
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (!e.is_directory() || e.is_symlink()) continue;
    if (auto step = parse_step(e.path().filename().string())) found.emplace_back(*step, e.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

nlohmann::json CheckpointStore::validate(const std::string& ckpt_dir, Check check) {
  const fs::path meta_path = fs::path(ckpt_dir) / "meta.json";
  SCORCH_CHECK(fs::exists(meta_path), "checkpoint '{}' has no meta.json (incomplete write?)", ckpt_dir);
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(read_file(meta_path.string()));
  } catch (const nlohmann::json::exception& e) {
    SCORCH_FAIL("checkpoint '{}': meta.json does not parse: {}", ckpt_dir, e.what());
  }
  SCORCH_CHECK(meta.contains("files") && meta["files"].is_object() && meta.contains("step"),
               "checkpoint '{}': meta.json lacks 'step' or 'files'", ckpt_dir);
  SCORCH_CHECK(json_int64(meta["step"], fmt::format("checkpoint '{}': meta.json step", ckpt_dir)) >= 0,
               "checkpoint '{}': meta.json step is {}, expected a step count (0 or more)", ckpt_dir,
               meta["step"].dump());
  for (const auto& [name, size] : meta["files"].items()) {
    const fs::path p = fs::path(ckpt_dir) / name;
    SCORCH_CHECK(fs::exists(p), "checkpoint '{}' is missing {}", ckpt_dir, name);
    const auto recorded = json_uint64(size, fmt::format("checkpoint '{}': meta.json files.{}", ckpt_dir, name));
    SCORCH_CHECK(fs::file_size(p) == recorded, "checkpoint '{}': {} has {} bytes, meta.json records {} (truncated?)",
                 ckpt_dir, name, fs::file_size(p), recorded);
  }
  // Checkpoints written before 2026-12-08 record no digests; their sizes are all there is to check.
  if (check == Check::Contents && meta.contains("sha256")) {
    const auto& sums = meta["sha256"];
    SCORCH_CHECK(sums.is_object(), "checkpoint '{}': meta.json sha256 is {}, expected an object of file digests",
                 ckpt_dir, sums.type_name());
    for (const auto& [name, size] : meta["files"].items()) {
      SCORCH_CHECK(sums.contains(name) && sums[name].is_string(), "checkpoint '{}': meta.json records no sha256 for {}",
                   ckpt_dir, name);
      const auto actual = sha256_file((fs::path(ckpt_dir) / name).string());
      SCORCH_CHECK_HINT(actual == sums[name].get<std::string>(),
                        "the file changed after it was written (a disk or copy fault, or an edit): use an older "
                        "checkpoint; `scorch train` falls back to one by itself",
                        "checkpoint '{}': {} has SHA-256 {}, meta.json records {}", ckpt_dir, name, actual,
                        sums[name].get<std::string>());
    }
  }
  return meta;
}

std::optional<std::string> CheckpointStore::latest_complete(std::vector<std::string>* why_not) const {
  auto all = list();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    try {
      validate(*it, Check::Sizes);
      return *it;
    } catch (const Error& e) {
      spdlog::warn("skipping checkpoint: {}", e.message());
      if (why_not) why_not->push_back(e.message());
    }
  }
  return std::nullopt;
}

bool CheckpointStore::is_snapshot(int64_t step) const {
  return retention_.snapshot_every > 0 && step % retention_.snapshot_every == 0;
}

// By the retention it was written under, not today's: a run resumed with another training.snapshot_freq used to
// prune the snapshots of the one before as rolling checkpoints. Cached: a checkpoint's meta.json never changes, and
// every save asks again about every checkpoint.
bool CheckpointStore::written_as_snapshot(const fs::path& d, int64_t step) const {
  const auto key = d.filename().string();
  if (const auto it = snapshot_cache_.find(key); it != snapshot_cache_.end()) return it->second;
  const auto meta_path = (d / "meta.json").string();
  bool snapshot = is_snapshot(step);
  try {
    const auto meta = nlohmann::json::parse(read_file(meta_path));
    if (meta.contains("snapshot")) {
      snapshot = meta.at("snapshot").get<bool>();
    } else if (meta.contains("config") && meta["config"].is_string()) {
      // Written before meta.json said so: the snapshot_freq of the config it was written with.
      const auto freq = YAML::Load(meta["config"].get<std::string>())["training"]["snapshot_freq"];
      if (freq) snapshot = freq.as<int64_t>() > 0 && step % freq.as<int64_t>() == 0;
    }
  } catch (const std::exception& e) {
    spdlog::warn("{}: cannot tell whether it is a snapshot ({}); judged by training.snapshot_freq now: {}", meta_path,
                 e.what(), snapshot ? "kept" : "rolling");
  }
  snapshot_cache_[key] = snapshot;
  return snapshot;
}

void CheckpointStore::prune(int64_t newest_step) {
  std::vector<std::string> rolling;
  for (const auto& d : list()) {
    int64_t step = *parse_step(fs::path(d).filename().string());
    if (step <= newest_step && !written_as_snapshot(d, step)) rolling.push_back(d);
  }
  const int64_t excess = static_cast<int64_t>(rolling.size()) - std::max<int64_t>(retention_.keep_last, 1);
  for (int64_t i = 0; i < excess; ++i) remove_step_dir(rolling[i]);
}

void CheckpointStore::remove_step_dir(const fs::path& d) const {
  const fs::path doomed = fs::path(dir_) / fmt::format(".tmp-{}-{}-removed", d.filename().string(), ::getpid());
  fs::remove_all(doomed);
  fs::rename(d, doomed);
  fsync_path(dir_);
  fs::remove_all(doomed);
}

}  // namespace scorch::io
