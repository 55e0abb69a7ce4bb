// InstanceNorm++ (Song & Ermon 2019), the normalisation of NCSN and NCSNv2, unconditional and conditional.
#pragma once
#include <torch/torch.h>

namespace scorch::models {

// out = γ·(IN(x) + α·m̃) + β, where IN is instance normalisation (biased variance, eps 1e-5) and m̃ the
// per-channel means standardised across channels (unbiased variance, eps 1e-5): the channel means that IN
// removes come back through α, so colours survive normalisation.
// Unconditional (num_classes 0, NCSNv2): parameters alpha, gamma (N(1, 0.02)) and beta (0), each (C,).
// Conditional (num_classes K, NCSN): `embed`, an Embedding(K, 3C) whose row for level y holds γ, α, β in
// that order (γ, α initialised N(1, 0.02), β 0). `bias` false drops β (2C embedding columns).
class InstanceNormPlusImpl : public torch::nn::Module {
 public:
  InstanceNormPlusImpl(int64_t channels, int64_t num_classes, bool bias = true);
  // x (B, C, H, W); y (B,) level indices, read only when conditional.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& y);

 private:
  int64_t channels_;
  bool conditional_, bias_;
  torch::Tensor alpha_, gamma_, beta_;
  torch::nn::Embedding embed_{nullptr};
};
TORCH_MODULE(InstanceNormPlus);

}  // namespace scorch::models
