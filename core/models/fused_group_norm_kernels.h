// The CUDA kernels behind fused_group_norm.cpp, declared without torch headers so that nvcc compiles them alone
// (core/CMakeLists.txt). Tensors are raw pointers to (N, C, H, W) data in one of two layouts: channels_last,
// N × HW × C elements with the channel fastest, or NCHW, N × C × HW; per-channel tables are (N, C) float32,
// row-major.
#pragma once
#include <cstdint>

#include "core/models/fused_group_norm_math.h"
#include "core/models/kernel_types.h"

namespace scorch::models::fused_norm {

using Dtype = KernelDtype;
using Layout = KernelLayout;

// A SiLU fused after the GroupNorm: the forward's (N, C) tables scale and offset give the SiLU's input
// y = x·scale + offset again, so the backward takes an incoming dz = dL/dsilu(y) through SiLU's derivative
// (dy = dz·silu'(y)) as it reads it, and nothing between the two layers is stored or passed over.
struct Silu {
  const float* scale = nullptr;  // null: no SiLU
  const float* offset = nullptr;
};

// Pixels (of HW per image and channel) per chunk of `channel_sums` on these tensors: enough blocks of the kernel
// it will take to fill a GPU, but at most 64 chunks, which the table kernels add one thread per image and group.
// Every sum runs in a fixed order, so the result does not depend on scheduling (a graphed step must equal an
// eager one bit for bit).
int64_t pixels_per_chunk(Dtype t, Layout layout, const void* a, const void* x, int64_t n, int64_t hw, int64_t c);

// For each image n, chunk k of `pixels` pixels and channel c, with s = x[n, c, 0, 0] (a shift, so that a large
// mean does not cancel the variance): sum1 = Σ (a - s·shift_a) and sum2 = Σ (a - s·shift_a)·(x - s), written to
// (N, chunks, C) float32 tables. Statistics: a = x, shift_a = true (Σ (x-s), Σ (x-s)²); backward: a = dy,
// shift_a = false (Σ dy, Σ dy·(x-s)). When `shift` is not null, s goes there too, an (N, C) float32 table.
// With `silu` (backward only), a is dz and dy = dz·silu'(x·silu.scale + silu.offset) is what is summed.
void channel_sums(Dtype t, Layout layout, const void* a, const void* x, bool shift_a, const Silu& silu, int64_t n,
                  int64_t hw, int64_t c, int64_t pixels, float* sum1, float* sum2, float* shift, void* stream);

// fused_group_norm_math.h's group_statistics and group_input_gradient, a thread per image and group, and
// parameter_gradients, a thread per channel; float32 tables, d.chunks chunks of partial sums. `pre`: an input
// shift (GroupNorm(x + pre)), or none.
void launch_group_statistics(const Dims& d, const float* sum1, const float* sum2, const float* shift,
                             const float* weight, const float* bias, float eps, float* mean, float* rstd, float* scale,
                             float* offset, const PreShift<float>& pre, void* stream);
void launch_group_input_gradient(const Dims& d, const float* sum_dy, const float* sum_dy_xs, const float* shift,
                                 const float* weight, const float* mean, const float* rstd, float* dy_total,
                                 float* dy_xc, float* scale_dy, float* scale_x, float* offset,
                                 const PreShift<float>& pre, void* stream);
void launch_parameter_gradients(const Dims& d, const float* dy_total, const float* dy_xc, const float* rstd,
                                float* dweight, float* dbias, void* stream);

// out = x·scale_x[n, c] + offset[n, c], plus dy·scale_dy[n, c] when dy is not null, plus `extra` when that is not
// null (a backward: the gradient that x's other uses sent it, of x's dtype and layout); out has x's layout and dtype.
// silu_out (a forward): out = silu(that). With `silu` (a backward), dy is dz, taken through SiLU's derivative.
void affine(Dtype t, Layout layout, const void* x, const void* dy, const void* extra, const float* scale_x,
            const float* scale_dy, const float* offset, bool silu_out, const Silu& silu, void* out, int64_t n,
            int64_t hw, int64_t c, void* stream);

}  // namespace scorch::models::fused_norm
