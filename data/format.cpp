// Manifest json <-> struct with strict validation: every field is checked and a bad one is named.
#include "data/format.h"

#include <filesystem>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_numbers.h"

namespace scorch::data {

int64_t Manifest::item_elements() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

int64_t Manifest::item_bytes() const { return item_elements() * (dtype == "float32" ? 4 : 1); }

std::string shard_file_name(int64_t index) { return fmt::format("shard-{:05}.h5", index); }

nlohmann::json to_json(const Manifest& m) {
  // nlohmann::json sorts object keys, so the text is the same for the same content.
  nlohmann::json shards = nlohmann::json::array();
  for (const auto& s : m.shards) shards.push_back({{"file", s.file}, {"count", s.count}, {"sha256", s.sha256}});
  return {{"format", kFormatName}, {"version", kFormatVersion}, {"kind", m.kind},         {"shape", m.shape},
          {"dtype", m.dtype},      {"count", m.count},          {"labels", m.has_labels}, {"shards", shards},
          {"source", m.source},    {"command", m.command},      {"extra", m.extra}};
}

Manifest manifest_from_json(const nlohmann::json& j, const std::string& what) {
  SCORCH_CHECK(j.is_object(), "{}: manifest is not a JSON object", what);
  auto need = [&](const char* key) -> const nlohmann::json& {
    SCORCH_CHECK(j.contains(key), "{}: manifest has no '{}'", what, key);
    return j.at(key);
  };
  SCORCH_CHECK(need("format") == kFormatName, "{}: format is {}, expected \"{}\"", what, need("format").dump(),
               kFormatName);
  SCORCH_CHECK(need("version").is_number_integer() && need("version") == kFormatVersion,
               "{}: format version {} is not supported (this scorch reads version {})", what, need("version").dump(),
               kFormatVersion);
  Manifest m;
  try {
    m.kind = need("kind").get<std::string>();
    m.shape = json_int64_list(need("shape"), what + ": shape");
    m.dtype = need("dtype").get<std::string>();
    m.count = json_int64(need("count"), what + ": count");
    m.has_labels = need("labels").get<bool>();
    for (const auto& s : need("shards"))
      m.shards.push_back({s.at("file").get<std::string>(), json_int64(s.at("count"), what + ": shard count"),
                          s.at("sha256").get<std::string>()});
    m.source = j.value("source", nlohmann::json::object());
    m.command = j.value("command", std::string());
    m.extra = j.value("extra", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    SCORCH_FAIL("{}: malformed manifest field: {}", what, e.what());
  }
  const bool images = m.kind == "images" && m.dtype == "uint8" && m.shape.size() == 3;
  const bool points = m.kind == "points" && m.dtype == "float32" && m.shape.size() == 1;
  SCORCH_CHECK(images || points,
               "{}: kind '{}' with dtype '{}' and shape rank {} is not a known layout "
               "(images: uint8 [H,W,C]; points: float32 [D])",
               what, m.kind, m.dtype, m.shape.size());
  for (auto d : m.shape) SCORCH_CHECK(d > 0, "{}: shape has a non-positive dimension {}", what, d);
  if (images) SCORCH_CHECK(m.shape[2] == 1 || m.shape[2] == 3, "{}: channels must be 1 or 3, got {}", what, m.shape[2]);
  int64_t sum = 0;
  std::set<std::string> files;
  for (const auto& s : m.shards) {
    SCORCH_CHECK(s.count > 0, "{}: shard {} has count {}", what, s.file, s.count);
    SCORCH_CHECK(s.file.find('/') == std::string::npos, "{}: shard name '{}' must be a plain file name", what, s.file);
    // Listed twice, a shard's images would be read twice (and the one it displaced never).
    SCORCH_CHECK(files.insert(s.file).second, "{}: shard '{}' is listed twice", what, s.file);
    sum += s.count;
  }
  SCORCH_CHECK(sum == m.count, "{}: shard counts add up to {} but count is {}", what, sum, m.count);
  return m;
}

Manifest read_manifest(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / kManifestName).string();
  // A sample farm writes its manifest last: without it, the farm has not finished (or was killed).
  SCORCH_CHECK_HINT(std::filesystem::exists(path) || !std::filesystem::exists(std::filesystem::path(dir) / "farm.json"),
                    "run its `scorch sample` command again to finish it (finished batches are kept)",
                    "'{}' is an unfinished sample farm: it has farm.json but no {} yet", dir, kManifestName);
  SCORCH_CHECK_HINT(std::filesystem::exists(path), "pack a dataset with `scorch data pack`",
                    "'{}' is not a scorch dataset: {} is missing", dir, path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    SCORCH_FAIL("{}: not valid JSON: {}", path, e.what());
  }
  return manifest_from_json(j, path);
}

void write_manifest(const std::string& dir, const Manifest& m) {
  // Names that matter (shards, classes) are checked where they arise; a path in the command or the source that is
  // not UTF-8 (an --out of Latin-1 bytes) is recorded with U+FFFD rather than failing after every shard is written.
  write_file_atomic((std::filesystem::path(dir) / kManifestName).string(),
                    to_json(m).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

}  // namespace scorch::data
