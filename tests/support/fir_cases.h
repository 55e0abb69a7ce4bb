// The FIR resamplings the fused FIR tests check (tests/core on the CPU, tests/cuda on a GPU), and the reference
// and fused calls of one.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "core/models/fir.h"
#include "core/models/fused_fir.h"

namespace scorch::test {

struct FirCase {
  const char* what;
  std::vector<int64_t> k;
  double gain;
  int64_t up, down, pad0, pad1;
};

// fir.cpp's calls with p = taps - 2: fir_upsample_2d (gain 4, up 2, pads ⌊(p+1)/2⌋+1, ⌊p/2⌋), fir_downsample_2d
// (down 2, pads ⌊(p+1)/2⌋, ⌊p/2⌋), and the blurs of FirConv2d around its 3×3 convolution (p ∓ 2); a one-tap kernel
// crops (a negative pad1). Taps summing to a power of two, so that the normalised weights are exact in float32
// (the kernel's) as in fir_kernel_2d's float32 tensor, and float64 results can agree to rounding.
inline const std::vector<FirCase>& fir_cases() {
  static const std::vector<FirCase> cases = {
      {"upsample [1,3,3,1]", {1, 3, 3, 1}, 4.0, 2, 1, 2, 1},
      {"downsample [1,3,3,1]", {1, 3, 3, 1}, 1.0, 1, 2, 1, 1},
      {"up-conv blur [1,3,3,1]", {1, 3, 3, 1}, 4.0, 1, 1, 1, 1},
      {"down-conv blur [1,3,3,1]", {1, 3, 3, 1}, 1.0, 1, 1, 2, 2},
      {"upsample [1,1]", {1, 1}, 4.0, 2, 1, 1, 0},
      {"downsample [1,2,1]", {1, 2, 1}, 1.0, 1, 2, 1, 0},
      {"upsample [1] (crops)", {1}, 4.0, 2, 1, 1, -1},
      {"asymmetric taps, up 3, down 2", {1, 4, 3}, 2.0, 3, 2, 2, 1},
  };
  return cases;
}

// Zero insertion, padding and LibTorch's depthwise convolution (fir.h's upfirdn2d).
inline torch::Tensor reference_fir(const torch::Tensor& x, const FirCase& c) {
  return models::upfirdn2d(x, models::fir_kernel_2d(c.k, c.gain), c.up, c.down, c.pad0, c.pad1);
}
inline torch::Tensor fused_fir(const torch::Tensor& x, const FirCase& c) {
  return models::fused_upfirdn2d(x, c.k, c.gain, c.up, c.down, c.pad0, c.pad1);
}

}  // namespace scorch::test
