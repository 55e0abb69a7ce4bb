// The CUDA kernel behind fused_fir.cpp, declared without torch headers so that nvcc compiles it alone
// (core/CMakeLists.txt). Tensors are raw pointers to (N, C, H, W) data, channels_last (N × HW × C, the channel
// fastest) or NCHW (N × C × HW); the output has the input's layout.
#pragma once
#include <cstdint>

#include "core/models/fused_fir_math.h"
#include "core/models/kernel_types.h"

namespace scorch::models::fused_fir {

using Dtype = KernelDtype;
using Layout = KernelLayout;

// out (n, c, oh, ow) = fused_fir_math.h's output_sample of every output position of x (n, c, h, w), accumulated
// in float32: a thread per output sample, consecutive threads on consecutive samples of the output's layout.
void upfirdn2d(Dtype t, Layout layout, const void* x, void* out, const Filter& f, int64_t n, int64_t c, int64_t h,
               int64_t w, int64_t oh, int64_t ow, void* stream);

}  // namespace scorch::models::fused_fir
