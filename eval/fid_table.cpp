// FidTable: read-modify-write of fid.json under flock(2), fid.csv derived from it, the plot from core/io/plot.
#include "eval/fid_table.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/io/plot.h"
#include "core/io/tensorboard.h"
#include "core/json_numbers.h"

namespace scorch::eval {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kFormat = "scorch-fid-table";

// Holds an exclusive flock on DIR/.fid-table.lock for its lifetime (released by close, also on a crash).
class TableLock {
 public:
  explicit TableLock(const std::string& dir) {
    const std::string path = dir + "/.fid-table.lock";
    fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    SCORCH_CHECK(fd_ >= 0, "cannot open lock file {}: {}", path, std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0) SCORCH_CHECK(errno == EINTR, "cannot lock {}: {}", path, std::strerror(errno));
  }
  ~TableLock() { ::close(fd_); }
  TableLock(const TableLock&) = delete;
  TableLock& operator=(const TableLock&) = delete;

 private:
  int fd_ = -1;
};

std::string csv_field(const json& row, const char* key) {
  if (!row.contains(key) || row.at(key).is_null()) return "";
  const auto& v = row.at(key);
  if (v.is_number_float()) return fmt::format("{:.9g}", v.get<double>());
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string quoted = "\"";
    for (char c : s) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
  }
  return v.dump();
}

std::string to_csv(const json& rows, const std::string& json_path) {
  static const char* columns[] = {"step",       "fid",     "is_mean",          "is_std",          "is_splits",
                                  "kid_mean",   "kid_std", "kid_subsets",      "kid_subset_size", "num",
                                  "batch",      "seed",    "weights",          "preprocessing",   "ref",
                                  "checkpoint", "samples", "seconds_sampling", "seconds_fid",     "date",
                                  "overrides"};
  std::string out;
  for (const char* c : columns) out += std::string(out.empty() ? "" : ",") + c;
  out += "\n";
  for (const auto& row : rows) {
    json flat = row;
    for (const auto& [k, v] : row.at("settings").items()) flat[k] = v;
    // The sampler settings that make a row's sample set another one, as one field: "key=value key=value".
    if (flat.contains("overrides") && flat["overrides"].is_array()) {
      std::string joined;
      for (const auto& kv : flat["overrides"]) {
        SCORCH_CHECK(kv.is_string(), "{}: the row of step {} has settings.overrides {}, expected \"key=value\" strings",
                     json_path, row.value("step", json()).dump(), flat["overrides"].dump());
        joined += (joined.empty() ? "" : " ") + kv.get<std::string>();
      }
      flat["overrides"] = joined;
    }
    std::string line;
    for (const char* c : columns) line += std::string(line.empty() ? "" : ",") + csv_field(flat, c);
    out += line + "\n";
  }
  return out;
}

}  // namespace

FidTable::FidTable(std::string dir) : dir_(std::move(dir)) { fs::create_directories(dir_); }

std::string FidTable::json_path() const { return dir_ + "/fid.json"; }
std::string FidTable::csv_path() const { return dir_ + "/fid.csv"; }
std::string FidTable::plot_path() const { return dir_ + "/fid_vs_step.png"; }

json FidTable::read_rows() const {
  if (!fs::exists(json_path())) return json::array();
  const json j = json::parse(read_file(json_path()), nullptr, false);
  SCORCH_CHECK_HINT(j.is_object() && j.value("format", "") == kFormat && j.contains("rows") && j.at("rows").is_array(),
                    "move it away to start a new table", "{} is not a FID table (expected format '{}' with rows)",
                    json_path(), kFormat);
  // Every later read of a row (sorting by step, the plot, the CSV) relies on these.
  const json& rows = j.at("rows");
  for (size_t i = 0; i < rows.size(); ++i) {
    const json& r = rows[i];
    const auto where = fmt::format("{}: rows[{}]", json_path(), i);
    SCORCH_CHECK_HINT(r.is_object() && r.contains("step") && r.contains("settings") && r.at("settings").is_object() &&
                          r.contains("fid") && r.at("fid").is_number(),
                      "move it away to start a new table, or mend the row",
                      "{} is not a FID row (expected an object with step, settings and a numeric fid): {}", where,
                      r.dump());
    json_int64(r.at("step"), where + ".step");
  }
  return rows;
}

void FidTable::write_rows(const json& rows) const {
  write_file_atomic(json_path(), json{{"format", kFormat}, {"version", 1}, {"rows", rows}}.dump(2) + "\n");
  write_file_atomic(csv_path(), to_csv(rows, json_path()));
}

json FidTable::find(int64_t step, const json& settings) const {
  TableLock lock(dir_);
  for (const auto& row : read_rows())
    if (row.value("step", int64_t{-1}) == step && row.value("settings", json()) == settings) return row;
  return nullptr;
}

void FidTable::add(const json& row) {
  SCORCH_CHECK(row.contains("step") && row.contains("settings") && row.contains("fid"),
               "FID table row needs step, settings and fid: {}", row.dump());
  {
    TableLock lock(dir_);
    json rows = json::array();
    for (const auto& r : read_rows())
      if (!(r.at("step") == row.at("step") && r.at("settings") == row.at("settings"))) rows.push_back(r);
    rows.push_back(row);
    std::stable_sort(rows.begin(), rows.end(), [](const json& x, const json& y) {
      return x.at("step").get<int64_t>() < y.at("step").get<int64_t>();
    });
    write_rows(rows);
  }
  plot(row.at("settings"));
}

namespace {

// One event file holding the whole curve replaces the previous one: appending only the newly scored steps
// would put steps out of order whenever an older checkpoint is scored late, and TensorBoard then drops the
// later points as orphans of a restart.
void write_curves(const std::string& dir, const std::vector<json>& rows) {
  const fs::path partial = fs::path(dir) / ".partial";
  fs::remove_all(partial);
  std::string written;
  {
    io::EventWriter events(partial.string());
    for (const auto& r : rows) {
      const int64_t step = r.at("step").get<int64_t>();
      for (const char* key : {"fid", "is_mean", "is_std", "kid_mean", "kid_std"})
        if (r.contains(key) && r.at(key).is_number()) events.scalar(key, step, r.at(key).get<double>());
    }
    events.flush();
    written = fs::path(events.path()).filename().string();
  }
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().find("tfevents") != std::string::npos) fs::remove(entry.path());
  fs::rename(partial / written, fs::path(dir) / written);
  fs::remove_all(partial);
}

}  // namespace

void FidTable::plot(const json& settings) const {
  TableLock lock(dir_);  // held while tb/ is rewritten, as concurrent jobs end at different times
  std::vector<json> chosen;
  for (const auto& r : read_rows())
    if (r.at("settings") == settings) chosen.push_back(r);
  std::sort(chosen.begin(), chosen.end(),
            [](const json& a, const json& b) { return a.at("step").get<int64_t>() < b.at("step").get<int64_t>(); });
  if (!chosen.empty()) write_curves(tensorboard_dir(), chosen);
  io::PlotSeries fid{"FID", {}, {}}, is{"IS", {}, {}}, kid{"KID", {}, {}};
  for (const auto& r : chosen) {
    const double step = static_cast<double>(r.at("step").get<int64_t>());
    fid.x.push_back(step);
    fid.y.push_back(r.at("fid").get<double>());
    if (r.contains("is_mean")) is.x.push_back(step), is.y.push_back(r.at("is_mean").get<double>());
    if (r.contains("kid_mean")) kid.x.push_back(step), kid.y.push_back(r.at("kid_mean").get<double>());
  }
  if (fid.x.empty()) return;
  const std::string what = fmt::format("{} images, {} weights, {} preprocessing", settings.value("num", int64_t{0}),
                                       settings.value("weights", ""), settings.value("preprocessing", ""));
  std::vector<io::PlotPanel> panels{{"FID vs step (" + what + ")", "step", {fid}}};
  if (!is.x.empty()) panels.push_back({"Inception Score", "step", {is}});
  if (!kid.x.empty()) panels.push_back({"KID", "step", {kid}});
  io::write_line_plot(plot_path(), panels);
}

}  // namespace scorch::eval
