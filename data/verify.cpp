// verify_dataset: sha256 first (detects any byte change), then a structural open (dtype/shape/count).
#include "data/verify.h"

#include <filesystem>

#include "core/error.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "data/shard.h"

namespace scorch::data {

VerifyReport verify_dataset(const std::string& dir, bool show_progress) {
  const Manifest m = read_manifest(dir);
  VerifyReport report;
  Progress progress("verifying", static_cast<int64_t>(m.shards.size()), "shards", show_progress);
  for (const auto& s : m.shards) {
    const std::string path = (std::filesystem::path(dir) / s.file).string();
    progress.add(1);
    if (!std::filesystem::exists(path)) {
      report.problems.push_back(fmt::format("{}: missing", path));
      continue;
    }
    const std::string sum = sha256_file(path);
    if (sum != s.sha256) {
      report.problems.push_back(
          fmt::format("{}: sha256 {} differs from the manifest's {} (corrupted or replaced)", path, sum, s.sha256));
      continue;
    }
    try {
      ShardReader reader(path, m, s.count);
      ++report.shards_ok;
    } catch (const Error& e) {
      report.problems.push_back(e.message());
    }
  }
  progress.finish();
  return report;
}

}  // namespace scorch::data
