// gpu_bench train and max-batch: timed training steps per variant, and the largest batch that trains.
#include <ATen/record_function.h>
#include <c10/util/Exception.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string_view>

#include "bench/gpu_bench/bench.h"
#include "core/dist/mpi_comm.h"
#include "core/error.h"
#include "trainer/trainer.h"

namespace scorch::gpu_bench {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct StepFigures {
  double images_per_s = 0, step_ms = 0, peak_gib = 0;
  double logged_images_per_s = 0;  // the trainer's own figure for the timed interval
  int64_t graphed_steps = 0;       // replays of the whole-step CUDA graph: 0 when the steps stayed eager
  bool graph_wanted = false;       // the trainer meant to replay its steps from a graph
  std::vector<double> losses;
  std::string sdpa_kernel;  // what scaled_dot_product_attention dispatched to; empty on the bmm path
};

// The kernels scaled_dot_product_attention dispatches to in the first step, by their ops' names without the
// "aten::_scaled_dot_product_" prefix: "flash_attention", "efficient_attention", "cudnn_attention",
// "attention_math" (the unfused fallback), "flash_attention_for_cpu". The choice depends on the device, dtype,
// head width and layout, and it alone says whether +sdpa measured a fused kernel. A thread-local RecordFunction
// callback on the stepping thread (the forward's ops are dispatched there), removed after the first step so
// that the timed steps run without it.
class SdpaKernels {
 public:
  SdpaKernels() {
    names().clear();
    handle_ = at::addThreadLocalCallback(at::RecordFunctionCallback(&SdpaKernels::start).needsInputs(false));
  }
  ~SdpaKernels() { stop(); }
  SdpaKernels(const SdpaKernels&) = delete;
  SdpaKernels& operator=(const SdpaKernels&) = delete;
  void stop() {
    if (handle_ != 0) at::removeCallback(handle_);
    handle_ = 0;
  }
  static std::string seen() {
    std::string out;
    for (const auto& n : names()) out += (out.empty() ? "" : ",") + n;
    return out;
  }

 private:
  static constexpr std::string_view kPrefix = "aten::_scaled_dot_product_";
  static std::set<std::string>& names() {
    static std::set<std::string> seen;
    return seen;
  }
  // The callback's thread-local state goes with the autograd engine's worker too, so the backward's ops
  // (..._backward) come by as well: the forward's name the kernel.
  static std::unique_ptr<at::ObserverContext> start(const at::RecordFunction& fn) {
    static constexpr std::string_view kBackward = "_backward";
    const std::string_view name(fn.name());
    const bool backward = name.size() >= kBackward.size() && name.substr(name.size() - kBackward.size()) == kBackward;
    if (name.substr(0, kPrefix.size()) == kPrefix && !backward) names().emplace(name.substr(kPrefix.size()));
    return nullptr;
  }
  at::CallbackHandle handle_ = 0;
};

// `warm` steps (cuDNN's algorithm search, the allocator filling up, the CUDA-graph capture; a multiple of
// `steps`), then `steps` timed ones between two device synchronisations, and one more so that the timed ones
// end at a log interval. The run's own metrics.jsonl figure for the same interval is kept beside it: the two
// must agree.
StepFigures train_steps(const Bench& b, const std::string& variant, int64_t batch, int64_t steps,
                        const std::string& workdir, int64_t warm) {
  SCORCH_CHECK(steps >= 1, "{} timed steps: expected at least 1", steps);
  SCORCH_CHECK(warm >= steps && warm % steps == 0, "warm-up of {} steps: expected a multiple of the {} timed ones",
               warm, steps);
  release_cached_memory();  // what the previous variant or try left, cuBLAS's workspaces included
  auto sets = run_sets(b, variant, batch);
  sets.push_back("training.n_iters=" + std::to_string(warm + steps + 1));
  sets.push_back("training.log_freq=" + std::to_string(steps));
  fs::remove_all(workdir);
  Clock::time_point t0;
  double seconds = 0;
  int64_t graphed = 0;
  bool wanted = false;
  SdpaKernels sdpa;
  trainer::TrainerHooks hooks;
  hooks.on_step = [&](int64_t step) {
    if (step == 1) sdpa.stop();
    if (step != warm && step != warm + steps) return;
    synchronize(b.device);
    if (step == warm)
      t0 = Clock::now();
    else
      seconds = seconds_since(t0);
  };
  {
    trainer::Trainer trainer(b.config(sets), workdir, std::make_shared<dist::LocalCommunicator>(), b.device, hooks);
    wanted = trainer.graph_wanted();
    trainer.run();
    graphed = trainer.graphed_steps();
  }
  std::ifstream in(workdir + "/metrics.jsonl");
  std::vector<json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(json::parse(line));
  const size_t timed = static_cast<size_t>((warm + steps) / steps) - 1;  // the row of the timed interval
  SCORCH_CHECK(rows.size() == timed + 2, "{}: expected {} metric rows, got {}", workdir, timed + 2, rows.size());
  StepFigures f;
  for (size_t i = 0; i <= timed; ++i) {
    const auto& r = rows[i];
    SCORCH_CHECK(r["loss"].is_number() && std::isfinite(r["loss"].get<double>()),
                 "validation: {} {} batch {}: non-finite loss {}", b.config_path, variant, batch, r["loss"].dump());
    f.losses.push_back(r["loss"].get<double>());
  }
  f.images_per_s = static_cast<double>(steps * batch) / seconds;
  f.step_ms = 1000.0 * seconds / static_cast<double>(steps);
  f.logged_images_per_s = rows[timed]["images_per_s"].get<double>();
  f.peak_gib = rows[timed].value("peak_mem_gib", 0.0);
  f.graphed_steps = graphed;
  f.graph_wanted = wanted;
  f.sdpa_kernel = SdpaKernels::seen();
  SCORCH_CHECK(f.sdpa_kernel.empty() == (variant.find("+sdpa") == std::string::npos),
               "validation: {} {}: scaled_dot_product_attention ran '{}' in the first step; expected {}", b.config_path,
               variant, f.sdpa_kernel,
               variant.find("+sdpa") == std::string::npos ? "nothing without +sdpa"
                                                          : "a kernel with +sdpa (does the model have attention?)");
  fs::remove_all(workdir);
  return f;
}

}  // namespace

int cmd_train(Bench& b, int64_t batch, int64_t steps, const std::vector<std::string>& variants) {
  int failed = 0;
  for (const auto& v : variants) {
    StepFigures f;
    // A variant that fails (a validation, a kernel's error) is a row of its own and the others still run; after
    // a fault that leaves the CUDA context unusable they fail too, so the kit runs scorch's kernels apart.
    try {
      f = train_steps(b, v, batch, steps, b.root + "/train", steps);
    } catch (const std::exception& e) {
      emit(
          {{"bench", "train_failed"}, {"config", b.config_path}, {"variant", v}, {"batch", batch}, {"error", e.what()}},
          b.device);
      fs::remove_all(b.root + "/train");
      ++failed;
      continue;
    }
    json row = {{"bench", "train"},
                {"config", b.config_path},
                {"variant", v},
                {"batch", batch},
                {"steps", steps},
                {"images_per_s", f.images_per_s},
                {"logged_images_per_s", f.logged_images_per_s},
                {"step_ms", f.step_ms},
                {"peak_mem_gib", f.peak_gib},
                {"graphed_steps", f.graphed_steps},
                {"losses", f.losses}};
    if (!f.sdpa_kernel.empty()) row["sdpa_kernel"] = f.sdpa_kernel;
    emit(row, b.device);
  }
  return failed == 0 ? 0 : 1;
}

// Doubles the batch from `start` until a step runs out of memory or `limit` is reached, then bisects to
// within an eighth; reports the largest batch that trained and its speed. Each try times 2 steps after 4 warm
// ones, so that the CUDA-graph capture (after trainer::Trainer::kGraphWarmupSteps) is not timed. A variant
// the trainer meant to graph whose capture failed (it goes on eagerly, e.g. when the capture ran out of memory)
// does not fit either: it would report eager speed for a batch the graphed step cannot hold.
int cmd_max_batch(Bench& b, const std::string& variant, int64_t start, int64_t limit, double cap_gb) {
  b.min_images = limit;
  if (!b.device.is_cuda()) cap_gb = 0;  // no cap on the CPU: the rows must not claim one
  if (cap_gb > 0) cap_device_memory(b.device, cap_gb);
  int64_t ok = 0, fail = 0;
  StepFigures best;
  auto attempt = [&](int64_t batch) {
    json row = {{"bench", "max_batch_try"},
                {"config", b.config_path},
                {"variant", variant},
                {"batch", batch},
                {"memory_cap_gb", cap_gb}};
    try {
      auto f = train_steps(b, variant, batch, 2, b.root + "/max-batch", 4);
      row["graphed_steps"] = f.graphed_steps;
      if (!f.graph_wanted || f.graphed_steps > 0) {
        row.update({{"fits", true}, {"images_per_s", f.images_per_s}, {"peak_mem_gib", f.peak_gib}});
        emit(row, b.device);
        ok = batch;
        best = f;
        return true;
      }
      row["why"] = "the step's CUDA-graph capture failed: only eager steps ran";
    } catch (const c10::OutOfMemoryError&) {
      row["why"] = "out of memory";
    }
    row["fits"] = false;
    emit(row, b.device);
    fail = batch;  // the next try's train_steps returns this one's memory first
    fs::remove_all(b.root + "/max-batch");
    return false;
  };
  for (int64_t batch = start; batch <= limit && attempt(batch); batch *= 2) {
  }
  while (fail > 0 && ok > 0 && fail - ok > std::max<int64_t>(1, ok / 8)) attempt((ok + fail) / 2);
  SCORCH_CHECK(ok > 0, "validation: {} {} does not train even at batch {}", b.config_path, variant, start);
  emit({{"bench", "max_batch"},
        {"config", b.config_path},
        {"variant", variant},
        {"batch", ok},
        {"first_failing_batch", fail},
        {"limit", limit},
        {"memory_cap_gb", cap_gb},
        {"images_per_s", best.images_per_s},
        {"peak_mem_gib", best.peak_gib},
        {"graphed_steps", best.graphed_steps}},
       b.device);
  return 0;
}

}  // namespace scorch::gpu_bench
