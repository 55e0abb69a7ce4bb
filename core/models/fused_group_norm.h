// GroupNorm (+ SiLU) through scorch's own kernels, in the input's layout, forward and backward.
#pragma once
#include <torch/torch.h>

namespace scorch::models {

// torch::group_norm(x, groups, weight, bias, eps) for x (N, C, H, W), channels_last or NCHW, with the output and
// the input's gradient in x's layout. Why not LibTorch's: its CUDA GroupNorm (2.11) has no NHWC kernel, so on a
// channels_last tensor it copies the input, the incoming gradient and (by the next layer) the output between the
// layouts (LibTorch's copy kernel alone took 24-37 % of the kernel time of a channels_last NCSN++ step on an H200,
// docs/benchmarks.md); and in
// NCHW its backward's weight and bias gradient kernel (GammaBetaBackward) alone took 8 % of a bf16 step's kernel
// time at 32², with the SiLU after every GroupNorm another pass each way. Here a forward is three kernels on
// CUDA (per-channel partial sums over chunks of pixels, the per-group statistics, the normalisation) and a
// backward four (the two sums, the per-group gradient tables, the parameters' gradients, the input's gradient),
// in either layout (fused_group_norm_sums_kernels.cu, fused_group_norm_kernels.cu). On the CPU, and for float64, the
// partial sums are ATen reductions and the per-group arithmetic runs the same functions in a loop
// (fused_group_norm_math.h), which is how the CPU tests check it.
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
//
// With `pre` (N, C), of x + pre[:, :, None, None] (model.fold_time_bias: a residual block's Conv_0 bias and time
// embedding): the shift enters only the per-group arithmetic, so x + pre is never written, and its gradient (N, C)
// comes from the backward's tables, not from a pass of its own.
torch::Tensor fused_group_norm(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                               const torch::Tensor& bias, double eps, bool silu = false,
                               const torch::Tensor& pre = {});  // (N, C, H, W) -> (N, C, H, W), same layout

// fused_group_norm(x, ...) as y, and x again as `input`: a view of x that autograd routes through this layer, so
// that the gradient `input`'s uses send back arrives in this backward, which adds it into x's gradient as it writes
// its own (model.fused_input_grad). Why: a residual block's input feeds GroupNorm_0 and the skip path (itself, or
// Conv_2/NIN_0, or the FIR resampling); autograd adds their two gradients in a pass of its own, which reads both and
// writes the sum (LibTorch's vectorized add, 3 % of the kernel time of a channels_last 256² NCSN++ step on an H200,
// 2026-12-04), where this backward reads one more tensor in the pass it makes anyway. Its sum is rounded once.
struct NormAndInput {
  torch::Tensor y, input;  // (N, C, H, W) each
};
NormAndInput fused_group_norm_passing_input(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                                            const torch::Tensor& bias, double eps, bool silu = false);

inline constexpr int64_t kMaxImages = 65535;

// at::sum(x, {0, 2, 3}, false, dtype) for x (N, C, H, W): a bias's gradient. On CUDA, for x contiguous in either
// layout and not to be differentiated (x without requires_grad, or no grad mode: a backward without create_graph),
// through the GroupNorm's per-channel partial sums kernel (float32 sums over chunks of pixels, in a fixed order),
// then a sum of the (N, chunks, C) partials. Why: LibTorch's
// reduction over (N, H, W) of a channels_last tensor (reduce_kernel<128, 4>) was 5 % of the kernel time of a
// channels_last 256² NCSN++ step on the H200 (2026-12-04), far below the memory's bandwidth. Elsewhere at::sum.
torch::Tensor channel_sum(const torch::Tensor& x, at::ScalarType dtype);  // (N, C, H, W) -> (C,)

}  // namespace scorch::models
