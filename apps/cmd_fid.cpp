// `scorch fid`: FID (and IS, KID) of samples, or of a series of checkpoints, against a reference;
// `scorch fid stats`. The work is eval/'s (fid.h, checkpoint_series.h, fid_reference.h); this file wires flags.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/config_args.h"
#include "core/atomic_file.h"
#include "core/dist/process.h"
#include "core/error.h"
#include "eval/checkpoint_series.h"
#include "eval/fid.h"
#include "eval/fid_reference.h"

namespace scorch::apps {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct FidArgs {
  std::string samples, ref, data, out, ckpts;
  eval::FidOptions fid;
  // Checkpoint series (--ckpts): sampling settings; absent --num / --batch / --seed take each checkpoint
  // config's eval.* and seed (-1 stands for an absent --seed, which refuses negative values).
  std::string weights = "ema";
  int64_t num = 0, batch = 0, seed = -1;
  const CLI::Option *num_flag = nullptr, *batch_flag = nullptr;
  bool delete_samples = false;
  std::vector<std::string> sets;  // KEY=VALUE config overrides for sampling
};

int run_stats(const FidArgs& a) {
  SCORCH_CHECK(!a.data.empty(), "scorch fid stats needs --data DIR (a folder of images)");
  const auto w = eval::write_reference_stats(a.data, a.out, a.fid.extractor);
  if (dist::info().rank == 0)
    std::printf("wrote %s (%lld images, preprocessing %s) and %s.json\n", w.path.c_str(),
                static_cast<long long>(w.images), a.fid.extractor.preprocessing.c_str(), w.path.c_str());
  return 0;
}

int run_fid(const FidArgs& a) {
  SCORCH_CHECK(!a.samples.empty() && !a.ref.empty(),
               "scorch fid needs --samples DIR (or --ckpts PATTERN) and --ref ref.npz|DIR");
  const json result = eval::fid(a.samples, a.ref, a.fid);
  if (result.is_null()) return 0;  // ranks other than 0
  const auto mode = result.at("preprocessing").get<std::string>();
  std::printf("FID %.6f (%lld samples vs %s, preprocessing %s)\n", result["fid"].get<double>(),
              result["samples"]["images"].get<long long>(), a.ref.c_str(), mode.c_str());
  if (a.fid.scores.is)
    std::printf("IS  %.6f +- %.6f (%lld splits)\n", result["is"]["mean"].get<double>(),
                result["is"]["std"].get<double>(), static_cast<long long>(a.fid.scores.is_splits));
  if (a.fid.scores.kid)
    std::printf("KID %.6e +- %.6e\n", result["kid"]["mean"].get<double>(), result["kid"]["std"].get<double>());
  const std::string out = a.out.empty() ? (fs::path(a.samples) / ("fid-" + mode + ".json")).string() : a.out;
  write_file_atomic(out, result.dump(2) + "\n");
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

int run_series(const FidArgs& a) {
  eval::CheckpointSeriesOptions o;
  o.pattern = a.ckpts;
  o.ref = a.ref;
  o.out = a.out;
  o.fid = a.fid;
  o.weights = a.weights;
  o.num = given_count(a.num_flag, a.num, "each checkpoint's eval.num_samples");
  o.batch = given_count(a.batch_flag, a.batch, "each checkpoint's eval.batch_size");
  o.delete_samples = a.delete_samples;
  o.overrides = a.sets;
  // The checkpoint's config, then --device (the sampler runs where the extractor does unless --set device=
  // says otherwise), then --set, then --seed.
  o.sampling_config = [&a](const Config& trained) {
    ConfigArgs layers;
    layers.key_flags = {"device=" + a.fid.extractor.device};
    layers.sets = a.sets;
    if (a.seed >= 0) layers.sets.push_back("seed=" + std::to_string(a.seed));
    SCORCH_CHECK_HINT(trained.get_string("training.task") == "score",
                      "pass the score model's run or checkpoints to --ckpts",
                      "scorch fid --ckpts: a checkpoint of training.task {} is not a score model to sample",
                      trained.get_string("training.task"));
    Config c = resolve_config(trained, layers);
    check_network_unchanged(trained, c, "scorch fid --ckpts");
    return c;
  };
  o.on_checkpoint = [&a](const eval::CheckpointScored& s) {
    const auto step = s.row.at("step").get<long long>();
    const double fid = s.row.at("fid").get<double>();
    if (s.skipped)
      std::printf("step %lld: FID %.6f already in %s; skipped\n", step, fid, s.table.c_str());
    else
      std::printf("step %lld: FID %.6f (%lld samples vs %s)\n", step, fid, s.row.at("images").get<long long>(),
                  a.ref.c_str());
  };
  const auto r = eval::evaluate_checkpoint_series(o);
  if (dist::info().rank == 0)
    std::printf("%lld checkpoint(s): %lld scored, %lld already in the table (skipped); wrote %s, %s, %s\n",
                static_cast<long long>(r.checkpoints), static_cast<long long>(r.scored),
                static_cast<long long>(r.skipped), r.table_json.c_str(), r.table_csv.c_str(), r.plot.c_str());
  return 0;
}

void add_extractor_flags(CLI::App* cmd, eval::ExtractorSettings& s) {
  cmd->add_option("--preprocessing", s.preprocessing, "tf (TTUR/score_sde/EDM numbers) | pytorch-fid")
      ->check(CLI::IsMember({"tf", "pytorch-fid"}));
  cmd->add_option("--inception", s.inception, "FID Inception weights (.pth of pytorch-fid or TorchScript .pt)");
  cmd->add_option("--device", s.device, "auto | cpu | cuda | cuda:N");
  cmd->add_option("--precision", s.precision, "fp32 (default, TF32 off) | tf32");
  cmd->add_option("--batch-size", s.batch_size, "images per Inception batch (global batches, fixed over ranks)");
}

}  // namespace

void add_fid_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<FidArgs>();
  auto& scores = a->fid.scores;
  auto* cmd =
      app.add_subcommand("fid", "FID / IS / KID of samples, or of a series of checkpoints, against a reference");
  cmd->add_option("--samples", a->samples, "folder of sample images (or a samples/dataset dir)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option(
      "--ckpts", a->ckpts,
      "checkpoint glob ('runs/NAME/checkpoints/step-*') or one checkpoint dir: sample, score, tabulate each");
  cmd->add_option("--ref", a->ref, "reference: stats .npz (mu/sigma or pool_3) or a folder of images")
      ->check(CLI::ExistingPath);
  cmd->add_flag("--is", scores.is, "also the Inception Score (needs weights with the 1008-class layer)");
  cmd->add_flag("--kid", scores.kid, "also the Kernel Inception Distance");
  cmd->add_option("--is-splits", scores.is_splits, "IS splits, positive (10 as in Salimans et al.; score_sde used 1)")
      ->check(positive_count());
  cmd->add_option("--kid-subsets", scores.kid_subsets, "KID subsets")->check(positive_count());
  cmd->add_option("--kid-subset-size", scores.kid_subset_size, "KID subset size (clamped to the smaller set)")
      ->check(count_at_least(2));
  cmd->add_option("--out", a->out,
                  "--samples: result JSON (default SAMPLES/fid-<preprocessing>.json); --ckpts: output dir "
                  "(default: RUN/fid next to RUN/checkpoints)");
  auto* series = cmd->add_option_group("Checkpoint series (--ckpts)");
  a->num_flag = series->add_option("--num", a->num,
                                   "images sampled per checkpoint, positive (default: the config's eval.num_samples)");
  a->batch_flag = series->add_option("--batch", a->batch,
                                     "sampling batch, the unit of work and noise, positive (default: eval.batch_size)");
  series->add_option("--seed", a->seed, "sampling seed, non-negative (default: the config's seed)")
      ->check([](const std::string& v) {
        return !v.empty() && v[0] == '-' ? "expected a non-negative seed, got " + v : std::string();
      });
  series->add_option("--weights", a->weights, "ema (default, as score_sde evaluates) | model")
      ->check(CLI::IsMember({"ema", "model"}));
  series
      ->add_option("--set", a->sets,
                   "override of each checkpoint's config, e.g. --set sampling.method=ode (repeatable; network keys "
                   "refused; --set device=... places the sampler, default --device)")
      ->type_name("KEY=VALUE");
  series
      ->add_flag("--delete-samples,!--keep-samples", a->delete_samples,
                 "delete OUT/samples/step-N once scored (--keep-samples, the default, keeps them)")
      ->default_val(false);
  add_extractor_flags(cmd, a->fid.extractor);
  auto* stats = cmd->add_subcommand("stats", "reference statistics (pytorch-fid .npz) of a folder of images");
  stats->add_option("--data", a->data, "folder of images")->required();
  stats->add_option("--out", a->out, "output .npz (default: <folder name>-fid-stats-<preprocessing>.npz)");
  add_extractor_flags(stats, a->fid.extractor);
  cmd->callback([&action, a, stats]() {
    action = [a, stats]() {
      dist::check_world_size();
      if (stats->parsed()) return run_stats(*a);
      SCORCH_CHECK(a->ckpts.empty() || a->samples.empty(), "pass either --samples DIR or --ckpts PATTERN, not both");
      return a->ckpts.empty() ? run_fid(*a) : run_series(*a);
    };
  });
}

}  // namespace scorch::apps
