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
//
// N, Up and Down, when not 0, are f.n, f.up and f.down known at compile time (with_shape): the tap loops then have
// a fixed trip count and unroll, and the divisions by `up` become shifts. On the H200 the run-time version ran at
// 160 GB/s, a thirtieth of the memory's bandwidth, bound by its integer divisions and loop control.
template <typename Acc, int N = 0, int Up = 0, int Down = 0, typename At>
SCORCH_HOST_DEVICE inline Acc output_sample(const Filter& f, int h, int w, int oy, int ox, At at) {
  const int n = N > 0 ? N : f.n, up = Up > 0 ? Up : f.up, down = Down > 0 ? Down : f.down;
  // Taps meeting input samples per axis: at most ceil(n / up), as every up-th tap from the first one does.
  constexpr int kSteps = N > 0 && Up > 0 ? (N + Up - 1) / Up : kMaxTaps;
  const int by = oy * down - f.pad0, bx = ox * down - f.pad0;  // tap 0's upsampled coordinates
  const int i0 = first_tap(by, up), j0 = first_tap(bx, up);
  const int uh = h * up, uw = w * up;
  Acc sum = 0;
  for (int a = 0; a < kSteps; ++a) {
    const int i = i0 + a * up;
    if (i >= n) break;
    const int uy = by + i;
    if (uy < 0 || uy >= uh) continue;
    Acc row = 0;
    for (int b = 0; b < kSteps; ++b) {
      const int j = j0 + b * up;
      if (j >= n) break;
      const int ux = bx + j;
      if (ux < 0 || ux >= uw) continue;
      row += static_cast<Acc>(f.taps[j]) * static_cast<Acc>(at(uy / up, ux / up));
    }
    sum += static_cast<Acc>(f.taps[i]) * row;
  }
  return sum * static_cast<Acc>(f.gain);
}

// A compile-time shape for output_sample; zeros: read from the Filter at run time.
template <int N, int Up, int Down>
struct Shape {
  static constexpr int n = N, up = Up, down = Down;
};

// Calls fn(Shape<...>{}) with f's shape as constants when it is one the networks use (score_sde's [1, 3, 3, 1]:
// ×2 upsampling, ×2 downsampling and the FIR convolutions' blur, forward and backward), else with Shape<0, 0, 0>.
// The kernel and the CPU loop both dispatch here, so the CPU tests run every instantiation the GPU runs.
template <typename Fn>
inline void with_shape(const Filter& f, Fn&& fn) {
  if (f.n == 4 && f.up == 2 && f.down == 1) return fn(Shape<4, 2, 1>{});
  if (f.n == 4 && f.up == 1 && f.down == 2) return fn(Shape<4, 1, 2>{});
  if (f.n == 4 && f.up == 1 && f.down == 1) return fn(Shape<4, 1, 1>{});
  return fn(Shape<0, 0, 0>{});
}

}  // namespace scorch::models::fused_fir
