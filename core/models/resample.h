// ×2 up/down-sampling blocks of the U-Nets: nearest / average or FIR, with or without a convolution.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "core/models/block.h"
#include "core/models/fir.h"

namespace scorch::models {

struct ResampleOptions {
  ResampleOptions(int64_t in, int64_t out = 0) : in_ch_(in), out_ch_(out > 0 ? out : in) {}
  TORCH_ARG(int64_t, in_ch);
  TORCH_ARG(int64_t, out_ch);
  TORCH_ARG(bool, with_conv) = false;
  TORCH_ARG(bool, fir) = false;
  TORCH_ARG(std::vector<int64_t>, fir_kernel) = std::vector<int64_t>{1, 3, 3, 1};
  TORCH_ARG(Switch, fused_fir) = Switch::Off;  // model.fused_fir
};

// Without FIR: nearest ×2 then `Conv_0` (3×3). With FIR: FIR upsampling, or `Conv2d_0` (fused FIR conv).
class UpsampleImpl : public TimedBlockImpl {
 public:
  explicit UpsampleImpl(const ResampleOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb = {}) override;  // -> (B, out, 2H, 2W)
  ResampleOptions options;
  torch::nn::Conv2d Conv_0{nullptr};
  FirConv2d Conv2d_0{nullptr};
};
TORCH_MODULE(Upsample);

// Without FIR: pad right/bottom by one then `Conv_0` (3×3, stride 2) — TF "SAME" — or 2×2 average.
// With FIR: FIR downsampling, or `Conv2d_0` (fused FIR conv).
class DownsampleImpl : public TimedBlockImpl {
 public:
  explicit DownsampleImpl(const ResampleOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb = {}) override;  // -> (B, out, H/2, W/2)
  ResampleOptions options;
  torch::nn::Conv2d Conv_0{nullptr};
  FirConv2d Conv2d_0{nullptr};
};
TORCH_MODULE(Downsample);

}  // namespace scorch::models
