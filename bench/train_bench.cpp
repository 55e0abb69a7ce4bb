// Training throughput per rank and the share of the step exposed to communication and data waits.
// Run under mpirun -np N: first every rank trains alone on its share of the batch (the compute-only
// baseline), then all ranks train together on the whole batch; the ratio is the data-parallel efficiency.
// Validates first: the joint run's ranks must end with identical weights and a finite, falling loss.
//
//   mpirun -np 2 build/bin/train_bench [config.yaml] [steps] [key=value ...]
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/config.h"
#include "core/dist/communicator.h"
#include "core/dist/device.h"
#include "core/dist/mpi_comm.h"
#include "core/dist/process.h"
#include "core/host_memory.h"
#include "core/log.h"
#include "data/synth.h"
#include "trainer/trainer.h"

namespace {

using namespace scorch;
namespace fs = std::filesystem;

struct Figures {
  double images_per_s_per_rank = 0, step_ms = 0, comm_share = 0, data_share = 0, first_loss = 0, last_loss = 0;
};

// Averages the metric rows after the first (warm-up) interval.
Figures read_figures(const std::string& workdir, int world) {
  std::ifstream in(workdir + "/metrics.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  if (rows.size() < 2) {
    std::fprintf(stderr, "train_bench: too few metric rows in %s\n", workdir.c_str());
    std::exit(1);
  }
  Figures f;
  f.first_loss = rows.front()["loss"].get<double>();
  f.last_loss = rows.back()["loss"].get<double>();
  const double n = static_cast<double>(rows.size() - 1);
  for (size_t i = 1; i < rows.size(); ++i) {
    f.images_per_s_per_rank += rows[i]["images_per_s"].get<double>() / world / n;
    f.step_ms += rows[i]["step_ms"].get<double>() / n;
    f.comm_share += rows[i]["comm_wait_share"].get<double>() / n;
    f.data_share += rows[i]["data_wait_share"].get<double>() / n;
  }
  return f;
}

Config bench_config(const std::string& path, int64_t steps, int64_t batch, const std::string& data,
                    const std::vector<std::string>& extra) {
  std::vector<std::string> sets = {"data.path=" + data,
                                   "training.n_iters=" + std::to_string(steps),
                                   "training.log_freq=" + std::to_string(std::max<int64_t>(steps / 4, 1)),
                                   "training.batch_size=" + std::to_string(batch),
                                   "training.snapshot_freq=0",
                                   "training.snapshot_freq_for_preemption=0",
                                   "training.snapshot_sampling=false",
                                   "dist.check_weights=true",
                                   "optim.warmup=0"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return Config::resolve(path, sets);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_host_memory();  // as the scorch binary does (apps/main.cpp)
  dist::init(&argc, &argv);
  const auto& me = dist::info();
  init_logging(me.rank, "warn");
  dist::configure_cpu_threads(me.local_world);
  const std::string config_path = argc > 1 ? argv[1] : "configs/small/fashion_mnist_32.yaml";
  const int64_t steps = argc > 2 ? std::stoll(argv[2]) : 24;
  std::vector<std::string> extra(argv + std::min(argc, 3), argv + argc);
  try {
    auto world = dist::make_communicator("auto", torch::kCPU);
    auto probe = Config::resolve(config_path, extra);
    const auto device = dist::select_device(probe.get_string("device"), me.local_rank);
    if (device.is_cuda()) world = dist::make_communicator("auto", device);
    const int64_t batch = probe.get_int("training.batch_size");

    std::string root;
    if (me.rank == 0) {
      root = (fs::temp_directory_path() / ("scorch-train-bench-" + std::to_string(::getpid()))).string();
      fs::create_directories(root);
      dist::LocalCommunicator local;
      data::synth_shapes(2048, static_cast<int>(probe.get_int("data.image_size")),
                         static_cast<int>(probe.get_int("data.num_channels")), 0, "train_bench",
                         {root + "/data", 0, true}, local);
    }
    world->broadcast(root, 0);

    // Baseline: every rank alone with its share of the batch (no communication at all).
    const auto alone_dir = root + "/alone-" + std::to_string(me.rank);
    trainer::Trainer(bench_config(config_path, steps, batch / me.world, root + "/data", extra), alone_dir,
                     std::make_shared<dist::LocalCommunicator>(), device)
        .run();
    // Data parallel: all ranks, the whole batch; check_weights validates the ranks agree at the end.
    trainer::Trainer(bench_config(config_path, steps, batch, root + "/data", extra), root + "/joint", world, device)
        .run();

    if (me.rank == 0) {
      const auto alone = read_figures(alone_dir, 1), joint = read_figures(root + "/joint", me.world);
      if (!(joint.last_loss < joint.first_loss)) {
        std::fprintf(stderr, "train_bench: validation failed: loss did not fall (%g -> %g)\n", joint.first_loss,
                     joint.last_loss);
        dist::abort_job("train_bench validation failed");
      }
      struct rusage ru {};
      getrusage(RUSAGE_SELF, &ru);
      std::printf("config %s, %s, %d rank(s), global batch %lld, %lld steps (first quarter not timed)\n",
                  config_path.c_str(), device.str().c_str(), me.world, static_cast<long long>(batch),
                  static_cast<long long>(steps));
      std::printf("%-34s %12s %10s %8s %8s\n", "run", "img/s/rank", "ms/step", "comm", "data");
      std::printf("%-34s %12.1f %10.1f %7.1f%% %7.1f%%\n", "alone, batch/N per rank (baseline)",
                  alone.images_per_s_per_rank, alone.step_ms, 100 * alone.comm_share, 100 * alone.data_share);
      std::printf("%-34s %12.1f %10.1f %7.1f%% %7.1f%%\n", "data parallel, global batch", joint.images_per_s_per_rank,
                  joint.step_ms, 100 * joint.comm_share, 100 * joint.data_share);
      std::printf(
          "data-parallel efficiency %.2f (img/s per rank vs alone); peak RSS rank 0 %.0f MiB; loss %.4g -> %.4g\n",
          joint.images_per_s_per_rank / alone.images_per_s_per_rank, ru.ru_maxrss / 1024.0, joint.first_loss,
          joint.last_loss);
      fs::remove_all(root);
    }
  } catch (const std::exception& e) {
    dist::abort_job(std::string("train_bench: ") + e.what());
  }
  dist::finalize();
  return 0;
}
