// One output sample of FIR resampling (upfirdn2d), compiled for the GPU (a thread per sample,
// fused_fir_kernels.cu) and for the CPU (a loop, fused_fir.cpp): the CPU tests check the arithmetic the kernel runs.
#pragma once
#include <cstdint>

#include "core/models/kernel_types.h"

namespace scorch::models::fused_fir {

inline constexpr int kMaxTaps = 16;

// A separable FIR filter and the resampling around it, the same on both axes. The 2-D kernel is
// gain · taps ⊗ taps, with the taps already flipped (the kernel convolves, the loop correlates) and normalised
// to sum 1, as fir_kernel_2d's outer(k, k) / sum · gain.
struct Filter {
  float taps[kMaxTaps];
  int n;         // taps in use
  float gain;    // 4 for a ×2 upsampling, which keeps the mean over the inserted zeros
  int up, down;  // zero insertion before the filter, decimation after it
  int pad0;      // zeros before the first (upsampled) sample on each axis; negative crops
};

// The first tap i ≥ 0 that falls on an input sample rather than an inserted zero, when tap 0 falls at upsampled
// coordinate b: (b + i) divisible by up. Every up-th tap after it does too, and no other.
SCORCH_HOST_DEVICE inline int first_tap(int b, int up) { return ((-b % up) + up) % up; }

// Output sample (oy, ox) of one image's channel: Σ_i Σ_j gain·taps[i]·taps[j]·u(oy·down + i − pad0, ox·down + j −
// pad0), where u is the h × w input `at(iy, ix)` with up − 1 zeros after every sample on both axes (and zeros outside).
// Only the taps that meet input samples are visited, so neither the inserted zeros nor the padding cost a read.
// Coordinates are 32-bit (fused_fir.cpp bounds h·up and w·up), while `at` must form its offset into the input in 64
// bits: one plane may hold more than 2^31 samples. Acc is the accumulation type.
template <typename Acc, typename At>
SCORCH_HOST_DEVICE inline Acc output_sample(const Filter& f, int h, int w, int oy, int ox, At at) {
  const int by = oy * f.down - f.pad0, bx = ox * f.down - f.pad0;  // tap 0's upsampled coordinates
  const int i0 = first_tap(by, f.up), j0 = first_tap(bx, f.up);
  Acc sum = 0;
  for (int i = i0; i < f.n; i += f.up) {
    const int uy = by + i;
    if (uy < 0 || uy >= h * f.up) continue;
    Acc row = 0;
    for (int j = j0; j < f.n; j += f.up) {
      const int ux = bx + j;
      if (ux < 0 || ux >= w * f.up) continue;
      row += static_cast<Acc>(f.taps[j]) * static_cast<Acc>(at(uy / f.up, ux / f.up));
    }
    sum += static_cast<Acc>(f.taps[i]) * row;
  }
  return sum * static_cast<Acc>(f.gain);
}

}  // namespace scorch::models::fused_fir
