// score_sde's noise-conditional Wide-ResNet classifier (models/wideresnet_noise_conditional.py, Flax), with its
// parameter names, for class-conditional sampling (Song et al. 2021, §5 and App. I).
#pragma once
#include <torch/torch.h>

#include "core/models/embeddings.h"
#include "core/models/layers.h"
#include "core/models/score_model.h"

namespace scorch::models {

struct WideResnetBlockOptions {
  WideResnetBlockOptions(int64_t in, int64_t out, int64_t stride) : in_(in), out_(out), stride_(stride) {}
  TORCH_ARG(int64_t, in);
  TORCH_ARG(int64_t, out);
  TORCH_ARG(int64_t, stride);
  TORCH_ARG(bool, activate_before_residual) = false;  // group 0, block 0: the shortcut takes the activated input
  TORCH_ARG(int64_t, temb_dim) = 512;
};

// init_bn (GroupNorm + ReLU), conv1 (3x3, stride, no bias) + Dense_0(swish(temb)), bn_2 (GroupNorm + ReLU),
// conv2 (3x3, no bias); the shortcut is average-pooled by the stride and zero-padded in channels when they
// grow (no projection). GroupNorm groups min(C/4, 32), eps 1e-5.
class WideResnetBlockImpl : public torch::nn::Module {
 public:
  explicit WideResnetBlockImpl(const WideResnetBlockOptions& o);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb);  // (B, C_in, H, W) -> (B, C_out, H', W')

 private:
  WideResnetBlockOptions o_;
  GroupNorm init_bn{nullptr}, bn_2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear Dense_0{nullptr};
};
TORCH_MODULE(WideResnetBlock);

// The whole classifier: forward(x, sigma) -> logits (B, model.num_classes), x in data space (B, C, H, W) and
// sigma the marginal std of the SDE at the sample's time, as the reference's logit function passes them.
// x is normalised per channel by model.input_mean / model.input_std (the reference's CIFAR-10 values), then
// standardised per image; temb = Dense_1(swish(Dense_0(GaussianFourierProjection(128, 16)(log sigma)))).
// Groups of model.blocks_per_group blocks at 16k, 32k, 64k channels (k = model.channel_multiplier), strides
// 1, 2, 2; then pre-pool-bn (GroupNorm + ReLU), the spatial mean and Dense_2. WRN-28-10 is blocks_per_group 4,
// channel_multiplier 10: 38,913,242 parameters for 3 channels and 10 classes.
class WideResnetNoiseConditionalImpl : public ScoreModelImpl {
 public:
  explicit WideResnetNoiseConditionalImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& sigma) override;  // -> (B, num_classes)

 private:
  ModelConfig config_;
  torch::Tensor input_mean_, input_std_;  // (1, C, 1, 1) buffers
  GaussianFourierProjection GaussianFourierProjection_0{nullptr};
  torch::nn::Linear Dense_0{nullptr}, Dense_1{nullptr}, Dense_2{nullptr};
  torch::nn::Conv2d init_conv{nullptr};
  std::vector<std::vector<WideResnetBlock>> groups_;
  GroupNorm pre_pool_bn{nullptr};
};

}  // namespace scorch::models
