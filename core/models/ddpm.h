// The original DDPM U-Net (Ho et al. 2020; score_sde's "ddpm").
#pragma once
#include <torch/torch.h>

#include "core/models/block.h"
#include "core/models/score_model.h"

namespace scorch::models {

// 32-group GroupNorm everywhere, ResnetBlockDDPM without skip rescaling, sinusoidal time embedding always.
// State: buffer `sigmas` (float64) and `all_modules.<i>...` in the reference order.
class DDPMImpl : public ScoreModelImpl {
 public:
  explicit DDPMImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& labels) override;  // (B,C,H,W), (B,)

  ModelConfig config;
  torch::Tensor sigmas;
  torch::nn::ModuleList all_modules;

 private:
  bool has_attention(int64_t resolution) const;
  torch::Tensor block(size_t& m, const torch::Tensor& x, const torch::Tensor& temb);
  torch::Tensor block_cat(size_t& m, const torch::Tensor& h, const torch::Tensor& skip, const torch::Tensor& temb);
};

}  // namespace scorch::models
