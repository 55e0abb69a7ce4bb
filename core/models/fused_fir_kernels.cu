// CUDA kernels of FIR resampling (upfirdn2d) on NCHW or channels_last tensors: a thread per output sample, or per
// group of neighbouring channels of an output pixel.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "core/models/fused_fir_kernels.h"
#include "core/models/kernel_scalars.cuh"

namespace scorch::models::fused_fir {
namespace {

using kernels::aligned;
using kernels::dispatch;
using kernels::load;
using kernels::Pack;
using kernels::store;

constexpr int kThreads = 256;

// Output index i in the output's layout: NCHW walks (n, c, oy, ox), ox fastest, so neighbouring threads read
// neighbouring pixels of one plane; channels_last walks (n, oy, ox, c), c fastest, so they read neighbouring
// channels of one pixel. Either way the loads of a warp coalesce and the taps' overlap stays in L1. Index is
// uint32_t when every index fits (int64 division costs several times more), int64_t otherwise. The filter is
// read in place from the launch's parameters (__grid_constant__): output_sample takes it by reference, and a plain
// by-value parameter would be copied to an 88-byte stack frame in every thread first. S: the filter's shape as
// constants where with_shape knows it (fused_fir_math.h).
template <typename T, bool kNhwc, typename Index, typename S>
__global__ void upfirdn2d_kernel(const T* x, T* out, const __grid_constant__ Filter f, Index c, int h, int w, int oh,
                                 int ow, Index total) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    Index rest = i;
    Index ch = 0;
    if (kNhwc) {
      ch = rest % c;
      rest /= c;
    }
    const int ox = static_cast<int>(rest % ow);
    rest /= ow;
    const int oy = static_cast<int>(rest % oh);
    rest /= oh;
    if (!kNhwc) {
      ch = rest % c;
      rest /= c;
    }
    const int64_t img = rest;
    float v;
    if (kNhwc) {
      const T* pixel0 = x + (img * h * w) * static_cast<int64_t>(c) + ch;
      const int64_t cs = c;
      v = output_sample<float, S::n, S::up, S::down>(
          f, h, w, oy, ox, [&](int iy, int ix) { return load(pixel0, (static_cast<int64_t>(iy) * w + ix) * cs); });
    } else {
      const T* plane = x + (img * static_cast<int64_t>(c) + ch) * h * w;
      v = output_sample<float, S::n, S::up, S::down>(
          f, h, w, oy, ox, [&](int iy, int ix) { return load(plane, static_cast<int64_t>(iy) * w + ix); });
    }
    store(out, static_cast<int64_t>(i), v);
  }
}

// A thread per group of K = 16 bytes of channels of one channels_last output pixel (channel_group_sample): one
// load per tap and one store of 16 bytes, the pixel's coordinates and taps worked out once for K channels. The caller
// checked that C divides into groups and that both tensors are 16-byte aligned.
template <typename T, typename Index, typename S>
__global__ void upfirdn2d_groups_kernel(const T* x, T* out, const __grid_constant__ Filter f, Index groups, int h,
                                        int w, int oh, int ow, Index total) {
  constexpr int K = kLanes16<T>;
  using P = Pack<T, K>;
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const Lanes<float, K> v =
        channel_group_sample<float, K, S::n, S::up, S::down>(f, groups, h, w, oh, ow, i, [&](int64_t offset) {
          const P p = *reinterpret_cast<const P*>(x + offset);
          Lanes<float, K> l;
#pragma unroll
          for (int k = 0; k < K; ++k) l.v[k] = load(p.v, k);
          return l;
        });
    P o;
#pragma unroll
    for (int k = 0; k < K; ++k) store(o.v, k, v.v[k]);
    reinterpret_cast<P*>(out)[i] = o;
  }
}

unsigned blocks_for(int64_t work) { return kernels::grid_stride_blocks(work, kThreads); }

template <typename T, typename Index>
void launch(bool nhwc, const T* x, T* out, const Filter& f, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow,
            int64_t total, cudaStream_t s) {
  constexpr int K = kLanes16<T>;
  const int hi = static_cast<int>(h), wi = static_cast<int>(w), ohi = static_cast<int>(oh), owi = static_cast<int>(ow);
  if (nhwc && c % K == 0 && aligned(x, sizeof(Pack<T, K>)) && aligned(out, sizeof(Pack<T, K>))) {
    const auto groups = static_cast<Index>(c / K), all = static_cast<Index>(total / K);
    with_shape(f, [&](auto shape) {
      upfirdn2d_groups_kernel<T, Index, decltype(shape)>
          <<<blocks_for(total / K), kThreads, 0, s>>>(x, out, f, groups, hi, wi, ohi, owi, all);
    });
    return;
  }
  const unsigned blocks = blocks_for(total);
  const auto ci = static_cast<Index>(c), all = static_cast<Index>(total);
  with_shape(f, [&](auto shape) {
    using S = decltype(shape);
    if (nhwc)
      upfirdn2d_kernel<T, true, Index, S><<<blocks, kThreads, 0, s>>>(x, out, f, ci, hi, wi, ohi, owi, all);
    else
      upfirdn2d_kernel<T, false, Index, S><<<blocks, kThreads, 0, s>>>(x, out, f, ci, hi, wi, ohi, owi, all);
  });
}

}  // namespace

void upfirdn2d(Dtype t, Layout layout, const void* x, void* out, const Filter& f, int64_t n, int64_t c, int64_t h,
               int64_t w, int64_t oh, int64_t ow, void* stream) {
  const int64_t total = n * c * oh * ow;
  if (total == 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  // The index plus one grid stride must not wrap: 2^31 leaves room for 2^28 threads.
  const bool narrow = total < (int64_t{1} << 31);
  dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const auto* x_t = static_cast<const T*>(x);
    auto* out_t = static_cast<T*>(out);
    if (narrow)
      launch<T, uint32_t>(layout == Layout::kNhwc, x_t, out_t, f, c, h, w, oh, ow, total, s);
    else
      launch<T, int64_t>(layout == Layout::kNhwc, x_t, out_t, f, c, h, w, oh, ow, total, s);
  });
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("FIR resampling (fused) kernel: ") + cudaGetErrorString(e));
}

}  // namespace scorch::models::fused_fir
