// Residual blocks of the U-Nets: BigGAN-style (with optional ×2 resampling) and DDPM-style.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/models/block.h"
#include "core/models/layers.h"
#include "core/switch.h"

namespace scorch::models {

struct ResBlockOptions {
  ResBlockOptions(int64_t in, int64_t out = 0) : in_ch_(in), out_ch_(out > 0 ? out : in) {}
  TORCH_ARG(int64_t, in_ch);
  TORCH_ARG(int64_t, out_ch);
  TORCH_ARG(int64_t, temb_dim) = 0;  // 0: no Dense_0
  TORCH_ARG(double, dropout) = 0.1;
  TORCH_ARG(bool, skip_rescale) = false;
  TORCH_ARG(double, init_scale) = 0.0;  // of Conv_1
  TORCH_ARG(std::string, act) = "swish";
  TORCH_ARG(int64_t, groups) = 0;                     // GroupNorm groups; 0: min(C/4, 32)
  TORCH_ARG(Switch, fold_time_bias) = Switch::Off;    // model.fold_time_bias
  TORCH_ARG(Switch, fused_skip_join) = Switch::Off;   // model.fused_skip_join
  TORCH_ARG(Switch, fused_input_grad) = Switch::Off;  // model.fused_input_grad
  // BigGAN only:
  TORCH_ARG(bool, up) = false;
  TORCH_ARG(bool, down) = false;
  TORCH_ARG(bool, fir) = false;
  TORCH_ARG(std::vector<int64_t>, fir_kernel) = std::vector<int64_t>{1, 3, 3, 1};
  TORCH_ARG(Switch, fused_fir) = Switch::Off;  // model.fused_fir
};

// h = Conv_1(Dropout(act(GN_1(Conv_0(resample(act(GN_0(x)))) + Dense_0(act(temb)))))); skip = Conv_2(resample(x))
// (1×1) when channels change or it resamples. Parameters GroupNorm_0, Conv_0, Dense_0, GroupNorm_1, Conv_1, Conv_2.
// With fused_skip_join, Conv_1 and Conv_2 run without their biases and fused_skip_join.h adds them in the join.
class ResnetBlockBigGANImpl : public TimedBlockImpl {
 public:
  explicit ResnetBlockBigGANImpl(const ResBlockOptions& options);
  torch::Tensor forward(const torch::Tensor& x,
                        const torch::Tensor& temb) override;  // (B, in, H, W) -> (B, out, H', W')
  ResBlockOptions options;
  Activation act;
  GroupNorm GroupNorm_0{nullptr}, GroupNorm_1{nullptr};
  torch::nn::Conv2d Conv_0{nullptr}, Conv_1{nullptr}, Conv_2{nullptr};
  torch::nn::Linear Dense_0{nullptr};
  torch::nn::Dropout Dropout_0{nullptr};
};
TORCH_MODULE(ResnetBlockBigGAN);

// The same trunk without resampling; the skip is NIN_0 when channels change. Used by NCSN++ with
// resblock_type ddpm and (groups 32, no rescale, init 0) by the original DDPM U-Net.
class ResnetBlockDDPMImpl : public TimedBlockImpl {
 public:
  explicit ResnetBlockDDPMImpl(const ResBlockOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb) override;  // (B, in, H, W) -> (B, out, H, W)
  ResBlockOptions options;
  Activation act;
  GroupNorm GroupNorm_0{nullptr}, GroupNorm_1{nullptr};
  torch::nn::Conv2d Conv_0{nullptr}, Conv_1{nullptr};
  torch::nn::Linear Dense_0{nullptr};
  torch::nn::Dropout Dropout_0{nullptr};
  NIN NIN_0{nullptr};
};
TORCH_MODULE(ResnetBlockDDPM);

}  // namespace scorch::models
