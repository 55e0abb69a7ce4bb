// A diffusers ScoreSdeVePipeline folder (unet/, scheduler/, model_index.json) written from a scorch checkpoint,
// so that `ScoreSdeVePipeline.from_pretrained(DIR)` loads and samples an NCSN++ VE network.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "core/config.h"

namespace scorch::io {

// ScoreSdeVeScheduler's scheduler_config.json: σ range and number of noise levels from model.*, the corrector's
// snr and steps per level and the last time from sampling.*.
nlohmann::json diffusers_scheduler_config(const Config& config);

struct DiffusersExport {
  std::string source;   // the resolved checkpoint dir or export file
  std::string weights;  // "ema" or "model"
  int64_t step = 0;
  size_t tensors = 0;  // in unet/diffusion_pytorch_model.safetensors
};

// Loads `ckpt` (a checkpoint dir, run dir, checkpoints/latest or `export-ema` file) with `weights` ("ema" or
// "model"), refuses a network UNet2DModel cannot express (naming the config key), and writes
// <out>/unet/config.json, <out>/unet/diffusion_pytorch_model.safetensors (float32),
// <out>/scheduler/scheduler_config.json and <out>/model_index.json, each atomically, model_index.json last.
DiffusersExport export_diffusers_pipeline(const std::string& ckpt, const std::string& weights, const std::string& out);

}  // namespace scorch::io
