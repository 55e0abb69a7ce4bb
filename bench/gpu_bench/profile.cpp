// gpu_bench profile: a Kineto trace of two training steps between log intervals, for trace_summary.py.
#include <torch/csrc/autograd/profiler_kineto.h>

#include <filesystem>

#include "bench/gpu_bench/bench.h"
#include "core/dist/mpi_comm.h"
#include "trainer/trainer.h"

namespace scorch::gpu_bench {

namespace fs = std::filesystem;

namespace prof = torch::autograd::profiler;

namespace {

const torch::profiler::impl::ProfilerConfig& kineto() {
  static const torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO);
  return config;
}

std::set<torch::profiler::impl::ActivityType> activities(const torch::Device& device) {
  std::set<torch::profiler::impl::ActivityType> a{torch::profiler::impl::ActivityType::CPU};
  if (device.is_cuda()) a.insert(torch::profiler::impl::ActivityType::CUDA);
  return a;
}

}  // namespace

TraceWindow::TraceWindow(const torch::Device& device) : device_(device) {
  prof::prepareProfiler(kineto(), activities(device_));
}

void TraceWindow::start() {
  synchronize(device_);
  prof::enableProfiler(kineto(), activities(device_));
}

void TraceWindow::stop(const std::string& path) {
  synchronize(device_);
  prof::disableProfiler()->save(path);
}

int cmd_profile(Bench& b, int64_t batch, const std::string& variant, const std::string& trace) {
  auto sets = run_sets(b, variant, batch);
  // One log line at the end, outside the window: the window holds steps as they run between log intervals.
  sets.push_back("training.log_freq=1000");
  sets.push_back("training.n_iters=8");
  const auto workdir = b.root + "/profile";
  fs::remove_all(workdir);
  // Steps 0-4 warm up (cuDNN's algorithm choice, the allocator, the CUDA-graph capture at step 3). The window
  // runs from the start of step 5 to that of step 7: two whole steps, without the start-up, the capture, the
  // final log read or the checkpoint write.
  TraceWindow window(b.device);
  Clock::time_point t;
  double s = 0;
  trainer::TrainerHooks hooks;
  hooks.on_step = [&](int64_t step) {
    if (step == 5) {
      window.start();
      t = Clock::now();
    } else if (step == 7) {
      synchronize(b.device);
      s = seconds_since(t);
      window.stop(trace);
    }
  };
  trainer::Trainer(b.config(sets), workdir, std::make_shared<dist::LocalCommunicator>(), b.device, hooks).run();
  fs::remove_all(workdir);
  emit({{"bench", "profile_run"},
        {"config", b.config_path},
        {"variant", variant},
        {"batch", batch},
        {"steps", 2},
        {"seconds", s},
        {"trace", trace}},
       b.device);
  return 0;
}

}  // namespace scorch::gpu_bench
