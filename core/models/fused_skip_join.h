// The residual join of skip and block output with their convolutions' biases in one pass (model.fused_skip_join).
#pragma once
#include <torch/torch.h>

namespace scorch::models {

// skip_join(skip, h + bias[None, :, None, None], rescale) (layers.h) for skip and h (N, C, H, W) made by
// convolutions run without their biases, and bias (C,) the sum of those biases. Why: on CUDA LibTorch adds a
// convolution's bias in a pass of its own and the join takes two more (the sum, the division by √2); here it is one
// pass that reads skip and h and writes the output, on CUDA (fused_skip_join_kernels.cu) and in a loop on the CPU,
// in float32 (float64 for float64) and rounded once. The backward is the unfused join's: the gradient divided by √2
// (or not) for skip and h, its sum over (N, H, W) for the bias, in LibTorch ops, so a double backward works.
// skip and h of one floating dtype and one layout, both NCHW or both channels_last, take the fused path (on CUDA
// float32, bfloat16 and float16); any other pair takes LibTorch's ops, with the same result up to rounding.
torch::Tensor fused_skip_join(const torch::Tensor& skip, const torch::Tensor& h, const torch::Tensor& bias,
                              bool rescale);  // (N, C, H, W)

}  // namespace scorch::models
