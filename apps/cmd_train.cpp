// `scorch train`: data-parallel training of a score model in a run dir, resuming from its checkpoints.
#include <spdlog/spdlog.h>

#include <filesystem>

#include "apps/commands.h"
#include "apps/config_args.h"
#include "core/device.h"
#include "core/dist/communicator.h"
#include "core/dist/process.h"
#include "core/error.h"
#include "core/log.h"
#include "core/signals.h"
#include "sampler/batch_sampler.h"
#include "trainer/trainer.h"

namespace scorch::apps {

namespace {

struct TrainArgs {
  ConfigArgs config;
  std::string workdir;
};

int run_train(const TrainArgs& args) {
  Config config = resolve_config(args.config);
  if (dry_run(args.config, config)) return 0;
  SCORCH_CHECK(!args.workdir.empty(), "scorch train needs --workdir DIR (the run dir; an existing one resumes)");
  dist::check_world_size();
  const auto& me = dist::info();
  std::filesystem::create_directories(args.workdir);
  log_to_run_dir(args.workdir);
  // The run dir keeps the config it ran with; a resumed run rewrites it with the values now in force.
  if (me.rank == 0) config.save((std::filesystem::path(args.workdir) / "config.yaml").string());
  const auto device = select_device(config.get_string("device"), me.local_rank);
  auto comm = dist::make_communicator(config.get_string("dist.backend"), device);
  install_stop_handlers();
  // Snapshot grids (score_sde's samples/iter_N): 64 EMA samples with the config's sampling.* settings, the same
  // noise (seed, batch 0) every time so successive grids show the model changing, not the noise.
  TrainerHooks hooks;
  hooks.on_snapshot = [&config, &args, device](int64_t step, ScoreModelImpl& ema_model) {
    const auto dir = std::filesystem::path(args.workdir) / "samples";
    std::filesystem::create_directories(dir);
    const auto path = (dir / fmt::format("step-{}.png", step)).string();
    sampler::write_grid_png(path, sampler::sample_images(ema_model, config, 64, config.get_int("seed"), device));
    spdlog::info("snapshot samples: {}", path);
  };
  Trainer trainer(config, args.workdir, comm, device, hooks);
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
