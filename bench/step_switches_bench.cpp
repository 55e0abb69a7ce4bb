// The training step with issue 21's speed switches off and on, one process: ms per step and host reads per
// step for each setting. Validates first: every setting ends with the weights of the all-off run (1e-4
// relative; the fused kernels sum in another order) and a finite loss; then prints the ratios against all-off.
//
//   build/bin/step_switches_bench [config.yaml] [steps] [key=value ...]
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
#include "core/models/model_weights.h"
#include "data/synth.h"
#include "trainer/trainer.h"

namespace {

using namespace scorch;
namespace fs = std::filesystem;

struct Setting {
  const char* name;
  std::vector<std::string> sets;
};

const std::vector<Setting> kSettings = {
    {"all off (synced, foreach Adam, bmm)",
     {"training.sync_free=false", "optim.fused=false", "model.fused_attention=false"}},
    {"+ sync-free step, fused Adam", {"training.sync_free=true", "optim.fused=true", "model.fused_attention=false"}},
    {"+ fused attention", {"training.sync_free=true", "optim.fused=true", "model.fused_attention=true"}},
};

struct Figures {
  double step_ms = 0, host_reads_per_step = 0, last_loss = 0;
  std::map<std::string, torch::Tensor> weights;
};

// Times every metric interval after the first (warm-up) one.
Figures run(const std::string& config_path, int64_t steps, const std::string& data, const std::string& workdir,
            const std::vector<std::string>& extra, const Setting& s, const torch::Device& device) {
  std::vector<std::string> sets = {"data.path=" + data,
                                   "training.n_iters=" + std::to_string(steps),
                                   "training.log_freq=" + std::to_string(std::max<int64_t>(steps / 4, 1)),
                                   "training.snapshot_freq=0",
                                   "training.snapshot_freq_for_preemption=0",
                                   "training.snapshot_sampling=false",
                                   "training.eval_freq=0",
                                   "optim.warmup=0"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  sets.insert(sets.end(), s.sets.begin(), s.sets.end());
  fs::remove_all(workdir);
  trainer::Trainer t(Config::resolve(config_path, sets), workdir, std::make_shared<dist::LocalCommunicator>(), device);
  t.run();
  Figures f;
  f.host_reads_per_step = static_cast<double>(t.host_reads()) / static_cast<double>(steps);
  f.weights = models::state_dict(t.model());
  std::ifstream in(workdir + "/metrics.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  SCORCH_CHECK(rows.size() >= 2, "{}: too few metric rows", workdir);
  for (size_t i = 1; i < rows.size(); ++i) f.step_ms += rows[i]["step_ms"].get<double>() / double(rows.size() - 1);
  f.last_loss = rows.back()["loss"].is_number() ? rows.back()["loss"].get<double>() : std::nan("");
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_host_memory();
  dist::init(&argc, &argv);
  init_logging(0, "warn");
  const std::string config_path = argc > 1 ? argv[1] : "configs/small/fashion_mnist_32.yaml";
  const int64_t steps = argc > 2 ? std::stoll(argv[2]) : 16;
  std::vector<std::string> extra(argv + std::min(argc, 3), argv + argc);
  int code = 0;
  try {
    const auto probe = Config::resolve(config_path, extra);
    const auto device = dist::select_device(probe.get_string("device"), 0);
    const auto root = (fs::temp_directory_path() / ("scorch-step-switches-" + std::to_string(::getpid()))).string();
    dist::LocalCommunicator local;
    data::synth_shapes(512, static_cast<int>(probe.get_int("data.image_size")),
                       static_cast<int>(probe.get_int("data.num_channels")), 0, "step_switches_bench",
                       {root + "/data", 0, true}, local);
    std::vector<Figures> figures;
    for (const auto& s : kSettings)
      figures.push_back(run(config_path, steps, root + "/data", root + "/run", extra, s, device));
    for (size_t i = 0; i < figures.size(); ++i) {
      SCORCH_CHECK(std::isfinite(figures[i].last_loss), "validation: {}: non-finite loss", kSettings[i].name);
      for (const auto& [name, w] : figures[0].weights) {
        const double diff = (figures[i].weights.at(name) - w).abs().max().item<double>();
        const double scale = std::max(1.0, w.abs().max().item<double>());
        SCORCH_CHECK(diff <= 1e-4 * scale, "validation: {}: weight {} differs from all-off by {:g}", kSettings[i].name,
                     name, diff);
      }
    }
    std::printf("config %s, %s, batch %lld, %lld steps (the first log interval not timed)\n", config_path.c_str(),
                device.str().c_str(), static_cast<long long>(probe.get_int("training.batch_size")),
                static_cast<long long>(steps));
    std::printf("%-38s %10s %8s %18s\n", "setting", "ms/step", "vs off", "host reads/step");
    for (size_t i = 0; i < figures.size(); ++i)
      std::printf("%-38s %10.1f %8.2f %18.2f\n", kSettings[i].name, figures[i].step_ms,
                  figures[0].step_ms / figures[i].step_ms, figures[i].host_reads_per_step);
    fs::remove_all(root);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "step_switches_bench: %s\n", e.what());
    code = 1;
  }
  dist::finalize();
  return code;
}
