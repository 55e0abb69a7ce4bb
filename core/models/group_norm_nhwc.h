// GroupNorm of a channels_last tensor that stays channels_last, forward and backward.
#pragma once
#include <torch/torch.h>

namespace scorch::models {

// torch::group_norm(x, groups, weight, bias, eps) for x (N, C, H, W) in channels_last, with the output and the
// input's gradient in channels_last too. LibTorch 2.11's CUDA GroupNorm has no NHWC kernel: it copies its
// input, the incoming gradient and (by the next layer) its output between the layouts, which was 43-53 % of
// the kernel time of a channels_last NCSN++ step on an H200 (docs/benchmarks.md). Here the statistics and the
// backward's two sums are one pass each over per-channel partial sums, and the normalisation and the input's
// gradient one elementwise pass each: the work of LibTorch's NCHW kernels, in the NHWC layout. On CUDA for
// float32, bfloat16 and float16 the passes are scorch's kernels (group_norm_nhwc_kernels.cu); otherwise (CPU,
// float64) the same arithmetic in ATen operations, which is how the tests check it without a GPU.
//
// Statistics accumulate in float32 (float64 for float64 input) from each channel's first element as a shift,
// and combine over a group's channels as mean of variances plus variance of means, so a large mean does not
// cancel the variance. The sums are added in a fixed order: the result is the same on every call.
// weight, bias: (C,) in float32 (or x's dtype); their gradients come in their dtype.
// Once differentiable: a backward under create_graph throws. N ≤ kMaxImages (a CUDA grid dimension).
torch::Tensor group_norm_nhwc(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                              const torch::Tensor& bias, double eps);  // (N, C, H, W) -> (N, C, H, W)

inline constexpr int64_t kMaxImages = 65535;

}  // namespace scorch::models
