// FIR resampling (upfirdn2d) through scorch's own kernel, in the input's layout, differentiable to any order.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace scorch::models {

// upfirdn2d(x, fir_kernel_2d(k, gain), up, down, pad0, pad1) (fir.h) for x (N, C, H, W), NCHW or channels_last,
// with the output in x's layout. Why not LibTorch's zero insertion, padding and depthwise convolution: on CUDA that
// is up to three passes and a copy, and the depthwise kernels are slow (LibTorch 2.11's conv_depthwise2d backward
// took 3.4 % of the kernel time of a bf16 NCSN++ step at 32² on an H200 for 16 calls, 0.3 ms each for 33 MB;
// forward and backward together 7 % at 256², docs/benchmarks.md). Here each output sample is one thread that reads
// only the input samples its taps meet (fused_fir_math.h), skipping the inserted zeros and the padding: one pass
// over the input and one over the output, on CUDA (fused_fir_kernels.cu) and in a loop on the CPU.
//
// The backward is the adjoint, upfirdn2d again (up and down swapped, the taps reversed, the padding mirrored),
// through this same function: a double backward (sliced score matching) differentiates it once more.
// Under autocast (a CUDA or CPU autocast scope), x is cast to the autocast dtype first, as LibTorch casts a
// convolution's input. Accumulation is in float32 (float64 for float64 input). CUDA takes float32, bfloat16 and
// float16; the CPU those and float64. k: 1 to 16 taps, gain > 0, up and down ≥ 1.
torch::Tensor fused_upfirdn2d(const torch::Tensor& x, const std::vector<int64_t>& k, double gain, int64_t up,
                              int64_t down, int64_t pad0, int64_t pad1);  // (N, C, H, W) -> (N, C, H', W')

}  // namespace scorch::models
