// CUDA kernel of the fused residual join: (skip + (h + bias)) · scale in one pass over NCHW or channels_last data.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "core/models/fused_skip_join_kernels.h"
#include "core/models/fused_skip_join_math.h"
#include "core/models/kernel_scalars.cuh"

namespace scorch::models::residual_join {
namespace {

using kernels::aligned;
using kernels::dispatch;
using kernels::load;
using kernels::store;

constexpr int kThreads = 256;
constexpr int kVec = 4;

// The channel of element i of (N, C, H, W) data stored N × HW × C (channels_last) or N × C × HW (NCHW).
template <typename Index>
__device__ __forceinline__ Index channel_of(Index i, Index c, Index hw, bool nhwc) {
  return nhwc ? i % c : (i / hw) % c;
}

// Four elements moved in one access (8 bytes in 16 bits, 16 in float32).
template <typename T>
using Pack = kernels::Pack<T, kVec>;

// A thread per element, in the data's own order, so the loads of a warp coalesce in either layout.
template <typename T, bool kNhwc, typename Index>
__global__ void join_kernel(const T* skip, const T* h, const float* bias, T* out, float scale, Index c, Index hw,
                            Index total) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const float b = bias[channel_of<Index>(i, c, hw, kNhwc)];
    store(out, static_cast<int64_t>(i), join(load(skip, i), load(h, i), b, scale));
  }
}

// Four neighbouring elements per thread: the caller checked the alignment, and that the four share one channel
// (NCHW with HW % 4 == 0) or are four consecutive channels of one pixel (channels_last with C % 4 == 0).
template <typename T, bool kNhwc, typename Index>
__global__ void join_kernel_packed(const Pack<T>* skip, const Pack<T>* h, const float* bias, Pack<T>* out, float scale,
                                   Index c, Index hw, Index packs) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index p = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; p < packs; p += stride) {
    const Pack<T> s = skip[p], x = h[p];
    const Index c0 = channel_of<Index>(p * kVec, c, hw, kNhwc);
    Pack<T> o;
#pragma unroll
    for (int k = 0; k < kVec; ++k) store(o.v, k, join(load(s.v, k), load(x.v, k), bias[kNhwc ? c0 + k : c0], scale));
    out[p] = o;
  }
}

unsigned blocks_for(int64_t work) { return kernels::grid_stride_blocks(work, kThreads); }

template <typename T, typename Index>
void launch(bool nhwc, const T* skip, const T* h, const float* bias, T* out, float scale, int64_t c, int64_t hw,
            int64_t total, cudaStream_t s) {
  const auto ci = static_cast<Index>(c), hwi = static_cast<Index>(hw);
  const bool packed = (nhwc ? c % kVec == 0 : hw % kVec == 0) && aligned(skip, sizeof(Pack<T>)) &&
                      aligned(h, sizeof(Pack<T>)) && aligned(out, sizeof(Pack<T>));
  if (packed) {
    const auto packs = static_cast<Index>(total / kVec);
    const auto *sp = reinterpret_cast<const Pack<T>*>(skip), *hp = reinterpret_cast<const Pack<T>*>(h);
    auto* op = reinterpret_cast<Pack<T>*>(out);
    if (nhwc)
      join_kernel_packed<T, true, Index>
          <<<blocks_for(packs), kThreads, 0, s>>>(sp, hp, bias, op, scale, ci, hwi, packs);
    else
      join_kernel_packed<T, false, Index>
          <<<blocks_for(packs), kThreads, 0, s>>>(sp, hp, bias, op, scale, ci, hwi, packs);
    return;
  }
  const auto all = static_cast<Index>(total);
  if (nhwc)
    join_kernel<T, true, Index><<<blocks_for(total), kThreads, 0, s>>>(skip, h, bias, out, scale, ci, hwi, all);
  else
    join_kernel<T, false, Index><<<blocks_for(total), kThreads, 0, s>>>(skip, h, bias, out, scale, ci, hwi, all);
}

}  // namespace

void join_forward(KernelDtype t, KernelLayout layout, const void* skip, const void* h, const float* bias, void* out,
                  float scale, int64_t n, int64_t c, int64_t hw, void* stream) {
  const int64_t total = n * c * hw;
  if (total == 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  // The index plus one grid stride must not wrap: 2^31 leaves room for 2^28 threads.
  const bool narrow = total < (int64_t{1} << 31);
  dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const auto *skip_t = static_cast<const T*>(skip), *h_t = static_cast<const T*>(h);
    auto* out_t = static_cast<T*>(out);
    const bool nhwc = layout == KernelLayout::kNhwc;
    if (narrow)
      launch<T, uint32_t>(nhwc, skip_t, h_t, bias, out_t, scale, c, hw, total, s);
    else
      launch<T, int64_t>(nhwc, skip_t, h_t, bias, out_t, scale, c, hw, total, s);
  });
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string("residual join (fused) kernel: ") + cudaGetErrorString(e));
}

}  // namespace scorch::models::residual_join
