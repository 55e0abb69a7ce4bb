// gpu_bench's shared pieces (bench.h): rows, device synchronisation, variants, the synthetic data set.
#include "bench/gpu_bench/bench.h"

#include <cstdio>
#include <filesystem>

#include "core/dist/mpi_comm.h"
#include "core/error.h"
#include "data/synth.h"

#if SCORCH_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace scorch::gpu_bench {

namespace fs = std::filesystem;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void emit(nlohmann::json row, const torch::Device& device) {
  row["device"] = device.str();
  std::printf("%s\n", row.dump().c_str());
  std::fflush(stdout);
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

void release_cached_memory() {
#if SCORCH_WITH_CUDA
  if (torch::cuda::is_available()) {
    at::cuda::clearCublasWorkspaces();  // 32 MiB per stream a graph capture used; safe while no graph is alive
    c10::cuda::CUDACachingAllocator::emptyCache();
  }
#endif
}

void cap_device_memory(const torch::Device& device, double gb) {
#if SCORCH_WITH_CUDA
  if (!device.is_cuda()) return;
  const double total = static_cast<double>(at::cuda::getDeviceProperties(device.index())->totalGlobalMem);
  const double bytes = gb * 1e9;
  SCORCH_CHECK(bytes <= total, "a memory cap of {} GB exceeds {}'s {:.1f} GB", gb, device.str(), total / 1e9);
  c10::cuda::CUDACachingAllocator::setMemoryFraction(bytes / total, device.index());
#else
  (void)device, (void)gb;
#endif
}

std::vector<std::string> variant_sets(const std::string& variant) {
  std::vector<std::string> sets;
  const auto base = variant.substr(0, variant.find('+'));
  SCORCH_CHECK(
      base == "fp32" || base == "tf32" || base == "bf16" || base == "fp16",
      "variant '{}': expected fp32, tf32, bf16 or fp16 with optional +cl, +ckpt, +sync, +foreach, +bmm, +sdpa, "
      "+eager, +gn, +fir, +fold, +join, +igrad, +bench",
      variant);
  sets.push_back("training.precision=" + (base == "tf32" ? std::string("fp32") : base));
  sets.push_back(std::string("training.tf32=") + (base == "tf32" ? "true" : "false"));
  // The layout and kernel switches default to auto (on, on CUDA), model.fused_input_grad to off until measured; a
  // variant starts with them all off, so that each suffix below measures one switch, as the rows of earlier reports
  // did. "+cl+gn+fir+fold+join" is the defaults.
  for (const char* key : {"training.channels_last", "model.fused_group_norm", "model.fused_fir", "model.fold_time_bias",
                          "model.fused_skip_join", "model.fused_input_grad"})
    sets.push_back(std::string(key) + "=false");
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
    else if (flag == "fir")  // FIR resampling through scorch's kernel instead of LibTorch's depthwise convolution
      sets.push_back("model.fused_fir=true");
    else if (flag == "fold")  // Conv_0's bias and the time embedding added in one pass instead of two
      sets.push_back("model.fold_time_bias=true");
    else if (flag ==
             "join")  // the last convolutions' biases and the residual join in one pass instead of three or four
      sets.push_back("model.fused_skip_join=true");
    else if (flag == "igrad")  // GroupNorm_0's backward adds the skip's gradient instead of autograd's add
      sets.push_back("model.fused_input_grad=true");
    else if (flag == "bench")  // cuDNN times its algorithms per shape (first in its process: plans are cached)
      sets.push_back("training.cudnn_benchmark=true");
    else
      SCORCH_FAIL(
          "variant '{}': unknown suffix '+{}' (expected +cl, +ckpt, +sync, +foreach, +bmm, +sdpa, +eager, +gn, +fir, "
          "+fold, +join, +igrad or +bench)",
          variant, flag);
  }
  return sets;
}

std::string Bench::dataset(int64_t batch) const {
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

std::vector<std::string> run_sets(const Bench& b, const std::string& variant, int64_t batch) {
  auto sets = variant_sets(variant);
  for (const std::string& s : std::vector<std::string>{
           "training.batch_size=" + std::to_string(batch), "training.snapshot_freq=0",
           "training.snapshot_freq_for_preemption=0", "training.snapshot_sampling=false", "training.eval_freq=0",
           "training.tensorboard=false",  // its fsync at a log step is in the window
           "data.path=" + b.dataset(batch), "device=" + b.device.str()})
    sets.push_back(s);
  return sets;
}

}  // namespace scorch::gpu_bench
