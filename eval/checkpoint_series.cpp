// evaluate_checkpoint_series: match and order the checkpoints, then per checkpoint ask the table (rank 0
// decides, the others follow), sample with the farm, extract, score and add the row.
#include "eval/checkpoint_series.h"

#include <glob.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/dist/device.h"
#include "core/dist/process.h"
#include "core/error.h"
#include "core/io/checkpoint_files.h"
#include "core/json_numbers.h"
#include "core/sha256.h"
#include "eval/fid_table.h"
#include "sampler/farm.h"
#include "sampler/farm_settings.h"
#include "sampler/model_fn.h"

namespace scorch::eval {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Checkpoint {
  std::string dir;  // the resolved step-N dir
  int64_t step = 0;
  Config config;  // from options.sampling_config
};

bool has_glob_chars(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// The checkpoint dirs the pattern names, sorted by step.
std::vector<Checkpoint> match_checkpoints(const CheckpointSeriesOptions& o) {
  std::vector<std::string> dirs;
  if (!has_glob_chars(o.pattern)) {
    SCORCH_CHECK_HINT(fs::exists(o.pattern), "quote the pattern: --ckpts 'runs/NAME/checkpoints/step-*'",
                      "--ckpts '{}' does not exist", o.pattern);
    dirs.push_back(io::resolve_checkpoint_dir(o.pattern));
  } else {
    glob_t g{};
    const int rc = ::glob(o.pattern.c_str(), 0, nullptr, &g);
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; ++i)
      if (fs::is_directory(g.gl_pathv[i]) && fs::exists(fs::path(g.gl_pathv[i]) / "meta.json"))
        dirs.push_back(fs::canonical(g.gl_pathv[i]).string());
    globfree(&g);
    SCORCH_CHECK_HINT(!dirs.empty(), "expected something like 'runs/NAME/checkpoints/step-*' (quoted)",
                      "--ckpts '{}' matches no checkpoint dir (a dir holding meta.json)", o.pattern);
  }
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  std::vector<Checkpoint> out;
  for (const auto& d : dirs) {
    const auto meta = json::parse(read_file(d + "/meta.json"), nullptr, false);
    SCORCH_CHECK(meta.is_object() && meta.contains("step"), "{}/meta.json has no step: not a scorch checkpoint", d);
    const Config trained = io::checkpoint_config(meta, d);
    out.push_back({d, json_int64(meta.at("step"), d + "/meta.json: step"),
                   o.sampling_config ? o.sampling_config(trained) : trained});
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.step < y.step; });
  return out;
}

// RUN/fid when the checkpoint sits in RUN/checkpoints, else a fid/ dir beside the checkpoint.
std::string default_out(const std::string& ckpt_dir) {
  const fs::path parent = fs::path(ckpt_dir).parent_path();
  return ((parent.filename() == "checkpoints" ? parent.parent_path() : parent) / "fid").string();
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// What makes two rows of the table comparable (and a checkpoint's row reusable).
// The overrides that decide the samples (sampler::decides_samples): one that changes only the speed or the run
// (the graph, the layout, the device, the watchdog) starts no other sample set and no rescoring.
std::vector<std::string> sample_overrides(const std::vector<std::string>& overrides) {
  std::vector<std::string> kept;
  for (const auto& kv : overrides) {
    const auto* option = find_option(kv.substr(0, kv.find('=')));
    if (option == nullptr || sampler::decides_samples(*option)) kept.push_back(kv);
  }
  return kept;
}

// What the reference holds, for the table's rows: its path alone let a row scored against other statistics at the
// same path be skipped as done. A file: its SHA-256; a dataset dir: its manifest's (which holds its shards'); a
// folder of images: its files' names and sizes.
std::string reference_identity(const std::string& ref) {
  if (!fs::is_directory(ref)) return sha256_file(ref);
  if (fs::exists(fs::path(ref) / "manifest.json")) return sha256_file((fs::path(ref) / "manifest.json").string());
  std::vector<std::string> entries;
  for (const auto& e : fs::recursive_directory_iterator(ref))
    if (e.is_regular_file())
      entries.push_back(fs::relative(e.path(), ref).string() + " " + std::to_string(e.file_size()));
  std::sort(entries.begin(), entries.end());
  std::string listing;
  for (const auto& e : entries) listing += e + "\n";
  return sha256_hex(listing);
}

json settings_of(const Checkpoint& c, const CheckpointSeriesOptions& o, const FidExtractor& ex,
                 const std::string& ref_identity) {
  return {{"num", o.num ? *o.num : c.config.get_int("eval.num_samples")},
          {"batch", o.batch ? *o.batch : c.config.get_int("eval.batch_size")},
          {"seed", c.config.get_int("seed")},
          {"weights", o.weights},
          {"overrides", sample_overrides(o.overrides)},
          {"preprocessing", to_string(ex.mode())},
          {"ref", fs::weakly_canonical(o.ref).string()},
          {"ref_sha256", ref_identity},
          {"inception", ex.weights().identity}};
}

// The scores' own settings are checked here rather than in settings_of: FID does not depend on them, so a row
// scored with other IS splits or KID subsets keeps its samples and FID and only gets those scores again.
bool row_has_what_is_asked(const json& row, const ScoreOptions& s) {
  if (row.is_null()) return false;
  const auto has = [&](const char* key, int64_t value) { return row.contains(key) && row.at(key) == value; };
  const bool is_ok = !s.is || (row.contains("is_mean") && has("is_splits", s.is_splits));
  const bool kid_ok = !s.kid || (row.contains("kid_mean") && has("kid_subsets", s.kid_subsets) &&
                                 has("kid_subset_size", s.kid_subset_size));
  return is_ok && kid_ok;
}

// Samples checkpoint `c` into `dir` with the farm (reusing or resuming what is there).
sampler::FarmReport sample_checkpoint(const Checkpoint& c, const CheckpointSeriesOptions& o, const json& settings,
                                      const std::string& dir, dist::Communicator& comm) {
  auto inf = io::load_inference_model(c.dir, o.weights, torch::Device(torch::kCPU));
  const auto device = dist::select_device(c.config.get_string("device"), dist::info().local_rank);
  sampler::set_sampling_runtime(c.config, device);
  sampler::place_for_sampling(*inf.model, c.config, device);
  sampler::DiffusionSampler diffusion(*inf.model, c.config, device);
  sampler::FarmOptions f;
  f.out = dir;
  f.num = settings.at("num").get<int64_t>();
  f.batch = settings.at("batch").get<int64_t>();
  f.seed = static_cast<uint64_t>(settings.at("seed").get<int64_t>());
  f.model = sampler::model_identity(inf);
  f.command = "scorch fid --ckpts";
  f.start_over = "delete " + dir + " to sample this checkpoint anew";
  f.stall_timeout_s = c.config.get_float("dist.timeout_s");
  f.execution = dist::execution_info_json(device);
  return sampler::run_farm(diffusion, c.config, f, comm);
}

}  // namespace

CheckpointSeriesReport evaluate_checkpoint_series(const CheckpointSeriesOptions& o) {
  SCORCH_CHECK_HINT(!o.ref.empty(), "pass --ref ref.npz (from `scorch fid stats`) or an image folder",
                    "scorch fid --ckpts needs a reference");
  FidReference reference(o.ref, o.fid.extractor.preprocessing);
  reference.check_can_score_kid(o.fid.scores.kid);
  const std::string ref_identity = reference_identity(o.ref);
  const auto ckpts = match_checkpoints(o);
  FidExtractor ex(o.fid.extractor);
  if (o.fid.scores.is) ex.check_can_score_is();
  reference.warn_if_other_weights(ex);
  auto& comm = ex.cpu_comm();
  const std::string out = o.out.empty() ? default_out(ckpts.front().dir) : o.out;
  FidTable table(out);
  if (comm.rank() == 0)
    spdlog::info("FID of {} checkpoint(s) matching '{}' -> {}", ckpts.size(), o.pattern, table.json_path());
  CheckpointSeriesReport report;
  report.checkpoints = static_cast<int64_t>(ckpts.size());
  report.table_json = table.json_path();
  report.table_csv = table.csv_path();
  report.plot = table.plot_path();
  json last_settings;
  for (const auto& c : ckpts) {
    const json settings = settings_of(c, o, ex, ref_identity);
    last_settings = settings;
    // Rank 0 decides from the table (another job may be writing it) and tells the others.
    std::string found = comm.rank() == 0 ? table.find(c.step, settings).dump() : std::string();
    comm.broadcast(found, 0);
    const json row_before = json::parse(found);
    if (row_has_what_is_asked(row_before, o.fid.scores)) {
      ++report.skipped;
      if (comm.rank() == 0 && o.on_checkpoint) o.on_checkpoint({row_before, true, table.json_path()});
      continue;
    }
    const auto t0 = Clock::now();
    // Other overrides (a fast sampler, fewer levels) make another sample set: its own directory, named by
    // them, so that it neither clashes with nor resumes the default one.
    const auto overrides = sample_overrides(o.overrides);
    const std::string suffix = overrides.empty() ? "" : "-" + sha256_hex(json(overrides).dump()).substr(0, 8);
    const std::string samples_dir = (fs::path(out) / "samples" / fmt::format("step-{}{}", c.step, suffix)).string();
    const auto farm = sample_checkpoint(c, o, settings, samples_dir, comm);
    const double sampling_s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (comm.rank() == 0)
      spdlog::info("step {}: {} images in {} ({})", c.step, settings.at("num").get<int64_t>(), samples_dir,
                   farm.already_complete ? "complete already" : fmt::format("{} batches resumed", farm.resumed));
    const auto t1 = Clock::now();
    const auto samples = ex.run(samples_dir, o.fid.scores.is, o.fid.scores.kid);
    const auto& ref = reference.get(ex, o.fid.scores.kid);
    if (comm.rank() == 0) {
      const json s = score_samples(samples, ref, o.fid.scores, o.ref);
      json row = {{"step", c.step},
                  {"checkpoint", c.dir},
                  {"settings", settings},
                  {"fid", s.at("fid")},
                  {"images", samples.stats.count},
                  {"samples", o.delete_samples ? json(nullptr) : json(samples_dir)},
                  {"seconds_sampling", sampling_s},
                  {"seconds_fid", std::chrono::duration<double>(Clock::now() - t1).count()},
                  {"ranks", comm.world()},
                  {"date", now_utc()}};
      if (s.contains("is")) {
        row["is_mean"] = s["is"]["mean"], row["is_std"] = s["is"]["std"];
        row["is_splits"] = o.fid.scores.is_splits;
      }
      if (s.contains("kid")) {
        row["kid_mean"] = s["kid"]["mean"], row["kid_std"] = s["kid"]["std"];
        // As asked (what a rerun compares); the size used, clamped to the smaller set, is in the log.
        row["kid_subsets"] = o.fid.scores.kid_subsets, row["kid_subset_size"] = o.fid.scores.kid_subset_size;
      }
      // The row replaces the one before: scores not asked this time stay as they were (same settings, same samples).
      if (!row_before.is_null())
        for (const char* k :
             {"is_mean", "is_std", "is_splits", "kid_mean", "kid_std", "kid_subsets", "kid_subset_size"})
          if (!row.contains(k) && row_before.contains(k)) row[k] = row_before.at(k);
      table.add(row);
      if (o.on_checkpoint) o.on_checkpoint({row, false, table.json_path()});
      if (o.delete_samples) fs::remove_all(samples_dir);
    }
    comm.barrier();
    ++report.scored;
  }
  if (comm.rank() == 0) table.plot(last_settings);
  return report;
}

}  // namespace scorch::eval
