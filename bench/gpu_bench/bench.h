// What gpu_bench's commands share: the bench's arguments (config, overrides, device, scratch folder), the
// variant names (fp32, bf16+cl+gn, ...) as config keys, and the rows printed on stdout.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"

namespace scorch::models {
class ScoreModelImpl;
}

namespace scorch::gpu_bench {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t);

// One result row on stdout, tagged with the device the bench ran on.
void emit(nlohmann::json row, const torch::Device& device);

void synchronize(const torch::Device& device);
// Returns the CUDA allocator's unused blocks and cuBLAS's workspaces to the device; only while no CUDA graph is
// alive (a graph may use the workspaces).
void release_cached_memory();
// The CUDA allocator's cap for the rest of the process, in GB (10^9 bytes); the CPU has none (a no-op).
void cap_device_memory(const torch::Device& device, double gb);

// VARIANT: fp32 (TF32 off) | tf32 (training.tf32: TF32 convolutions and matmuls) | bf16 | fp16, with
// suffixes +cl (training.channels_last), +ckpt (model.grad_checkpointing), +gn (model.fused_group_norm), +fir
// (model.fused_fir), +fold (model.fold_time_bias) and those that turn a speed switch off or on, e.g. bf16+cl+ckpt: the
// config assignments it stands for.
std::vector<std::string> variant_sets(const std::string& variant);

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
  std::string dataset(int64_t batch) const;
};

// The variant's keys and what every bench run sets: the batch, no snapshots or evaluation, synthetic data.
std::vector<std::string> run_sets(const Bench& b, const std::string& variant, int64_t batch);

// gpu_bench sample's rows: a name (pc_bf16_graph, ...) and the sampling keys it sets.
struct SampleRow {
  std::string name;
  std::vector<std::string> sets;
};
const std::vector<SampleRow>& sample_rows();
// The sample rows' common config: the bench's, with NUM_SCALES noise levels on the bench's device.
Config sample_base(const Bench& b, const std::string& num_scales);
// The network the sample rows run: the checkpoint's EMA weights, or fresh ones (seed 0) for `base`.
std::shared_ptr<models::ScoreModelImpl> sample_model(const Bench& b, const Config& base, const std::string& ckpt);
// `row` on top of `base`, with the sampling runtime (TF32) set as scorch sample sets it and the network placed for
// it (sampling.channels_last).
Config sample_row_config(const Bench& b, const Config& base, const SampleRow& row, models::ScoreModelImpl& model);

// A Kineto trace (CPU ops, and CUDA kernels on a GPU) from start() to stop(), written as chrome JSON.
class TraceWindow {
 public:
  explicit TraceWindow(const torch::Device& device);
  void start();
  void stop(const std::string& path);

 private:
  torch::Device device_;
};

// The commands (main.cpp parses their arguments); each returns the process's exit status.
int cmd_train(Bench& b, int64_t batch, int64_t steps, const std::vector<std::string>& variants);
// cap_gb > 0: LibTorch's CUDA allocator may hold no more than that many GB (10^9 bytes; e.g. 80 on a 141 GB
// card), so the largest batch is measured for that memory rather than projected to it.
int cmd_max_batch(Bench& b, const std::string& variant, int64_t start, int64_t limit, double cap_gb);
int cmd_sample(Bench& b, int64_t batch, const std::string& num_scales, const std::string& ckpt);
int cmd_fid(Bench& b, int64_t n, int64_t batch);
int cmd_profile(Bench& b, int64_t batch, const std::string& variant, const std::string& trace);
// A trace of one batch of sample_rows()'s `row` after an untimed one (cuDNN's choice, the graphs' capture).
int cmd_profile_sample(Bench& b, int64_t batch, const std::string& num_scales, const std::string& row,
                       const std::string& trace);

}  // namespace scorch::gpu_bench
