// Device and launch helpers shared by the GroupNorm kernel files (fused_group_norm_kernels.cu and
// fused_group_norm_sums_kernels.cu): SiLU and its gradient as LibTorch computes them, and the launch check.
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace scorch::models::fused_norm {
namespace {

__device__ __forceinline__ float sigmoid(float y) { return 1.f / (1.f + expf(-y)); }
__device__ __forceinline__ float apply_silu(float y) { return y * sigmoid(y); }
// dz·d silu(y)/dy, as LibTorch's silu_backward computes it.
__device__ __forceinline__ float silu_grad(float dz, float y) {
  const float s = sigmoid(y);
  return dz * s * (1.f + y * (1.f - s));
}

inline void check_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("GroupNorm (fused) kernel ") + what + ": " + cudaGetErrorString(e));
}

}  // namespace
}  // namespace scorch::models::fused_norm
