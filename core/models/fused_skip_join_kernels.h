// The CUDA kernel behind fused_skip_join.cpp, declared without torch headers so that nvcc compiles it alone
// (core/CMakeLists.txt). skip, h and out are raw pointers to (N, C, H, W) data in one layout, channels_last
// (N × HW × C) or NCHW (N × C × HW); bias is float32 (C,).
#pragma once
#include <cstdint>

#include "core/models/kernel_types.h"

namespace scorch::models::residual_join {

// out = fused_skip_join_math.h's join(skip, h, bias[channel], scale) for every element, in float32, rounded once.
void join_forward(KernelDtype t, KernelLayout layout, const void* skip, const void* h, const float* bias, void* out,
                  float scale, int64_t n, int64_t c, int64_t hw, void* stream);

}  // namespace scorch::models::residual_join
