// The interface every indexed block of the U-Nets shares, so the networks can walk all_modules uniformly.
#pragma once
#include <torch/torch.h>

namespace scorch::models {

// A block that may use the time embedding (residual blocks) or ignore it (attention, resampling).
class TimedBlockImpl : public torch::nn::Module {
 public:
  // x (B, C, H, W), temb (B, T) or undefined when the network is not conditional.
  virtual torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb) = 0;
};

}  // namespace scorch::models
