// FIR resampling (StyleGAN2-style upfirdn2d) and the convolution fused with FIR up/down-sampling.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "core/switch.h"

namespace scorch::models {

// The 2-D FIR kernel of a separable 1-D kernel: outer(k, k) / sum, times `gain`. (kh, kw) float32.
torch::Tensor fir_kernel_2d(const std::vector<int64_t>& k, double gain = 1.0);

// Upsample by zero insertion (`up`), zero-pad (pad0 before, pad1 after; negative crops) on both axes,
// convolve each channel with `kernel` (true convolution, i.e. flipped), keep every `down`-th sample.
torch::Tensor upfirdn2d(const torch::Tensor& x, const torch::Tensor& kernel, int64_t up, int64_t down, int64_t pad0,
                        int64_t pad1);  // (B, C, H, W) -> (B, C, H', W')

// With `fused` (model.fused_fir), through fused_upfirdn2d (fused_fir.h), scorch's kernel; else through zero
// insertion, padding and LibTorch's depthwise convolution.
torch::Tensor fir_upsample_2d(const torch::Tensor& x, const std::vector<int64_t>& k,
                              bool fused);  // (B, C, H, W) -> (B, C, 2H, 2W)
torch::Tensor fir_downsample_2d(const torch::Tensor& x, const std::vector<int64_t>& k,
                                bool fused);                // (B, C, H, W) -> (B, C, H/2, W/2)
torch::Tensor naive_upsample_2d(const torch::Tensor& x);    // nearest neighbour ×2
torch::Tensor naive_downsample_2d(const torch::Tensor& x);  // 2×2 mean

struct FirConv2dOptions {
  FirConv2dOptions(int64_t in, int64_t out) : in_ch_(in), out_ch_(out) {}
  TORCH_ARG(int64_t, in_ch);
  TORCH_ARG(int64_t, out_ch);
  TORCH_ARG(int64_t, kernel) = 3;
  TORCH_ARG(bool, up) = false;
  TORCH_ARG(bool, down) = false;
  TORCH_ARG(std::vector<int64_t>, resample_kernel) = std::vector<int64_t>{1, 3, 3, 1};
  TORCH_ARG(Switch, fused_fir) = Switch::Off;  // the FIR pass through scorch's kernel (fir_upsample_2d's `fused`)
};

// A k×k convolution whose input is FIR-upsampled ×2 first (up) or whose output is FIR-downsampled ×2 (down),
// done in one pass. Parameters `weight` (out, in, k, k) and `bias` (out,) as in the reference. Unlike the
// reference (whose up path fails on a negative-stride slice), up=true works and equals
// conv2d(fir_upsample_2d(x), weight, padding k/2) + bias.
class FirConv2dImpl : public torch::nn::Module {
 public:
  explicit FirConv2dImpl(const FirConv2dOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // (B, in, H, W) -> (B, out, H', W')
  FirConv2dOptions options;
  torch::Tensor weight, bias;
};
TORCH_MODULE(FirConv2d);

}  // namespace scorch::models
