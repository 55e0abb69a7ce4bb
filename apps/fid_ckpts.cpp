// `scorch fid --ckpts PATTERN`: every matching checkpoint in step order is sampled with the farm into
// OUT/samples/step-N (a complete set is reused, a partial one resumed), scored against --ref, and added to
// OUT/fid.json, OUT/fid.csv and OUT/fid_vs_step.png; checkpoints already in the table are skipped.
#include <glob.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>

#include "apps/config_args.h"
#include "apps/fid_common.h"
#include "core/device.h"
#include "core/dist/process.h"
#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/checkpoint_files.h"
#include "eval/fid_table.h"
#include "sampler/farm.h"

namespace scorch::apps {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Checkpoint {
  std::string dir;  // the resolved step-N dir
  int64_t step = 0;
  Config config;    // with the --set / --seed overrides
};

bool has_glob_chars(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// The checkpoint's config, then --device (the sampler runs where the extractor does unless --set device=
// says otherwise), then --set, then --seed; layered as every command layers its config.
Config sampling_config(const std::string& dir, const FidArgs& a) {
  const Config trained = checkpoint_config(json::parse(read_file(dir + "/meta.json")), dir);
  ConfigArgs layers;
  layers.key_flags = {"device=" + a.device};
  layers.sets = a.sets;
  if (a.seed >= 0) layers.sets.push_back("seed=" + std::to_string(a.seed));
  Config c = resolve_config(trained, layers);
  check_network_unchanged(trained, c, "scorch fid --ckpts");
  return c;
}

// The checkpoint dirs `pattern` names, sorted by step: a glob over step-N dirs, or one checkpoint (a step-N
// dir, `latest`, a checkpoints/ or run dir) given without wildcards.
std::vector<Checkpoint> match_checkpoints(const FidArgs& a) {
  std::vector<std::string> dirs;
  if (!has_glob_chars(a.ckpts)) {
    SCORCH_CHECK_HINT(fs::exists(a.ckpts), "quote the pattern: --ckpts 'runs/NAME/checkpoints/step-*'",
                      "--ckpts '{}' does not exist", a.ckpts);
    dirs.push_back(resolve_checkpoint_dir(a.ckpts));
  } else {
    glob_t g{};
    const int rc = ::glob(a.ckpts.c_str(), 0, nullptr, &g);
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; ++i)
      if (fs::is_directory(g.gl_pathv[i]) && fs::exists(fs::path(g.gl_pathv[i]) / "meta.json"))
        dirs.push_back(fs::canonical(g.gl_pathv[i]).string());
    globfree(&g);
    SCORCH_CHECK_HINT(!dirs.empty(), "expected something like 'runs/NAME/checkpoints/step-*' (quoted)",
                      "--ckpts '{}' matches no checkpoint dir (a dir holding meta.json)", a.ckpts);
  }
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  std::vector<Checkpoint> out;
  for (const auto& d : dirs) {
    const auto meta = json::parse(read_file(d + "/meta.json"), nullptr, false);
    SCORCH_CHECK(meta.is_object() && meta.contains("step"), "{}/meta.json has no step: not a scorch checkpoint", d);
    out.push_back({d, meta.at("step").get<int64_t>(), sampling_config(d, a)});
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
json settings_of(const Checkpoint& c, const FidArgs& a, const Extractor& ex) {
  return {{"num", a.num > 0 ? a.num : c.config.get_int("eval.num_samples")},
          {"batch", a.batch > 0 ? a.batch : c.config.get_int("eval.batch_size")},
          {"seed", c.config.get_int("seed")},
          {"weights", a.weights},
          {"overrides", a.sets},
          {"preprocessing", eval::to_string(ex.options.mode)},
          {"ref", fs::weakly_canonical(a.ref).string()},
          {"inception", ex.weights.identity}};
}

bool row_has_what_is_asked(const json& row, const FidArgs& a) {
  return !row.is_null() && (!a.is || row.contains("is_mean")) && (!a.kid || row.contains("kid_mean"));
}

}  // namespace

int run_fid_ckpts(const FidArgs& a) {
  SCORCH_CHECK_HINT(!a.ref.empty(), "pass --ref ref.npz (from `scorch fid stats`) or an image folder",
                    "scorch fid --ckpts needs a reference");
  const bool ref_is_dir = fs::is_directory(a.ref);
  eval::Extracted ref = ref_is_dir ? eval::Extracted{} : read_reference(a.ref, a.preprocessing);
  const auto ckpts = match_checkpoints(a);
  Extractor ex(a);
  ex.check_can_score_is(a);
  auto& comm = *ex.cpu_comm;
  const std::string out = a.out.empty() ? default_out(ckpts.front().dir) : a.out;
  eval::FidTable table(out);
  if (comm.rank() == 0)
    spdlog::info("FID of {} checkpoint(s) matching '{}' -> {}", ckpts.size(), a.ckpts, table.json_path());
  bool have_ref = !ref_is_dir;
  int64_t computed = 0, skipped = 0;
  json last_settings;
  for (const auto& c : ckpts) {
    const json settings = settings_of(c, a, ex);
    last_settings = settings;
    // Rank 0 decides from the table (another job may be writing it) and tells the others.
    std::string found = comm.rank() == 0 ? table.find(c.step, settings).dump() : std::string();
    comm.broadcast(found, 0);
    const json row_before = json::parse(found);
    if (row_has_what_is_asked(row_before, a)) {
      ++skipped;
      if (comm.rank() == 0)
        std::printf("step %lld: FID %.6f already in %s; skipped\n", static_cast<long long>(c.step),
                    row_before.at("fid").get<double>(), table.json_path().c_str());
      continue;
    }
    const auto t0 = Clock::now();
    auto inf = load_inference_model(c.dir, a.weights, torch::Device(torch::kCPU));
    const auto device = select_device(c.config.get_string("device"), dist::info().local_rank);
    inf.model->to(device);
    sampler::DiffusionSampler diffusion(*inf.model, c.config, device);
    sampler::FarmOptions o;
    o.out = (fs::path(out) / "samples" / fmt::format("step-{}", c.step)).string();
    o.num = settings.at("num").get<int64_t>();
    o.batch = settings.at("batch").get<int64_t>();
    o.seed = static_cast<uint64_t>(settings.at("seed").get<int64_t>());
    o.model = {{"source", inf.source}, {"step", inf.step}, {"weights", inf.weights}};
    o.command = "scorch fid --ckpts";
    const auto farm = sampler::run_farm(diffusion, c.config, o, comm);
    const double sampling_s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (comm.rank() == 0)
      spdlog::info("step {}: {} images in {} ({})", c.step, o.num, o.out,
                   farm.already_complete ? "complete already" : fmt::format("{} batches resumed", farm.resumed));
    const auto t1 = Clock::now();
    const auto samples = ex.run(o.out, a.is, a.kid);
    if (!have_ref) ref = ex.run(a.ref, false, a.kid), have_ref = true;
    if (comm.rank() == 0) {
      const json s = score(a, samples, ref);
      json row = {{"step", c.step},         {"checkpoint", c.dir},       {"settings", settings},
                  {"fid", s.at("fid")},     {"images", samples.stats.count},
                  {"samples", a.delete_samples ? json(nullptr) : json(o.out)},
                  {"seconds_sampling", sampling_s},
                  {"seconds_fid", std::chrono::duration<double>(Clock::now() - t1).count()},
                  {"ranks", comm.world()},  {"date", now_utc()}};
      if (s.contains("is")) row["is_mean"] = s["is"]["mean"], row["is_std"] = s["is"]["std"];
      if (s.contains("kid")) row["kid_mean"] = s["kid"]["mean"], row["kid_std"] = s["kid"]["std"];
      table.add(row);
      std::printf("step %lld: FID %.6f (%lld samples vs %s)\n", static_cast<long long>(c.step), s["fid"].get<double>(),
                  static_cast<long long>(samples.stats.count), a.ref.c_str());
      if (a.delete_samples) fs::remove_all(o.out);
    }
    comm.barrier();
    ++computed;
  }
  if (comm.rank() == 0) {
    table.plot(last_settings);
    std::printf("%lld checkpoint(s): %lld scored, %lld already in the table (skipped); wrote %s, %s, %s\n",
                static_cast<long long>(ckpts.size()), static_cast<long long>(computed),
                static_cast<long long>(skipped), table.json_path().c_str(), table.csv_path().c_str(),
                table.plot_path().c_str());
  }
  return 0;
}

}  // namespace scorch::apps
