// The two CUDA kernels behind group_norm_nhwc.cpp, declared without torch headers so that nvcc compiles them
// alone (core/CMakeLists.txt). Tensors are raw pointers to channels_last (N, C, H, W) data: N × HW × C elements
// with the channel fastest; per-channel tables are (N, C) float32, row-major.
#pragma once
#include <cstdint>

// "norm" in the namespace puts the kernels' names in bench/device/trace_summary.py's normalisation group.
namespace scorch::models::nhwc_norm {

enum class Dtype { kFloat32, kBFloat16, kFloat16 };

// Rows (of C channels) per chunk of `channel_sums` and the chunk count for N images of HW rows each: enough
// blocks to fill a GPU, and the partial sums of the chunks are added by the caller in a fixed order, so the
// result does not depend on scheduling (a graphed step must equal an eager one bit for bit).
int64_t rows_per_chunk(int64_t n, int64_t hw, int64_t c);

// For each image n, chunk k of `rows` rows and channel c, with s = x[n, 0, c] (a shift, so that a large mean
// does not cancel the variance): sum1 = Σ (a - s·shift_a) and sum2 = Σ (a - s·shift_a)·(x - s), written to
// (N, chunks, C) float32 tables. Statistics: a = x, shift_a = true (Σ (x-s), Σ (x-s)²); backward: a = dy,
// shift_a = false (Σ dy, Σ dy·(x-s)).
void channel_sums(Dtype t, const void* a, const void* x, bool shift_a, int64_t n, int64_t hw, int64_t c, int64_t rows,
                  float* sum1, float* sum2, void* stream);

// out = x·scale_x[n, c] + offset[n, c], plus dy·scale_dy[n, c] when dy is not null; out has x's layout and dtype.
void affine(Dtype t, const void* x, const void* dy, const float* scale_x, const float* scale_dy, const float* offset,
            void* out, int64_t n, int64_t hw, int64_t c, void* stream);

}  // namespace scorch::models::nhwc_norm
