// What scorch's own CUDA kernels (GroupNorm, FIR resampling) and their callers share without torch or CUDA headers:
// the element types and memory layouts they take, and the qualifier of functions compiled for both GPU and CPU.
#pragma once

#ifndef SCORCH_HOST_DEVICE
#ifdef __CUDACC__
#define SCORCH_HOST_DEVICE __host__ __device__
#else
#define SCORCH_HOST_DEVICE
#endif
#endif

namespace scorch::models {

enum class KernelDtype { kFloat32, kBFloat16, kFloat16 };
// Elements of T in one 16-byte load, the widest a thread issues: 8 in 16 bits, 4 in float32 (2 in float64, on the
// CPU). The kernels' packs and channel groups, and the CPU loops that walk the same groups.
template <typename T>
inline constexpr int kLanes16 = 16 / static_cast<int>(sizeof(T));
// (N, C, H, W) data as N × HW × C elements with the channel fastest (channels_last), or N × C × HW (NCHW).
enum class KernelLayout { kNhwc, kNchw };

}  // namespace scorch::models
