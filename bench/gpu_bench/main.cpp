// Device-kit benchmarks (bench/device/run): training step speed per precision variant, the largest batch
// that fits, sampler speed (eager, CUDA graph, bf16, ODE) and FID feature extraction. Each validates its
// result before it times it and prints one JSON object per row on stdout. Runs on the CPU too (dry runs).
//
//   gpu_bench train CONFIG BATCH STEPS VARIANT... [--set key=value]...
//   gpu_bench max-batch CONFIG VARIANT START LIMIT [CAP_GB] [--set key=value]...  (CAP_GB: the allocator's cap)
//   gpu_bench sample CONFIG BATCH NUM_SCALES [--ckpt CHECKPOINT] [--set key=value]...
//   gpu_bench fid IMAGES BATCH
//   gpu_bench profile CONFIG BATCH VARIANT TRACE.json   (a Kineto trace of 2 training steps after 5 warm ones)
//   gpu_bench profile-sample CONFIG BATCH NUM_SCALES ROW TRACE.json   (one batch of a sample row after a warm one)
// VARIANT: see variant_sets (bench.h). One command per file beside this one.
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "bench/gpu_bench/bench.h"
#include "core/dist/device.h"
#include "core/dist/process.h"
#include "core/host_memory.h"
#include "core/log.h"

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(
      stderr,
      "gpu_bench: %s\nusage: gpu_bench train CONFIG BATCH STEPS VARIANT... | max-batch CONFIG VARIANT START "
      "LIMIT [CAP_GB] | sample CONFIG BATCH NUM_SCALES [--ckpt DIR] | fid IMAGES BATCH | profile CONFIG BATCH VARIANT "
      "TRACE | profile-sample CONFIG BATCH NUM_SCALES ROW TRACE; options --set key=value, "
      "--device D\n",
      why.c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace scorch;
  using namespace scorch::gpu_bench;
  namespace fs = std::filesystem;
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
    } else if (cmd == "max-batch" && (args.size() == 5 || args.size() == 6)) {
      b.config_path = args[1];
      rc = cmd_max_batch(b, args[2], std::stoll(args[3]), std::stoll(args[4]),
                         args.size() == 6 ? std::stod(args[5]) : 0);
    } else if (cmd == "sample" && args.size() == 4) {
      b.config_path = args[1];
      rc = cmd_sample(b, std::stoll(args[2]), args[3], ckpt);
    } else if (cmd == "profile" && args.size() == 5) {
      b.config_path = args[1];
      rc = cmd_profile(b, std::stoll(args[2]), args[3], args[4]);
    } else if (cmd == "profile-sample" && args.size() == 6) {
      b.config_path = args[1];
      rc = cmd_profile_sample(b, std::stoll(args[2]), args[3], args[4], args[5]);
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
