// GroupNorm's per-group arithmetic on per-channel partial sums, compiled for the GPU (one thread per image and
// group, fused_group_norm_kernels.cu) and for the CPU (a loop, fused_group_norm.cpp): the CPU tests check the
// arithmetic the kernels run. Tables are row-major; (N, chunks, C) partial sums, (N, C) and (N, G) results.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/models/kernel_types.h"

// "norm" in the namespace puts the kernels' names in bench/device/trace_summary.py's normalisation group.
namespace scorch::models::fused_norm {

struct Dims {
  int64_t n, c, groups, hw, chunks;  // images, channels, groups, rows (H·W) per image, chunks of the sums
};

template <typename T>
SCORCH_HOST_DEVICE inline T inverse_sqrt(T v) {
#ifdef __CUDA_ARCH__
  return rsqrt(v);
#else
  return T(1) / std::sqrt(v);
#endif
}

// Σ over the chunks, in chunk order, of a partial-sum table at (img, ch).
template <typename T>
SCORCH_HOST_DEVICE inline T chunk_total(const T* part, const Dims& d, int64_t img, int64_t ch) {
  T s = 0;
  for (int64_t k = 0; k < d.chunks; ++k) s += part[(img * d.chunks + k) * d.c + ch];
  return s;
}

// An optional shift added to each image's channel before the normalisation, GroupNorm(x + pre) with pre (N, C)
// (a block's convolution bias and time embedding, model.fold_time_bias): the passes over x stay as they are, and
// the per-group arithmetic takes the shift into the statistics and the (N, C) tables. Null pointers: no shift.
template <typename T>
struct PreShift {
  const T* pre = nullptr;          // (N, C)
  T* sum_x = nullptr;              // forward: each channel's Σ (x - s) into (N, C), for the backward
  const T* saved_sum_x = nullptr;  // backward: that table
  T* dpre = nullptr;               // backward: dL/dpre into (N, C)
};

// Forward, image `img`, group `g`, from sum1 = Σ (x - s) and sum2 = Σ (x - s)² per chunk and channel, s = shift
// (each channel's first element, (N, C)): the group's mean and 1/sqrt(var + eps) into mean, rstd (N, G), and
// each channel's scale = rstd·w and offset = b + (pre - mean)·scale into (N, C), so that x·scale + offset
// normalises x + pre. The group's variance is the mean of its channels' variances plus the variance of their
// means, so no large sum cancels.
template <typename T>
SCORCH_HOST_DEVICE inline void group_statistics(const Dims& d, int64_t img, int64_t g, const T* sum1, const T* sum2,
                                                const T* shift, const T* weight, const T* bias, T eps, T* mean, T* rstd,
                                                T* scale, T* offset, const PreShift<T>& pre = {}) {
  const int64_t per_group = d.c / d.groups, c0 = g * per_group, row = img * d.c;
  const T hw = static_cast<T>(d.hw);
  const auto pre_at = [&](int64_t ch) { return pre.pre != nullptr ? pre.pre[row + ch] : T(0); };
  T mean_sum = 0, var_sum = 0;
  for (int64_t ch = c0; ch < c0 + per_group; ++ch) {
    const T total = chunk_total(sum1, d, img, ch);
    if (pre.sum_x != nullptr) pre.sum_x[row + ch] = total;
    const T shifted_mean = total / hw;
    const T var = chunk_total(sum2, d, img, ch) / hw - shifted_mean * shifted_mean;
    mean_sum += shift[row + ch] + pre_at(ch) + shifted_mean;
    var_sum += var > 0 ? var : T(0);
  }
  const T group_mean = mean_sum / per_group;
  T spread = 0;
  for (int64_t ch = c0; ch < c0 + per_group; ++ch) {
    const T off = shift[row + ch] + pre_at(ch) + chunk_total(sum1, d, img, ch) / hw - group_mean;
    spread += off * off;
  }
  const T r = inverse_sqrt((var_sum + spread) / per_group + eps);
  mean[img * d.groups + g] = group_mean;
  rstd[img * d.groups + g] = r;
  for (int64_t ch = c0; ch < c0 + per_group; ++ch) {
    scale[row + ch] = r * weight[ch];
    offset[row + ch] = bias[ch] + (pre_at(ch) - group_mean) * scale[row + ch];
  }
}

// Backward, image `img`, group `g`, from sum_dy = Σ dy and sum_dy_xs = Σ dy·(x - s) per chunk and channel: each
// channel's Σ dy and Σ dy·(x + pre - mean) into dy_total, dy_xc (N, C), for the parameters' gradients, and the
// input gradient's tables, dx = dy·scale_dy + x·scale_x + offset. With x̂ = (x + pre - mean)·rstd and the
// group's means m1 = mean of w·dy, m2 = mean of w·dy·x̂: dx = rstd·(w·dy - m1 - x̂·m2). With a shift,
// dpre = Σ over the pixels of dx = rstd·w·Σ dy - m2·rstd·Σ x̂ - pixels·rstd·m1.
template <typename T>
SCORCH_HOST_DEVICE inline void group_input_gradient(const Dims& d, int64_t img, int64_t g, const T* sum_dy,
                                                    const T* sum_dy_xs, const T* shift, const T* weight, const T* mean,
                                                    const T* rstd, T* dy_total, T* dy_xc, T* scale_dy, T* scale_x,
                                                    T* offset, const PreShift<T>& pre = {}) {
  const int64_t per_group = d.c / d.groups, c0 = g * per_group, row = img * d.c;
  const T mu = mean[img * d.groups + g], r = rstd[img * d.groups + g];
  const auto pre_at = [&](int64_t ch) { return pre.pre != nullptr ? pre.pre[row + ch] : T(0); };
  T m1 = 0, m2 = 0;
  for (int64_t ch = c0; ch < c0 + per_group; ++ch) {
    const T s_dy = chunk_total(sum_dy, d, img, ch);
    const T s_dy_xc = chunk_total(sum_dy_xs, d, img, ch) + (shift[row + ch] + pre_at(ch) - mu) * s_dy;
    dy_total[row + ch] = s_dy;
    dy_xc[row + ch] = s_dy_xc;
    m1 += weight[ch] * s_dy;
    m2 += weight[ch] * r * s_dy_xc;
  }
  const T count = static_cast<T>(d.hw * per_group), hw = static_cast<T>(d.hw);
  m1 /= count;
  m2 /= count;
  const T sx = -r * r * m2;
  for (int64_t ch = c0; ch < c0 + per_group; ++ch) {
    scale_dy[row + ch] = r * weight[ch];
    scale_x[row + ch] = sx;
    offset[row + ch] = -r * m1 + (pre_at(ch) - mu) * sx;
    if (pre.dpre != nullptr) {
      // Σ (x + pre - mean) over the channel's pixels, from the forward's Σ (x - s).
      const T centred = pre.saved_sum_x[row + ch] + hw * (shift[row + ch] + pre_at(ch) - mu);
      pre.dpre[row + ch] = r * weight[ch] * dy_total[row + ch] + sx * centred - hw * r * m1;
    }
  }
}

// Channel `ch`'s parameter gradients, summed over the images in order: dweight = Σ rstd·Σ dy·(x - mean),
// dbias = Σ dy.
template <typename T>
SCORCH_HOST_DEVICE inline void parameter_gradients(const Dims& d, int64_t ch, const T* dy_total, const T* dy_xc,
                                                   const T* rstd, T* dweight, T* dbias) {
  const int64_t g = ch / (d.c / d.groups);
  T dw = 0, db = 0;
  for (int64_t img = 0; img < d.n; ++img) {
    dw += rstd[img * d.groups + g] * dy_xc[img * d.c + ch];
    db += dy_total[img * d.c + ch];
  }
  dweight[ch] = dw;
  dbias[ch] = db;
}

}  // namespace scorch::models::fused_norm
