// `scorch fid`: FID (and IS, KID) of a folder of samples against reference statistics; `scorch fid stats`.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/fid_common.h"
#include "core/dist/process.h"
#include "core/error.h"
#include "core/io/npz.h"
#include "eval/extract.h"

namespace scorch::apps {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

int run_stats(const FidArgs& a) {
  SCORCH_CHECK(!a.data.empty(), "scorch fid stats needs --data DIR (a folder of images)");
  Extractor ex(a);
  const std::string out = a.out.empty() ? fmt::format("{}-fid-stats-{}.npz", fs::path(a.data).filename().string(),
                                                      eval::to_string(ex.options.mode))
                                        : a.out;
  auto e = ex.run(a.data, false, false);
  if (ex.comm->rank() == 0) {
    io::npz::write_npz(out, {{"mu", e.stats.mu}, {"sigma", e.stats.sigma}});
    auto meta = ex.identity(a);
    meta["images"] = e.stats.count;
    meta["source"] = a.data;
    write_json(out + ".json", meta);
    std::printf("wrote %s (%lld images, preprocessing %s) and %s.json\n", out.c_str(),
                static_cast<long long>(e.stats.count), eval::to_string(ex.options.mode).c_str(), out.c_str());
  }
  return 0;
}

int run_fid(const FidArgs& a) {
  SCORCH_CHECK(!a.samples.empty() && !a.ref.empty(),
               "scorch fid needs --samples DIR (or --ckpts PATTERN) and --ref ref.npz|DIR");
  // A reference file is checked before the (slow) extraction starts.
  const bool ref_is_dir = fs::is_directory(a.ref);
  eval::Extracted ref = ref_is_dir ? eval::Extracted{} : read_reference(a.ref, a.preprocessing);
  Extractor ex(a);
  ex.check_can_score_is(a);
  const std::string mode = eval::to_string(ex.options.mode);
  auto samples = ex.run(a.samples, a.is, a.kid);
  if (ref_is_dir) ref = ex.run(a.ref, false, a.kid);
  if (ex.comm->rank() != 0) return 0;

  json result = ex.identity(a);
  result.update(score(a, samples, ref));
  result["samples"] = {{"path", a.samples}, {"images", samples.stats.count}};
  result["ref"] = {{"path", a.ref}, {"images", ref.stats.count > 0 ? json(ref.stats.count) : json(nullptr)}};
  std::printf("FID %.6f (%lld samples vs %s, preprocessing %s)\n", result["fid"].get<double>(),
              static_cast<long long>(samples.stats.count), a.ref.c_str(), mode.c_str());
  if (a.is)
    std::printf("IS  %.6f +- %.6f (%lld splits)\n", result["is"]["mean"].get<double>(),
                result["is"]["std"].get<double>(), static_cast<long long>(a.is_splits));
  if (a.kid) std::printf("KID %.6e +- %.6e\n", result["kid"]["mean"].get<double>(), result["kid"]["std"].get<double>());
  const std::string out = a.out.empty() ? (fs::path(a.samples) / ("fid-" + mode + ".json")).string() : a.out;
  write_json(out, result);
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

void add_extractor_flags(CLI::App* cmd, FidArgs& a) {
  cmd->add_option("--preprocessing", a.preprocessing, "tf (TTUR/score_sde/EDM numbers) | pytorch-fid")
      ->check(CLI::IsMember({"tf", "pytorch-fid"}));
  cmd->add_option("--inception", a.inception, "FID Inception weights (.pth of pytorch-fid or TorchScript .pt)");
  cmd->add_option("--device", a.device, "auto | cpu | cuda | cuda:N");
  cmd->add_option("--precision", a.precision, "fp32 (default, TF32 off) | tf32");
  cmd->add_option("--batch-size", a.batch_size, "images per Inception batch (global batches, fixed over ranks)");
}

}  // namespace

void add_fid_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<FidArgs>();
  auto* cmd = app.add_subcommand("fid", "FID / IS / KID of samples, or of a series of checkpoints, against a reference");
  cmd->add_option("--samples", a->samples, "folder of sample images (or a samples/dataset dir)");
  cmd->add_option("--ckpts", a->ckpts,
                  "checkpoint glob ('runs/NAME/checkpoints/step-*') or one checkpoint dir: sample, score, tabulate each");
  cmd->add_option("--ref", a->ref, "reference: stats .npz (mu/sigma or pool_3) or a folder of images");
  cmd->add_flag("--is", a->is, "also the Inception Score (needs weights with the 1008-class layer)");
  cmd->add_flag("--kid", a->kid, "also the Kernel Inception Distance");
  cmd->add_option("--is-splits", a->is_splits, "IS splits (10 as in Salimans et al.; score_sde used 1)");
  cmd->add_option("--kid-subsets", a->kid_subsets, "KID subsets");
  cmd->add_option("--kid-subset-size", a->kid_subset_size, "KID subset size (clamped to the smaller set)");
  cmd->add_option("--out", a->out,
                  "--samples: result JSON (default SAMPLES/fid-<preprocessing>.json); --ckpts: output dir "
                  "(default: RUN/fid next to RUN/checkpoints)");
  auto* series = cmd->add_option_group("Checkpoint series (--ckpts)");
  series->add_option("--num", a->num, "images sampled per checkpoint (default: the config's eval.num_samples)");
  series->add_option("--batch", a->batch, "sampling batch, the unit of work and noise (default: eval.batch_size)");
  series->add_option("--seed", a->seed, "sampling seed (default: the config's seed)");
  series->add_option("--weights", a->weights, "ema (default, as score_sde evaluates) | model")
      ->check(CLI::IsMember({"ema", "model"}));
  series->add_option("--set", a->sets,
                     "override of each checkpoint's config, e.g. --set sampling.method=ode (repeatable; network keys "
                     "refused; --set device=... places the sampler, default --device)")
      ->type_name("KEY=VALUE");
  series->add_flag("--delete-samples,!--keep-samples", a->delete_samples,
                   "delete OUT/samples/step-N once scored (--keep-samples, the default, keeps them)")
      ->default_val(false);
  add_extractor_flags(cmd, *a);
  auto* stats = cmd->add_subcommand("stats", "reference statistics (pytorch-fid .npz) of a folder of images");
  stats->add_option("--data", a->data, "folder of images")->required();
  stats->add_option("--out", a->out, "output .npz (default: <folder name>-fid-stats-<preprocessing>.npz)");
  add_extractor_flags(stats, *a);
  cmd->callback([&action, a, stats]() {
    action = [a, stats]() {
      dist::check_world_size();
      if (stats->parsed()) return run_stats(*a);
      SCORCH_CHECK(a->ckpts.empty() || a->samples.empty(), "pass either --samples DIR or --ckpts PATTERN, not both");
      return a->ckpts.empty() ? run_fid(*a) : run_fid_ckpts(*a);
    };
  });
}

}  // namespace scorch::apps
