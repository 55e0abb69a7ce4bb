// Loads and stores of float32, bfloat16 and float16 elements as float, packs of them moved in one access, and the
// dispatch from KernelDtype to the element type, for scorch's CUDA kernels (nvcc only).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "core/models/kernel_types.h"

namespace scorch::models::kernels {

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ float load(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16(v); }
__device__ __forceinline__ void store(__half* p, int64_t i, float v) { p[i] = __float2half(v); }

// K elements aligned so that one load or store moves them all.
template <typename T, int K>
struct alignas(sizeof(T) * K) Pack {
  T v[K];
};

inline bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// Blocks of `threads` for a grid-stride loop over `work` items: at most 2^20 blocks (2^28 threads of 256), a few
// items per thread beyond that.
inline unsigned grid_stride_blocks(int64_t work, int threads) {
  return static_cast<unsigned>(std::min<int64_t>((work + threads - 1) / threads, int64_t{1} << 20));
}

// f(static_cast<T*>(nullptr)) with T the element type of t.
template <typename F>
void dispatch(KernelDtype t, F&& f) {
  switch (t) {
    case KernelDtype::kFloat32: return f(static_cast<float*>(nullptr));
    case KernelDtype::kBFloat16: return f(static_cast<__nv_bfloat16*>(nullptr));
    case KernelDtype::kFloat16: return f(static_cast<__half*>(nullptr));
  }
}

}  // namespace scorch::models::kernels
