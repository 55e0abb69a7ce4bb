// `scorch train`: data-parallel training of a score model in a run dir, resuming from its checkpoints.
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "apps/commands.h"
#include "apps/config_args.h"
#include "core/dir_lock.h"
#include "core/dist/communicator.h"
#include "core/dist/device.h"
#include "core/dist/process.h"
#include "core/error.h"
#include "core/log.h"
#include "core/signals.h"
#include "sampler/diffusion_sampler.h"
#include "sampler/options.h"
#include "trainer/trainer.h"

namespace scorch::apps {

namespace {

struct TrainArgs {
  ConfigArgs config;
  std::string workdir;
};

int run_train(const TrainArgs& args) {
  Config config = resolve_config(args.config);
  if (dry_run(args.config, config, [&] {
        trainer::check_config(config, dist::info().world);
        trainer::check_data(config);
        sampler::SamplingOptions::from(config);  // the snapshots' sampler
      }))
    return 0;
  SCORCH_CHECK(!args.workdir.empty(), "scorch train needs --workdir DIR (the run dir; an existing one resumes)");
  dist::check_world_size();
  // First: a stop signal during start-up (device, communicator, data checks: long on GPUs) used to kill the rank,
  // which Slurm scripts then took for a crash; now the run stops at its first step, checkpointed.
  install_stop_handlers();
  const auto& me = dist::info();
  make_output_dir(args.workdir, "--workdir");
  // Rank 0 holds the run dir for the whole run; refused, it ends the job as any rank's error does.
  std::optional<DirLock> lock;
  if (me.rank == 0)
    lock.emplace(args.workdir, "scorch train", "two runs in one run dir would mix their checkpoints and metrics",
                 "wait for it to finish or stop it (a stop signal checkpoints), or use another --workdir");
  log_to_run_dir(args.workdir);
  const auto device = dist::select_device(config.get_string("device"), me.local_rank);
  auto comm = dist::make_communicator(config.get_string("dist.backend"), device);
  trainer::check_ranks_agree(config, *comm);
  trainer::TrainerHooks hooks;
  // Snapshot grids are drawn by image score models; a classifier or a points model has none to draw.
  if (config.get_string("training.task") == "score" && config.get_int("data.image_size") > 1)
    hooks.on_snapshot = [config, workdir = args.workdir, device](int64_t step, models::ScoreModelImpl& model) {
      // A grid big enough to judge, small enough not to stall the other ranks waiting at the next all-reduce.
      const int64_t size = config.get_int("data.image_size");
      const int64_t n = size <= 64 ? 64 : size <= 256 ? 16 : 4;
      const auto path = (std::filesystem::path(workdir) / "samples" / fmt::format("step-{:09d}.png", step)).string();
      std::filesystem::create_directories(std::filesystem::path(path).parent_path());
      const auto t0 = std::chrono::steady_clock::now();
      auto grid = sampler::write_grid_png(
          path, sampler::sample_images(model, config, n, static_cast<uint64_t>(config.get_int("seed")), device));
      spdlog::info("snapshot grid {} ({:.1f} s)", path,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      return grid;
    };
  trainer::Trainer trainer(config, args.workdir, comm, device, hooks);
  // The run dir keeps the config it runs with; a resumed run rewrites it with the values now in force. Only once the
  // trainer has accepted it (data, resume checks): a refused start leaves the run's config.yaml as it was.
  if (me.rank == 0) config.save((std::filesystem::path(args.workdir) / "config.yaml").string());
  const auto result = trainer.run();
  if (result.preempted) return kExitPreempted;
  spdlog::info("training done: {} steps in {}", result.step, args.workdir);
  return 0;
}

}  // namespace

void add_train_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("train", "train a score model (data-parallel over MPI ranks)");
  auto args = std::make_shared<TrainArgs>();
  add_config_args(cmd, args->config);
  cmd->add_option("--workdir", args->workdir, "run dir: config.yaml, logs/, metrics.jsonl, checkpoints/, samples/");
  cmd->callback([&action, args]() { action = [args]() { return run_train(*args); }; });
}

}  // namespace scorch::apps
