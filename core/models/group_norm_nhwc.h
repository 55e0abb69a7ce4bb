// GroupNorm of a channels_last tensor that stays channels_last, forward and backward.
#pragma once
#include <torch/torch.h>

namespace scorch::models {

// torch::group_norm(x, groups, weight, bias, eps) for x (N, C, H, W) in channels_last, with the output and the
// input's gradient in channels_last too. LibTorch 2.11's CUDA GroupNorm has no NHWC kernel: it copies its
// input, the incoming gradient and (by the next layer) its output between the layouts, which was 43-53 % of
// the kernel time of a channels_last NCSN++ step on an H200 (docs/benchmarks.md). Here a forward is three
// kernels on CUDA (per-channel partial sums over chunks of rows, the per-group statistics, the normalisation)
// and a backward four (the two sums, the per-group gradient tables, the parameters' gradients, the input's
// gradient): the passes over the tensor of LibTorch's NCHW kernels, in the NHWC layout
// (group_norm_nhwc_kernels.cu). On the CPU, and for float64, the partial sums are ATen reductions and the
// per-group arithmetic runs the same functions in a loop (group_norm_nhwc_math.h), which is how the CPU tests
// check it.
//
// Statistics accumulate in float32 (float64 for float64 input) from each channel's first element as a shift,
// and combine over a group's channels as mean of variances plus variance of means, so a large mean does not
// cancel the variance. Every sum runs in a fixed order: the result is the same bits on every call.
// weight, bias: (C,) in float32 (or x's dtype); their gradients come in their dtype.
// Once differentiable: a backward under create_graph throws. N ≤ kMaxImages (a CUDA grid dimension).
//
// With `silu`, torch::silu of that, fused: the forward applies it as it writes the output, and the backward
// recomputes SiLU's input from x and two (N, C) tables as it reads the incoming gradient. That saves the
// activation's own passes (a read and a write forward, two reads and a write backward) and the tensor autograd
// would keep for SiLU's backward: every GroupNorm of NCSN++, DDPM++ and DDPM but the attention blocks' is one.
torch::Tensor group_norm_nhwc(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                              const torch::Tensor& bias, double eps,
                              bool silu = false);  // (N, C, H, W) -> (N, C, H, W)

inline constexpr int64_t kMaxImages = 65535;

// The dtypes the CUDA kernels take (the CPU path takes float64 too).
inline bool nhwc_kernel_dtype(at::ScalarType t) { return t == at::kFloat || t == at::kBFloat16 || t == at::kHalf; }

}  // namespace scorch::models
