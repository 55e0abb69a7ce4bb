// What scorch's own kernels (GroupNorm, FIR resampling) need to know of an (N, C, H, W) tensor: the layout they
// work in and the element type they are compiled for.
#pragma once
#include <torch/torch.h>

#include "core/models/kernel_types.h"

namespace scorch::models {

// Channels_last for a tensor stored so, NCHW for every other (a tensor contiguous in both, (N, C, 1, 1) or
// (N, 1, H, W), is NCHW): the kernels take either and write their output in it.
inline at::MemoryFormat layout_of(const torch::Tensor& x) {
  return !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast) ? at::MemoryFormat::ChannelsLast
                                                                               : at::MemoryFormat::Contiguous;
}

inline KernelLayout kernel_layout(at::MemoryFormat format) {
  return format == at::MemoryFormat::ChannelsLast ? KernelLayout::kNhwc : KernelLayout::kNchw;
}

// The dtypes the CUDA kernels take (their CPU paths take float64 too).
inline bool kernel_dtype_supported(at::ScalarType t) { return t == at::kFloat || t == at::kBFloat16 || t == at::kHalf; }

// One of kernel_dtype_supported's.
inline KernelDtype kernel_dtype(at::ScalarType t) {
  switch (t) {
    case at::kBFloat16: return KernelDtype::kBFloat16;
    case at::kHalf: return KernelDtype::kFloat16;
    default: return KernelDtype::kFloat32;
  }
}

}  // namespace scorch::models
