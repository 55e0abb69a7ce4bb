// The files inside one checkpoint dir (model, EMA, optimizer tensors + meta.json) and loading a network
// from a checkpoint or an EMA-only export for inference. Shared by the trainer, sampler, eval and convert.
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/config.h"
#include "core/models/score_model.h"

namespace scorch::io {

inline constexpr const char* kModelFile = "model.safetensors";
inline constexpr const char* kEmaFile = "ema.safetensors";
inline constexpr const char* kOptimizerFile = "optimizer.safetensors";
inline constexpr const char* kCheckpointFormat = "scorch-checkpoint";
inline constexpr int kCheckpointVersion = 1;

// The tensors of a checkpoint, all on the CPU and keyed by reference state_dict names.
struct CheckpointTensors {
  std::map<std::string, torch::Tensor> model;  // every parameter and buffer (sigmas float64, Fourier W)
  std::map<std::string, torch::Tensor> ema;    // float32 averages of the trainable parameters only
  int64_t ema_num_updates = 0;
  double ema_rate = 0.999;
  // Adam state: "exp_avg.<name>", "exp_avg_sq.<name>" and, with amsgrad, "max_exp_avg_sq.<name>" (float32).
  std::map<std::string, torch::Tensor> optimizer;
  int64_t optimizer_step = 0;  // number of Adam updates taken (bias correction uses it)
};

// Writes model/ema/optimizer .safetensors into `dir` (typically CheckpointStore::save's temporary dir).
void write_checkpoint_tensors(const std::string& dir, const CheckpointTensors& tensors);
// Reads them back; a missing optimizer file is allowed when `need_optimizer` is false (inference).
CheckpointTensors read_checkpoint_tensors(const std::string& dir, bool need_optimizer = true);

// The meta.json every checkpoint carries: format, version, step, and the resolved config as YAML text.
nlohmann::json checkpoint_meta(const Config& config, int64_t step);
// The config a checkpoint or EMA export was trained with.
Config checkpoint_config(const nlohmann::json& meta, const std::string& source);

// What `path` names, resolved to one checkpoint dir: a step-N dir, the `latest` link, a checkpoints/ dir or a
// run dir (both: the newest complete checkpoint). Throws naming the path when none is found.
std::string resolve_checkpoint_dir(const std::string& path);

struct InferenceModel {
  Config config;
  std::shared_ptr<models::ScoreModelImpl> model;  // in eval mode, on the requested device
  int64_t step = 0;
  std::string weights;  // "ema" or "model"
  std::string source;   // the resolved checkpoint dir or export file
};

// `path`: anything resolve_checkpoint_dir accepts, or an EMA-only export (.safetensors with a scorch config
// in its metadata, written by write_ema_export). `weights`: "ema" (the averages over the model's trainable
// parameters, as score_sde evaluates) or "model" (the raw weights).
InferenceModel load_inference_model(const std::string& path, const std::string& weights, const torch::Device& device);

// SHA-256 of a network's parameters and buffers, each by name and as float32 in NCHW order on the CPU: the same
// weights give the same digest on any device and in either layout. A sample farm records it, since a checkpoint's
// path and step name other weights once the run is trained again in the same dir.
std::string weights_sha256(torch::nn::Module& model);

// An EMA-only inference file: the full state dict with the EMA averages in place of the trainable
// parameters, floating tensors cast to `dtype` (float64 buffers such as sigmas stay float64), and the config,
// step and dtype in the safetensors metadata under "scorch.config", "scorch.step", "scorch.dtype".
void write_ema_export(const std::string& path, const Config& config, int64_t step, const CheckpointTensors& tensors,
                      torch::ScalarType dtype);

}  // namespace scorch::io
