// Single-head self-attention over all pixels (DDPM / NCSN++ AttnBlock).
#pragma once
#include <torch/torch.h>

#include "core/models/block.h"
#include "core/models/layers.h"
#include "core/switch.h"

namespace scorch::models {

struct AttnBlockOptions {
  explicit AttnBlockOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(bool, skip_rescale) = false;              // (x + h) / sqrt(2) instead of x + h
  TORCH_ARG(double, init_scale) = 0.0;                // of NIN_3, the output projection
  TORCH_ARG(int64_t, groups) = 0;                     // GroupNorm groups; 0: min(C/4, 32) (NCSN++), DDPM uses 32
  TORCH_ARG(bool, fused) = false;                     // at::scaled_dot_product_attention instead of bmm + softmax + bmm
  TORCH_ARG(Switch, fused_skip_join) = Switch::Off;   // model.fused_skip_join: NIN_3's bias and the join in one pass
  TORCH_ARG(Switch, fused_input_grad) = Switch::Off;  // model.fused_input_grad: the skip's gradient added by the norm
};

// Parameters GroupNorm_0, NIN_0 (q), NIN_1 (k), NIN_2 (v), NIN_3 (output).
class AttnBlockImpl : public TimedBlockImpl {
 public:
  explicit AttnBlockImpl(const AttnBlockOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb = {}) override;  // (B, C, H, W)
  AttnBlockOptions options;
  GroupNorm GroupNorm_0{nullptr};
  NIN NIN_0{nullptr}, NIN_1{nullptr}, NIN_2{nullptr}, NIN_3{nullptr};
};
TORCH_MODULE(AttnBlock);

}  // namespace scorch::models
