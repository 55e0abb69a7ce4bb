// NCSN++ / DDPM++ (score_sde's "ncsnpp"): the U-Net with BigGAN or DDPM blocks and progressive paths.
#pragma once
#include <torch/torch.h>

#include "core/models/block.h"
#include "core/models/score_model.h"

namespace scorch::models {

// DDPM++ is this class with fir=false, progressive_input=none, embedding_type=positional.
// State: buffer `sigmas` (float64, VE noise levels) and `all_modules.<i>...` in the reference order.
class NCSNppImpl : public ScoreModelImpl {
 public:
  explicit NCSNppImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& time_cond) override;  // (B,C,H,W), (B,)

  ModelConfig config;
  torch::Tensor sigmas;
  torch::nn::ModuleList all_modules;

 private:
  std::shared_ptr<TimedBlockImpl> make_resblock(int64_t in, int64_t out, bool up = false, bool down = false) const;
  std::shared_ptr<TimedBlockImpl> make_attn(int64_t channels) const;
  bool has_attention(int64_t resolution) const;
  torch::Tensor block(size_t& m, const torch::Tensor& x, const torch::Tensor& temb);
  torch::Tensor block_cat(size_t& m, const torch::Tensor& h, const torch::Tensor& skip, const torch::Tensor& temb);
  torch::Tensor norm_conv(size_t& m, const torch::Tensor& h);
};

}  // namespace scorch::models
