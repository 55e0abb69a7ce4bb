// InstanceNorm++ with the reference's parameter names, initialisation and statistics.
#include "core/models/instance_norm_plus.h"

namespace scorch::models {

InstanceNormPlusImpl::InstanceNormPlusImpl(int64_t channels, int64_t num_classes, bool bias)
    : channels_(channels), conditional_(num_classes > 0), bias_(bias) {
  if (conditional_) {
    const int64_t parts = bias ? 3 : 2;
    embed_ = register_module("embed", torch::nn::Embedding(num_classes, parts * channels));
    torch::NoGradGuard no_grad;
    embed_->weight.slice(1, 0, 2 * channels).normal_(1.0, 0.02);
    if (bias) embed_->weight.slice(1, 2 * channels).zero_();
    return;
  }
  alpha_ = register_parameter("alpha", torch::empty({channels}).normal_(1.0, 0.02));
  gamma_ = register_parameter("gamma", torch::empty({channels}).normal_(1.0, 0.02));
  if (bias) beta_ = register_parameter("beta", torch::zeros({channels}));
}

torch::Tensor InstanceNormPlusImpl::forward(const torch::Tensor& x, const torch::Tensor& y) {
  const auto means = x.mean({2, 3});                                                            // (B, C)
  const auto m = means.mean(-1, /*keepdim=*/true);                                              // (B, 1)
  const auto v = means.var(-1, /*unbiased=*/true, /*keepdim=*/true);                            // (B, 1)
  const auto standardised = ((means - m) / torch::sqrt(v + 1e-5)).unsqueeze(-1).unsqueeze(-1);  // (B, C, 1, 1)
  const auto h = torch::instance_norm(x, {}, {}, {}, {}, /*use_input_stats=*/true, 0.0, 1e-5, false);
  torch::Tensor gamma, alpha, beta;  // each (B or 1, C, 1, 1)
  if (conditional_) {
    const auto parts = embed_->forward(y).chunk(bias_ ? 3 : 2, -1);
    gamma = parts[0].view({-1, channels_, 1, 1});
    alpha = parts[1].view({-1, channels_, 1, 1});
    if (bias_) beta = parts[2].view({-1, channels_, 1, 1});
  } else {
    gamma = gamma_.view({1, channels_, 1, 1});
    alpha = alpha_.view({1, channels_, 1, 1});
    if (bias_) beta = beta_.view({1, channels_, 1, 1});
  }
  auto out = gamma * (h + standardised * alpha);
  return bias_ ? out + beta : out;
}

}  // namespace scorch::models
