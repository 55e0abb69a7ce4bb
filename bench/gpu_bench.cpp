// Device-kit benchmarks (bench/device/run): training step speed per precision variant, the largest batch
// that fits, sampler speed (eager, CUDA graph, bf16, ODE) and FID feature extraction. Each validates its
// result before it times it and prints one JSON object per row on stdout. Runs on the CPU too (dry runs).
//
//   gpu_bench train CONFIG BATCH STEPS VARIANT... [--set key=value]...
//   gpu_bench max-batch CONFIG VARIANT START LIMIT [--set key=value]...
//   gpu_bench sample CONFIG BATCH NUM_SCALES [--ckpt CHECKPOINT] [--set key=value]...
//   gpu_bench fid IMAGES BATCH
//   gpu_bench profile CONFIG BATCH VARIANT TRACE.json   (a Kineto trace of 2 training steps after 2 warm ones)
// VARIANT: fp32 (TF32 off) | tf32 (training.tf32: TF32 convolutions and matmuls) | bf16 | fp16, with
// suffixes +cl (training.channels_last), +ckpt (model.grad_checkpointing), +gn (model.fused_group_norm) and
// those that turn a speed switch off or on (variant_sets below), e.g. bf16+cl+ckpt.
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/dist/device.h"
#include "core/dist/mpi_comm.h"
#include "core/dist/process.h"
#include "core/error.h"
#include "core/host_memory.h"
#include "core/io/checkpoint_files.h"
#include "core/log.h"
#include "data/synth.h"
#include "eval/extract.h"
#include "eval/inception_weights.h"
#include "sampler/cuda_graph.h"
#include "sampler/diffusion_sampler.h"
#include "sampler/pc_step_graph.h"
#include "trainer/trainer.h"

#if SCORCH_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace {

using namespace scorch;
namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One result row on stdout, tagged with the device the bench ran on.
void emit(json row, const torch::Device& device) {
  row["device"] = device.str();
  std::printf("%s\n", row.dump().c_str());
  std::fflush(stdout);
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

void release_cached_memory() {
#if SCORCH_WITH_CUDA
  if (torch::cuda::is_available()) c10::cuda::CUDACachingAllocator::emptyCache();
#endif
}

std::vector<std::string> variant_sets(const std::string& variant) {
  std::vector<std::string> sets;
  const auto base = variant.substr(0, variant.find('+'));
  SCORCH_CHECK(
      base == "fp32" || base == "tf32" || base == "bf16" || base == "fp16",
      "variant '{}': expected fp32, tf32, bf16 or fp16 with optional +cl, +ckpt, +sync, +foreach, +bmm, +sdpa, "
      "+eager, +gn",
      variant);
  sets.push_back("training.precision=" + (base == "tf32" ? std::string("fp32") : base));
  sets.push_back(std::string("training.tf32=") + (base == "tf32" ? "true" : "false"));
  for (size_t at = variant.find('+'); at != std::string::npos; at = variant.find('+', at + 1)) {
    const auto flag = variant.substr(at + 1, variant.find('+', at + 1) - at - 1);
    if (flag == "cl")
      sets.push_back("training.channels_last=true");
    else if (flag == "ckpt")
      sets.push_back("model.grad_checkpointing=true");
    else if (flag == "sync")  // the step reads loss and gradient norm on the host, as before issue 21
      sets.push_back("training.sync_free=false");
    else if (flag == "foreach")  // Adam as foreach ops instead of the fused kernel
      sets.push_back("optim.fused=false");
    else if (flag == "bmm")  // attention as bmm + softmax + bmm instead of scaled_dot_product_attention
      sets.push_back("model.fused_attention=false");
    else if (flag == "sdpa")  // attention through scaled_dot_product_attention
      sets.push_back("model.fused_attention=true");
    else if (flag == "eager")  // every step eager instead of replaying one captured CUDA graph
      sets.push_back("training.cuda_graph=false");
    else if (flag == "gn")  // GroupNorm (+ SiLU) through scorch's kernels in the step's layout instead of LibTorch's
      sets.push_back("model.fused_group_norm=true");
    else
      SCORCH_FAIL(
          "variant '{}': unknown suffix '+{}' (expected +cl, +ckpt, +sync, +foreach, +bmm, +sdpa, +eager or +gn)",
          variant, flag);
  }
  return sets;
}

struct Bench {
  std::string config_path;
  std::vector<std::string> sets;  // --set overrides, applied last
  torch::Device device{torch::kCPU};
  std::string root;
  int64_t min_images = 0;  // the synthetic set holds at least this many images (max-batch: its limit)

  Config config(std::vector<std::string> extra) const {
    extra.insert(extra.end(), sets.begin(), sets.end());
    return Config::resolve(config_path, extra);
  }

  // A synthetic "shapes" set at the config's resolution with at least `batch` images (up to 256, but no more
  // than ~64 MiB of pixels beyond that), made once per size.
  std::string dataset(int64_t batch) const {
    const auto probe = config({});
    const int64_t size = probe.get_int("data.image_size"), channels = probe.get_int("data.num_channels");
    const int64_t count = std::max({batch, min_images, std::min<int64_t>(256, (64 << 20) / (size * size * channels))});
    const auto dir = fmt::format("{}/shapes-{}-{}", root, size, count);
    if (!fs::exists(dir + "/manifest.json")) {
      dist::LocalCommunicator local;
      data::synth_shapes(count, static_cast<int>(size), static_cast<int>(channels), 0, "gpu_bench", {dir, 0, true},
                         local);
    }
    return dir;
  }
};

// The variant's keys and what every bench run sets: the batch, no snapshots or evaluation, synthetic data.
std::vector<std::string> run_sets(const Bench& b, const std::string& variant, int64_t batch) {
  auto sets = variant_sets(variant);
  for (const std::string& s :
       std::vector<std::string>{"training.batch_size=" + std::to_string(batch), "training.snapshot_freq=0",
                                "training.snapshot_freq_for_preemption=0", "training.snapshot_sampling=false",
                                "training.eval_freq=0", "data.path=" + b.dataset(batch), "device=" + b.device.str()})
    sets.push_back(s);
  return sets;
}

struct StepFigures {
  double images_per_s = 0, step_ms = 0, peak_gib = 0;
  double logged_images_per_s = 0;  // the trainer's own figure for the timed interval
  std::vector<double> losses;
};

// warm steps (cuDNN's algorithm search, the allocator filling up, the CUDA-graph capture), then `steps` timed
// ones between two device synchronisations, and one more so that the timed ones end at a log interval. The
// run's own metrics.jsonl figure for the same interval is kept beside it: the two must agree.
StepFigures train_steps(const Bench& b, const std::string& variant, int64_t batch, int64_t steps,
                        const std::string& workdir) {
  auto sets = run_sets(b, variant, batch);
  sets.push_back("training.n_iters=" + std::to_string(2 * steps + 1));
  sets.push_back("training.log_freq=" + std::to_string(steps));
  fs::remove_all(workdir);
  Clock::time_point t0;
  double seconds = 0;
  trainer::TrainerHooks hooks;
  hooks.on_step = [&](int64_t step) {
    if (step != steps && step != 2 * steps) return;
    synchronize(b.device);
    if (step == steps)
      t0 = Clock::now();
    else
      seconds = seconds_since(t0);
  };
  {
    trainer::Trainer trainer(b.config(sets), workdir, std::make_shared<dist::LocalCommunicator>(), b.device, hooks);
    trainer.run();
  }
  std::ifstream in(workdir + "/metrics.jsonl");
  std::vector<json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(json::parse(line));
  SCORCH_CHECK(rows.size() == 3, "{}: expected 3 metric rows, got {}", workdir, rows.size());
  StepFigures f;
  for (size_t i = 0; i < 2; ++i) {
    const auto& r = rows[i];
    SCORCH_CHECK(r["loss"].is_number() && std::isfinite(r["loss"].get<double>()),
                 "validation: {} {} batch {}: non-finite loss {}", b.config_path, variant, batch, r["loss"].dump());
    f.losses.push_back(r["loss"].get<double>());
  }
  f.images_per_s = static_cast<double>(steps * batch) / seconds;
  f.step_ms = 1000.0 * seconds / static_cast<double>(steps);
  f.logged_images_per_s = rows[1]["images_per_s"].get<double>();
  f.peak_gib = rows[1].value("peak_mem_gib", 0.0);
  fs::remove_all(workdir);
  return f;
}

int cmd_train(Bench& b, int64_t batch, int64_t steps, const std::vector<std::string>& variants) {
  for (const auto& v : variants) {
    const auto f = train_steps(b, v, batch, steps, b.root + "/train");
    emit({{"bench", "train"},
          {"config", b.config_path},
          {"variant", v},
          {"batch", batch},
          {"steps", steps},
          {"images_per_s", f.images_per_s},
          {"logged_images_per_s", f.logged_images_per_s},
          {"step_ms", f.step_ms},
          {"peak_mem_gib", f.peak_gib},
          {"losses", f.losses}},
         b.device);
  }
  return 0;
}

// Doubles the batch from `start` until a step runs out of memory or `limit` is reached, then bisects to
// within an eighth; reports the largest batch that trained and its speed.
int cmd_max_batch(Bench& b, const std::string& variant, int64_t start, int64_t limit) {
  b.min_images = limit;
  int64_t ok = 0, fail = 0;
  StepFigures best;
  auto attempt = [&](int64_t batch) {
    try {
      auto f = train_steps(b, variant, batch, 2, b.root + "/max-batch");
      emit({{"bench", "max_batch_try"},
            {"config", b.config_path},
            {"variant", variant},
            {"batch", batch},
            {"fits", true},
            {"images_per_s", f.images_per_s},
            {"peak_mem_gib", f.peak_gib}},
           b.device);
      ok = batch;
      best = f;
      return true;
    } catch (const c10::OutOfMemoryError&) {
      emit({{"bench", "max_batch_try"},
            {"config", b.config_path},
            {"variant", variant},
            {"batch", batch},
            {"fits", false}},
           b.device);
      fail = batch;
      fs::remove_all(b.root + "/max-batch");
      release_cached_memory();
      return false;
    }
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
        {"images_per_s", best.images_per_s},
        {"peak_mem_gib", best.peak_gib}},
       b.device);
  return 0;
}

int cmd_sample(Bench& b, int64_t batch, const std::string& num_scales, const std::string& ckpt) {
  auto base = b.config({"model.num_scales=" + num_scales, "device=" + b.device.str()});
  std::shared_ptr<models::ScoreModelImpl> model;
  if (!ckpt.empty()) {
    model = io::load_inference_model(ckpt, "ema", b.device).model;
  } else {
    torch::manual_seed(0);
    model = models::make_model(base);
    model->to(b.device);
  }
  struct Row {
    std::string name;
    std::vector<std::string> sets;
  };
  const std::vector<Row> rows = {
      {"pc_fp32_eager", {"sampling.cuda_graph=false"}},
      {"pc_fp32_graph", {"sampling.cuda_graph=true"}},
      {"pc_bf16_eager", {"sampling.cuda_graph=false", "sampling.precision=bf16"}},
      {"pc_bf16_graph", {"sampling.cuda_graph=true", "sampling.precision=bf16"}},
      {"ode_rk45_fp32", {"sampling.cuda_graph=false", "sampling.method=ode"}},
  };
  torch::Tensor reference;
  for (const auto& row : rows) {
    Config c = base;
    for (const auto& kv : row.sets) c.set_assignment(kv, "gpu_bench");
    sampler::DiffusionSampler diffusion(*model, c, b.device);
    // Untimed first batch: cuDNN's algorithm choice and the CUDA-graph capture (the PC rows capture whole
    // steps; the counts of network-call graphs and of whole-step graphs are reported apart).
    auto first = diffusion.sample(batch, 0, 0);
    synchronize(b.device);
    SCORCH_CHECK(torch::isfinite(first).all().item<bool>(), "validation: {}: non-finite samples", row.name);
    // The graphed fp32 sampler must draw the eager sampler's images (same seed, same batch).
    if (row.name == "pc_fp32_eager") reference = first;
    if (row.name == "pc_fp32_graph") {
      const double diff = (first - reference).abs().max().item<double>();
      SCORCH_CHECK(diff <= 1e-4, "validation: CUDA-graph samples differ from eager ones by {}", diff);
    }
    const auto t = Clock::now();
    auto x = diffusion.sample(batch, 0, 1);
    synchronize(b.device);
    const double s = seconds_since(t);
    emit({{"bench", "sample"},
          {"config", b.config_path},
          {"sampler", row.name},
          {"batch", batch},
          {"num_scales", num_scales},
          {"seconds", s},
          {"nfe", diffusion.last_nfe()},
          {"samples_per_s", batch / s},
          {"weights", ckpt.empty() ? "fresh" : ckpt},
          {"graphs_captured", sampler::cuda_graph_stats().captured},
          {"graph_captures_failed", sampler::cuda_graph_stats().fell_back},
          {"step_graphs_captured", sampler::pc_step_graph_stats().captured},
          {"step_graph_captures_failed", sampler::pc_step_graph_stats().fell_back}},
         b.device);
  }
  return 0;
}

// N random 32x32 RGB images, read in batches as from a folder.
std::unique_ptr<eval::ImageSource> random_images(int64_t n) {
  return eval::tensor_image_source(torch::randint(0, 256, {n, 32, 32, 3}, torch::kUInt8),
                                   fmt::format("{} random images", n));
}

int cmd_fid(Bench& b, int64_t n, int64_t batch) {
  torch::manual_seed(0);
  eval::InceptionV3 model;
  // Speed does not depend on the weights: the real ones when installed, else the random initialisation (the
  // GPU machine has none: 90 MB do not fit the kit).
  std::string weights = "random initialisation";
  try {
    const auto path = eval::default_weights_path();
    weights = eval::load_weights(model, path).identity;
  } catch (const Error&) {
  }
  dist::LocalCommunicator comm;
  eval::ExtractOptions o;
  o.batch_size = batch;
  o.keep_features = true;
  // Validation: the device's features of the first batch equal the CPU path's (fp32, TF32 off).
  dist::set_tf32(false);
  auto check = random_images(std::min<int64_t>(batch, 32));
  double rel = 0;
  if (b.device.is_cuda()) {
    auto cpu = eval::extract(*check, model, o, comm, comm).features;
    o.device = b.device;
    auto dev = eval::extract(*check, model, o, comm, comm).features;
    rel = ((dev - cpu).abs().max() / cpu.abs().max()).item<double>();
    SCORCH_CHECK(rel <= 1e-4, "validation: FID features on {} differ from the CPU's by {} (relative)", b.device.str(),
                 rel);
  }
  o.keep_features = false;
  auto images = random_images(n);
  for (const bool tf32 : {false, true}) {
    if (tf32 && !b.device.is_cuda()) continue;
    dist::set_tf32(tf32);
    eval::extract(*check, model, o, comm, comm);  // warm-up: cuDNN's algorithm choice
    synchronize(b.device);
    const auto t = Clock::now();
    auto r = eval::extract(*images, model, o, comm, comm);
    synchronize(b.device);
    const double s = seconds_since(t);
    SCORCH_CHECK(r.stats.count == n, "validation: {} of {} images", r.stats.count, n);
    emit({{"bench", "fid"},
          {"precision", tf32 ? "tf32" : "fp32"},
          {"images", n},
          {"batch", batch},
          {"images_per_s", n / s},
          {"seconds", s},
          {"weights", weights},
          {"validate_rel_diff_vs_cpu", rel}},
         b.device);
  }
  dist::set_tf32(false);
  return 0;
}

int cmd_profile(Bench& b, int64_t batch, const std::string& variant, const std::string& trace) {
  namespace prof = torch::autograd::profiler;
  auto sets = run_sets(b, variant, batch);
  // One log line at the end, outside the window: the window holds steps as they run between log intervals.
  sets.push_back("training.log_freq=1000");
  sets.push_back("training.n_iters=8");
  const auto workdir = b.root + "/profile";
  fs::remove_all(workdir);
  // Steps 0-4 warm up (cuDNN's algorithm choice, the allocator, the CUDA-graph capture at step 3). The window
  // runs from the start of step 5 to that of step 7: two whole steps, without the start-up, the capture, the
  // final log read or the checkpoint write.
  const torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO);
  std::set<torch::profiler::impl::ActivityType> activities{torch::profiler::impl::ActivityType::CPU};
  if (b.device.is_cuda()) activities.insert(torch::profiler::impl::ActivityType::CUDA);
  prof::prepareProfiler(config, activities);
  Clock::time_point t;
  double s = 0;
  trainer::TrainerHooks hooks;
  hooks.on_step = [&](int64_t step) {
    if (step == 5) {
      synchronize(b.device);
      prof::enableProfiler(config, activities);
      t = Clock::now();
    } else if (step == 7) {
      synchronize(b.device);
      s = seconds_since(t);
      prof::disableProfiler()->save(trace);
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

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "gpu_bench: %s\nusage: gpu_bench train CONFIG BATCH STEPS VARIANT... | max-batch CONFIG VARIANT START "
               "LIMIT | sample CONFIG BATCH NUM_SCALES [--ckpt DIR] | fid IMAGES BATCH | profile CONFIG BATCH VARIANT "
               "TRACE; options --set key=value, "
               "--device D\n",
               why.c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_host_memory();  // as the scorch binary does (apps/main.cpp)
  dist::init(&argc, &argv);
  init_logging(0, "warn");
  std::vector<std::string> args;
  Bench b;
  std::string ckpt, device = "auto";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--set" || a == "--ckpt" || a == "--device") && i + 1 >= argc) usage(a + " needs a value");
    if (a == "--set")
      b.sets.push_back(argv[++i]);
    else if (a == "--ckpt")
      ckpt = argv[++i];
    else if (a == "--device")
      device = argv[++i];
    else
      args.push_back(a);
  }
  if (args.empty()) usage("no command");
  try {
    b.device = dist::select_device(device, 0);
    if (b.device.is_cpu()) dist::configure_cpu_threads(1);
    b.root = (fs::temp_directory_path() / ("scorch-gpu-bench-" + std::to_string(::getpid()))).string();
    fs::create_directories(b.root);
    int rc = 0;
    const auto& cmd = args[0];
    if (cmd == "train" && args.size() >= 5) {
      b.config_path = args[1];
      rc = cmd_train(b, std::stoll(args[2]), std::stoll(args[3]), {args.begin() + 4, args.end()});
    } else if (cmd == "max-batch" && args.size() == 5) {
      b.config_path = args[1];
      rc = cmd_max_batch(b, args[2], std::stoll(args[3]), std::stoll(args[4]));
    } else if (cmd == "sample" && args.size() == 4) {
      b.config_path = args[1];
      rc = cmd_sample(b, std::stoll(args[2]), args[3], ckpt);
    } else if (cmd == "profile" && args.size() == 5) {
      b.config_path = args[1];
      rc = cmd_profile(b, std::stoll(args[2]), args[3], args[4]);
    } else if (cmd == "fid" && args.size() == 3) {
      rc = cmd_fid(b, std::stoll(args[1]), std::stoll(args[2]));
    } else {
      usage("bad arguments for '" + cmd + "'");
    }
    fs::remove_all(b.root);
    dist::finalize();
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpu_bench: %s\n", e.what());
    fs::remove_all(b.root);
    return 1;
  }
}
