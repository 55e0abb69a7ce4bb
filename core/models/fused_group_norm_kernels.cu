// CUDA kernels of GroupNorm on channels_last or NCHW tensors: the per-group tables (fused_group_norm_math.h) and
// the per-channel affine map, with an optional SiLU fused in; the partial sums are fused_group_norm_sums_kernels.cu.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/models/channel_pack_walk.h"
#include "core/models/fused_group_norm_device.cuh"
#include "core/models/fused_group_norm_kernels.h"
#include "core/models/kernel_scalars.cuh"

namespace scorch::models::fused_norm {
namespace {

using kernels::aligned;
using kernels::dispatch;
using kernels::load;
using kernels::Pack;
using kernels::store;

// The (N, C) table entry of element i: i / HW in NCHW, image i / (HW·C) and channel i % C in channels_last.
template <typename I, bool kNchw>
__device__ __forceinline__ I table_entry(I i, I hw, I hw_c, I c) {
  return kNchw ? i / hw : i / hw_c * c + i % c;
}

// A channel's entries of the (N, C) tables the affine map reads, those of dy and of the SiLU only where used.
struct AffineEntry {
  float scale_x, offset, scale_dy, silu_scale, silu_offset;
};

__device__ __forceinline__ AffineEntry affine_entry(int64_t j, const float* scale_x, const float* scale_dy,
                                                    const float* offset, bool has_dy, const Silu& silu) {
  const bool has_silu = silu.scale != nullptr;
  return {scale_x[j], offset[j], has_dy ? scale_dy[j] : 0.f, has_silu ? silu.scale[j] : 0.f,
          has_silu ? silu.offset[j] : 0.f};
}

// One output element from x's element xi, dy's dyi (has_dy) and extra's ei, with its channel's table
// entries e. With kExtra ei is added (an addition of 0 otherwise would stay in the code: x + 0 is not x for x = -0).
template <bool kExtra>
__device__ __forceinline__ float affine_value(float xi, bool has_dy, float dyi, float ei, const AffineEntry& e,
                                              bool has_silu, bool silu_out) {
  float v = xi * e.scale_x + e.offset;
  if (has_dy) v += (has_silu ? silu_grad(dyi, xi * e.silu_scale + e.silu_offset) : dyi) * e.scale_dy;
  if constexpr (kExtra) v += ei;
  return silu_out ? apply_silu(v) : v;
}

// kExtra: `extra` is read (a backward's other gradient). A template parameter, so that the kernels without it keep
// their registers and occupancy: ptxas (sm_90, 32-bit indices) gives the channels_last packed kernel 69 registers
// without and 72 with in bf16 (64 and 71 in fp16), where one kernel testing for it at run time took 89 in bf16
// (2 blocks of 256 threads an SM instead of 3).

// Grid-stride over the N·HW·C elements; I is the index type (32-bit when it fits: the divisions per element
// are most of the arithmetic of this memory-bound kernel).
template <typename T, typename I, bool kNchw, bool kExtra>
__global__ void affine_kernel(const T* x, const T* dy, const T* extra, const float* scale_x, const float* scale_dy,
                              const float* offset, bool silu_out, Silu silu, T* out, I hw, I hw_c, I c, I total) {
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<I>(blockDim.x) * gridDim.x) {
    const bool has_dy = dy != nullptr;
    const auto e = affine_entry(table_entry<I, kNchw>(i, hw, hw_c, c), scale_x, scale_dy, offset, has_dy, silu);
    store(out, i,
          affine_value<kExtra>(load(x, i), has_dy, has_dy ? load(dy, i) : 0.f, kExtra ? load(extra, i) : 0.f, e,
                               silu.scale != nullptr, silu_out));
  }
}

// NCHW over packs of K = 16 bytes of neighbouring pixels of one plane, a load or store each, the table entry worked
// out once per pack: the caller checked the alignment and that HW % K == 0.
template <typename T, typename I, bool kExtra>
__global__ void affine_nchw_packed_kernel(const T* x, const T* dy, const T* extra, const float* scale_x,
                                          const float* scale_dy, const float* offset, bool silu_out, Silu silu, T* out,
                                          I hw, I packs) {
  constexpr int K = kLanes16<T>;
  using P = Pack<T, K>;
  const auto* xp = reinterpret_cast<const P*>(x);
  const auto* dyp = reinterpret_cast<const P*>(dy);
  const auto* ep = reinterpret_cast<const P*>(extra);
  auto* op = reinterpret_cast<P*>(out);
  for (I p = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; p < packs;
       p += static_cast<I>(blockDim.x) * gridDim.x) {
    const bool has_dy = dy != nullptr;
    const auto e = affine_entry(p * K / hw, scale_x, scale_dy, offset, has_dy, silu);
    const P xv = xp[p];
    P dv{}, ev{};  // zeros where absent
    if (has_dy) dv = dyp[p];
    if (kExtra) ev = ep[p];
    P o;
#pragma unroll
    for (int k = 0; k < K; ++k)
      store(o.v, k,
            affine_value<kExtra>(load(xv.v, k), has_dy, load(dv.v, k), load(ev.v, k), e, silu.scale != nullptr,
                                 silu_out));
    op[p] = o;
  }
}

// Channels_last over packs of K = 16 bytes of neighbouring channels of one pixel (the caller checked the alignment
// and that C % K == 0). Grid (blocks, N): a block walks one image, and the stride is a multiple of the packs per
// pixel (channel_pack_walk.h), so a thread keeps one channel pack of one image and holds its K entries of each table
// in registers, read once: read per pack, they were 8 scattered 4-byte loads per table, a warp's spanning 8 cache
// lines each, several times the pack's own traffic.
template <typename T, typename I, bool kExtra>
__global__ void affine_nhwc_packed_kernel(const T* x, const T* dy, const T* extra, const float* scale_x,
                                          const float* scale_dy, const float* offset, bool silu_out, Silu silu, T* out,
                                          I q, I hw_q) {
  constexpr int K = kLanes16<T>;
  using P = Pack<T, K>;
  const I image = blockIdx.y, first = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x;
  const I base = image * hw_q;
  const auto* xp = reinterpret_cast<const P*>(x) + base;
  // dy and extra are indexed from their start: where absent they are null, and null plus an offset is undefined.
  const auto* dyp = reinterpret_cast<const P*>(dy);
  const auto* ep = reinterpret_cast<const P*>(extra);
  auto* op = reinterpret_cast<P*>(out) + base;
  const bool has_dy = dy != nullptr, has_silu = silu.scale != nullptr;
  const I j0 = kernels::channel_pack_row(image, first, q) * K;
  AffineEntry e[K];
#pragma unroll
  for (int k = 0; k < K; ++k) e[k] = affine_entry(j0 + k, scale_x, scale_dy, offset, has_dy, silu);
  for (I p = first; p < hw_q; p += static_cast<I>(blockDim.x) * gridDim.x) {
    const P xv = xp[p];
    P dv{}, ev{};  // zeros where absent
    if (has_dy) dv = dyp[base + p];
    if (kExtra) ev = ep[base + p];
    P o;
#pragma unroll
    for (int k = 0; k < K; ++k)
      store(o.v, k,
            affine_value<kExtra>(load(xv.v, k), has_dy, load(dv.v, k), load(ev.v, k), e[k], has_silu, silu_out));
    op[p] = o;
  }
}

// The per-group arithmetic, a thread per image and group (per channel for the parameters' gradients).
__global__ void group_statistics_kernel(Dims d, const float* sum1, const float* sum2, const float* shift,
                                        const float* weight, const float* bias, float eps, float* mean, float* rstd,
                                        float* scale, float* offset, PreShift<float> pre) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < d.n * d.groups)
    group_statistics(d, i / d.groups, i % d.groups, sum1, sum2, shift, weight, bias, eps, mean, rstd, scale, offset,
                     pre);
}

__global__ void group_input_gradient_kernel(Dims d, const float* sum_dy, const float* sum_dy_xs, const float* shift,
                                            const float* weight, const float* mean, const float* rstd, float* dy_total,
                                            float* dy_xc, float* scale_dy, float* scale_x, float* offset,
                                            PreShift<float> pre) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < d.n * d.groups)
    group_input_gradient(d, i / d.groups, i % d.groups, sum_dy, sum_dy_xs, shift, weight, mean, rstd, dy_total, dy_xc,
                         scale_dy, scale_x, offset, pre);
}

__global__ void parameter_gradients_kernel(Dims d, const float* dy_total, const float* dy_xc, const float* rstd,
                                           float* dweight, float* dbias) {
  const int64_t ch = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (ch < d.c) parameter_gradients(d, ch, dy_total, dy_xc, rstd, dweight, dbias);
}

constexpr int kTableThreads = 128;
constexpr int kThreads = 256;         // the affine kernels' blocks
constexpr int64_t kMaxBlocks = 8192;  // and at most this many, a grid-stride loop beyond
unsigned table_blocks(int64_t count) { return static_cast<unsigned>((count + kTableThreads - 1) / kTableThreads); }

}  // namespace

void launch_group_statistics(const Dims& d, const float* sum1, const float* sum2, const float* shift,
                             const float* weight, const float* bias, float eps, float* mean, float* rstd, float* scale,
                             float* offset, const PreShift<float>& pre, void* stream) {
  group_statistics_kernel<<<table_blocks(d.n * d.groups), kTableThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      d, sum1, sum2, shift, weight, bias, eps, mean, rstd, scale, offset, pre);
  check_launch("group_statistics");
}

void launch_group_input_gradient(const Dims& d, const float* sum_dy, const float* sum_dy_xs, const float* shift,
                                 const float* weight, const float* mean, const float* rstd, float* dy_total,
                                 float* dy_xc, float* scale_dy, float* scale_x, float* offset,
                                 const PreShift<float>& pre, void* stream) {
  group_input_gradient_kernel<<<table_blocks(d.n * d.groups), kTableThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      d, sum_dy, sum_dy_xs, shift, weight, mean, rstd, dy_total, dy_xc, scale_dy, scale_x, offset, pre);
  check_launch("group_input_gradient");
}

void launch_parameter_gradients(const Dims& d, const float* dy_total, const float* dy_xc, const float* rstd,
                                float* dweight, float* dbias, void* stream) {
  parameter_gradients_kernel<<<table_blocks(d.c), kTableThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      d, dy_total, dy_xc, rstd, dweight, dbias);
  check_launch("parameter_gradients");
}

void affine(Dtype t, Layout layout, const void* x, const void* dy, const void* extra, const float* scale_x,
            const float* scale_dy, const float* offset, bool silu_out, const Silu& silu, void* out, int64_t n,
            int64_t hw, int64_t c, void* stream) {
  const int64_t total = n * hw * c;
  if (total == 0) return;
  const auto blocks_for = [](int64_t work) {
    return static_cast<unsigned>(std::min<int64_t>((work + kThreads - 1) / kThreads, kMaxBlocks));
  };
  dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    constexpr int K = kLanes16<T>;
    constexpr size_t kPackBytes = sizeof(Pack<T, K>);
    const bool packed = (layout == Layout::kNchw ? hw % K == 0 : c % K == 0) && aligned(x, kPackBytes) &&
                        aligned(dy, kPackBytes) && aligned(extra, kPackBytes) && aligned(out, kPackBytes);
    auto launch = [&](auto index, auto nchw, auto with_extra) {
      using I = decltype(index);
      constexpr bool kExtra = decltype(with_extra)::value;
      const auto* x_t = static_cast<const T*>(x);
      const auto* dy_t = static_cast<const T*>(dy);
      const auto* extra_t = static_cast<const T*>(extra);
      auto* out_t = static_cast<T*>(out);
      const auto hw_i = static_cast<I>(hw), hw_c = static_cast<I>(hw * c), c_i = static_cast<I>(c);
      const auto s = static_cast<cudaStream_t>(stream);
      if (packed && decltype(nchw)::value) {
        affine_nchw_packed_kernel<T, I, kExtra><<<blocks_for(total / K), kThreads, 0, s>>>(
            x_t, dy_t, extra_t, scale_x, scale_dy, offset, silu_out, silu, out_t, hw_i, static_cast<I>(total / K));
      } else if (packed) {
        // About 4 packs a thread, the 8192 blocks of the other kernels shared among the images.
        const int64_t q = c / K;
        const auto blocks = kernels::channel_pack_blocks(hw * q, q, kThreads, 4, kMaxBlocks / n);
        affine_nhwc_packed_kernel<T, I, kExtra>
            <<<dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(n)), kThreads, 0, s>>>(
                x_t, dy_t, extra_t, scale_x, scale_dy, offset, silu_out, silu, out_t, static_cast<I>(q),
                static_cast<I>(hw * q));
      } else {
        affine_kernel<T, I, decltype(nchw)::value, kExtra>
            <<<blocks_for(total), kThreads, 0, s>>>(x_t, dy_t, extra_t, scale_x, scale_dy, offset, silu_out, silu,
                                                    out_t, hw_i, hw_c, c_i, static_cast<I>(total));
      }
    };
    auto with_extra = [&](auto index, auto nchw) {
      if (extra != nullptr)
        launch(index, nchw, std::true_type{});
      else
        launch(index, nchw, std::false_type{});
    };
    auto with_index = [&](auto nchw) {
      if (total < std::numeric_limits<uint32_t>::max() / 2)
        with_extra(uint32_t{0}, nchw);
      else
        with_extra(int64_t{0}, nchw);
    };
    if (layout == Layout::kNchw)
      with_index(std::true_type{});
    else
      with_index(std::false_type{});
  });
  check_launch("affine");
}

}  // namespace scorch::models::fused_norm
