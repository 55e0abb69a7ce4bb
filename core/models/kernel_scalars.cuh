// Loads and stores of float32, bfloat16 and float16 elements as float, packs of them moved in one access, and the
// dispatch from KernelDtype to the element type, for scorch's CUDA kernels (nvcc only).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

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

// Elements of T in one 16-byte load, the widest a thread issues: 8 in 16 bits, 4 in float32.
template <typename T>
inline constexpr int kLanes16 = 16 / static_cast<int>(sizeof(T));

inline bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

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
