// One output sample of FIR resampling (upfirdn2d), or K neighbouring channels of one, compiled for the GPU (a
// thread each, fused_fir_kernels.cu) and for the CPU (a loop, fused_fir.cpp): the CPU tests check the kernel's
// arithmetic.
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

// K accumulators, one per channel of a group of neighbouring channels: on channels_last data a thread reads a
// pixel's K channels in one 16-byte load and computes the pixel's coordinates and taps once for all K, where a
// thread per sample repeats them for every channel (the H200 ran that at a twentieth of its bandwidth).
template <typename Acc, int K>
struct Lanes {
  Acc v[K];
  SCORCH_HOST_DEVICE Lanes& operator+=(const Lanes& o) {
    for (int k = 0; k < K; ++k) v[k] += o.v[k];
    return *this;
  }
  SCORCH_HOST_DEVICE Lanes operator*(Acc s) const {
    Lanes r;
    for (int k = 0; k < K; ++k) r.v[k] = v[k] * s;
    return r;
  }
};

// Whether output_sample may accumulate values of type V in Acc: V is Acc or K lanes of it, never the narrower
// element type, which would round every partial sum.
template <typename Acc, typename V>
inline constexpr bool kAccumulates = false;
template <typename Acc>
inline constexpr bool kAccumulates<Acc, Acc> = true;
template <typename Acc, int K>
inline constexpr bool kAccumulates<Acc, Lanes<Acc, K>> = true;

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
//
// `at` returns Acc, or Lanes<Acc, K> for K neighbouring channels of one pixel (channel_group_sample).
template <typename Acc, int N = 0, int Up = 0, int Down = 0, typename At>
SCORCH_HOST_DEVICE inline auto output_sample(const Filter& f, int h, int w, int oy, int ox, At at) {
  using Value = decltype(at(0, 0));
  static_assert(kAccumulates<Acc, Value>, "output_sample: `at` must return Acc or Lanes<Acc, K>");
  const int n = N > 0 ? N : f.n, up = Up > 0 ? Up : f.up, down = Down > 0 ? Down : f.down;
  // Taps meeting input samples per axis: at most ceil(n / up), as every up-th tap from the first one does.
  constexpr int kSteps = N > 0 && Up > 0 ? (N + Up - 1) / Up : kMaxTaps;
  const int by = oy * down - f.pad0, bx = ox * down - f.pad0;  // tap 0's upsampled coordinates
  const int i0 = first_tap(by, up), j0 = first_tap(bx, up);
  const int uh = h * up, uw = w * up;
  Value sum{};
  for (int a = 0; a < kSteps; ++a) {
    const int i = i0 + a * up;
    if (i >= n) break;
    const int uy = by + i;
    if (uy < 0 || uy >= uh) continue;
    Value row{};
    for (int b = 0; b < kSteps; ++b) {
      const int j = j0 + b * up;
      if (j >= n) break;
      const int ux = bx + j;
      if (ux < 0 || ux >= uw) continue;
      row += at(uy / up, ux / up) * static_cast<Acc>(f.taps[j]);
    }
    sum += row * static_cast<Acc>(f.taps[i]);
  }
  return sum * static_cast<Acc>(f.gain);
}

// Channel group g of output pixel (img, oy, ox) of a channels_last output in groups of K channels, from the group's
// flat index i over (img, oy, ox, g), g fastest: the group's output starts at element i·K. load(offset) returns the
// K input channels from element offset on as Lanes<Acc, K>. Index as in the kernel (fused_fir_kernels.cu); the
// CPU loop (fused_fir.cpp) walks the same flat indices through here.
template <typename Acc, int K, int N, int Up, int Down, typename Index, typename Load>
SCORCH_HOST_DEVICE inline Lanes<Acc, K> channel_group_sample(const Filter& f, Index groups, int h, int w, int oh,
                                                             int ow, Index i, Load load) {
  Index rest = i;
  const Index g = rest % groups;
  rest /= groups;
  const int ox = static_cast<int>(rest % ow);
  rest /= ow;
  const int oy = static_cast<int>(rest % oh);
  rest /= oh;
  const int64_t c = static_cast<int64_t>(groups) * K;
  const int64_t first = static_cast<int64_t>(rest) * h * w * c + static_cast<int64_t>(g) * K;  // (img, 0, 0, g·K)
  return output_sample<Acc, N, Up, Down>(
      f, h, w, oy, ox, [&](int iy, int ix) { return load(first + (static_cast<int64_t>(iy) * w + ix) * c); });
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
