// The arithmetic of the fused residual join, shared by its CUDA kernel and its CPU loop: one output element from
// the skip, the block's output and the convolution biases they were computed without.
#pragma once
#include "core/models/kernel_types.h"

namespace scorch::models::residual_join {

// (skip + (h + bias)) · scale, in the accumulation type: the bias joins h first, where the convolution that made h
// would have added it, then the skip, then the scale (1/√2 or 1). LibTorch's CUDA kernels divide by a scalar
// as a multiplication by its reciprocal, so in float32, with one bias (no skip convolution's), this is the unfused
// CUDA sequence to the bit.
template <typename Acc>
SCORCH_HOST_DEVICE inline Acc join(Acc skip, Acc h, Acc bias, Acc scale) {
  return (skip + (h + bias)) * scale;
}

}  // namespace scorch::models::residual_join
