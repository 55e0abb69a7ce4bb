// CUDA kernels of GroupNorm on channels_last or NCHW tensors: per-channel partial sums, the per-group tables
// (fused_group_norm_math.h) and the per-channel affine map, each with an optional SiLU fused in.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "core/models/channel_pack_walk.h"
#include "core/models/fused_group_norm_kernels.h"
#include "core/models/kernel_scalars.cuh"

namespace scorch::models::fused_norm {
namespace {

using kernels::aligned;
using kernels::dispatch;
using kernels::load;
using kernels::Pack;
using kernels::store;

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 8;   // channels_last: a block is 32 channels × 8 rows; its threads walk the rows by 8
constexpr int kWarpsPerBlock = 8;  // NCHW: a block is 8 warps, each one image and channel
constexpr int kPackColumns = 16;   // channels_last in 16-byte packs: a block is 16 packs × 16 rows
constexpr int kPackRows = 16;

__device__ __forceinline__ float sigmoid(float y) { return 1.f / (1.f + expf(-y)); }
__device__ __forceinline__ float apply_silu(float y) { return y * sigmoid(y); }
// dz·d silu(y)/dy, as LibTorch's silu_backward computes it.
__device__ __forceinline__ float silu_grad(float dz, float y) {
  const float s = sigmoid(y);
  return dz * s * (1.f + y * (1.f - s));
}

// Channels_last: grid (ceil(C / 32), chunks, N), block (32, 8); a thread per channel and row of the chunk.
template <typename T>
__global__ void channel_sums_nhwc_kernel(const T* a, const T* x, bool shift_a, Silu silu, int64_t hw, int64_t c,
                                         int64_t rows, float* sum1, float* sum2, float* shift_out) {
  __shared__ float part1[kRowsPerBlock][kWarp], part2[kRowsPerBlock][kWarp];
  const int64_t ch = static_cast<int64_t>(blockIdx.x) * kWarp + threadIdx.x;
  const int64_t chunk = blockIdx.y, img = blockIdx.z;
  float s1 = 0.f, s2 = 0.f;
  if (ch < c) {
    const int64_t base = img * hw * c + ch;
    const float shift = load(x, base);
    if (shift_out != nullptr && chunk == 0 && threadIdx.y == 0) shift_out[img * c + ch] = shift;
    const float shift_of_a = shift_a ? shift : 0.f;
    const float silu_scale = silu.scale != nullptr ? silu.scale[img * c + ch] : 0.f;
    const float silu_offset = silu.scale != nullptr ? silu.offset[img * c + ch] : 0.f;
    const int64_t end = (chunk + 1) * rows < hw ? (chunk + 1) * rows : hw;
    for (int64_t r = chunk * rows + threadIdx.y; r < end; r += kRowsPerBlock) {
      const int64_t i = base + r * c;
      const float xi = load(x, i);
      float ai = load(a, i);
      if (silu.scale != nullptr) ai = silu_grad(ai, xi * silu_scale + silu_offset);
      const float u = ai - shift_of_a;
      s1 += u;
      s2 += u * (xi - shift);
    }
  }
  part1[threadIdx.y][threadIdx.x] = s1;
  part2[threadIdx.y][threadIdx.x] = s2;
  __syncthreads();
  if (threadIdx.y != 0 || ch >= c) return;
  for (int j = 1; j < kRowsPerBlock; ++j) {
    s1 += part1[j][threadIdx.x];
    s2 += part2[j][threadIdx.x];
  }
  const int64_t o = (img * gridDim.y + chunk) * c + ch;
  sum1[o] = s1;
  sum2[o] = s2;
}

// The same over 16-byte packs of K neighbouring channels: grid (ceil(C / (16·K)), chunks, N), block (16, 16); a
// thread per pack and row of the chunk, so a warp reads two rows of 256 contiguous bytes (where a thread per channel
// reads 64 bytes, 2 at a time). The caller checked that C divides into packs and that a and x are 16-byte aligned.
// kSilu: the backward through a fused SiLU (silu.scale set); the statistics pass, without it, needs 2K registers
// fewer for its K channels: 68 against 86 in bf16 on sm_90, 3 blocks of 256 on an SM instead of 2 (64, for 4,
// spills).
template <typename T, bool kSilu>
__global__ void channel_sums_nhwc_packed_kernel(const T* a, const T* x, bool shift_a, Silu silu, int64_t hw, int64_t c,
                                                int64_t rows, float* sum1, float* sum2, float* shift_out) {
  constexpr int K = kLanes16<T>;
  using P = Pack<T, K>;
  __shared__ float part1[kPackRows][kPackColumns * K], part2[kPackRows][kPackColumns * K];
  const int64_t ch0 = (static_cast<int64_t>(blockIdx.x) * kPackColumns + threadIdx.x) * K;  // the pack's first
  const int64_t chunk = blockIdx.y, img = blockIdx.z;
  float s1[K] = {}, s2[K] = {};
  if (ch0 < c) {
    const int64_t base = img * hw * c + ch0;
    const P first = *reinterpret_cast<const P*>(x + base);
    float shift[K], silu_scale[K], silu_offset[K];
#pragma unroll
    for (int k = 0; k < K; ++k) {
      shift[k] = load(first.v, k);
      silu_scale[k] = kSilu ? silu.scale[img * c + ch0 + k] : 0.f;
      silu_offset[k] = kSilu ? silu.offset[img * c + ch0 + k] : 0.f;
      if (shift_out != nullptr && chunk == 0 && threadIdx.y == 0) shift_out[img * c + ch0 + k] = shift[k];
    }
    const int64_t end = (chunk + 1) * rows < hw ? (chunk + 1) * rows : hw;
    for (int64_t r = chunk * rows + threadIdx.y; r < end; r += kPackRows) {
      const int64_t i = base + r * c;
      const P xp = *reinterpret_cast<const P*>(x + i), ap = *reinterpret_cast<const P*>(a + i);
#pragma unroll
      for (int k = 0; k < K; ++k) {
        const float xi = load(xp.v, k);
        float ai = load(ap.v, k);
        if (kSilu) ai = silu_grad(ai, xi * silu_scale[k] + silu_offset[k]);
        const float u = shift_a ? ai - shift[k] : ai;
        s1[k] += u;
        s2[k] += u * (xi - shift[k]);
      }
    }
  }
#pragma unroll
  for (int k = 0; k < K; ++k) {
    part1[threadIdx.y][threadIdx.x * K + k] = s1[k];
    part2[threadIdx.y][threadIdx.x * K + k] = s2[k];
  }
  __syncthreads();
  if (threadIdx.y != 0 || ch0 >= c) return;
  const int64_t o = (img * gridDim.y + chunk) * c + ch0;
#pragma unroll
  for (int k = 0; k < K; ++k) {
    for (int j = 1; j < kPackRows; ++j) {
      s1[k] += part1[j][threadIdx.x * K + k];
      s2[k] += part2[j][threadIdx.x * K + k];
    }
    sum1[o + k] = s1[k];
    sum2[o + k] = s2[k];
  }
}

// NCHW: grid (ceil(N·C / 8), chunks), block 8 warps; a warp per image and channel, whose HW pixels lie in a
// row: its lanes stride the chunk's pixels (coalesced), then add their sums in a fixed tree.
template <typename T>
__global__ void channel_sums_nchw_kernel(const T* a, const T* x, bool shift_a, Silu silu, int64_t planes, int64_t hw,
                                         int64_t c, int64_t pixels, float* sum1, float* sum2, float* shift_out) {
  const int lane = threadIdx.x % kWarp;
  const int64_t plane = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;  // n·C + c
  if (plane >= planes) return;  // the whole warp: the shuffles below see full warps only
  const int64_t chunk = blockIdx.y, base = plane * hw;
  const float shift = load(x, base);
  if (shift_out != nullptr && chunk == 0 && lane == 0) shift_out[plane] = shift;
  const float shift_of_a = shift_a ? shift : 0.f;
  const float silu_scale = silu.scale != nullptr ? silu.scale[plane] : 0.f;
  const float silu_offset = silu.scale != nullptr ? silu.offset[plane] : 0.f;
  float s1 = 0.f, s2 = 0.f;
  const int64_t end = (chunk + 1) * pixels < hw ? (chunk + 1) * pixels : hw;
  for (int64_t p = chunk * pixels + lane; p < end; p += kWarp) {
    const float xi = load(x, base + p);
    float ai = load(a, base + p);
    if (silu.scale != nullptr) ai = silu_grad(ai, xi * silu_scale + silu_offset);
    const float u = ai - shift_of_a;
    s1 += u;
    s2 += u * (xi - shift);
  }
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    s1 += __shfl_down_sync(0xffffffffu, s1, offset);
    s2 += __shfl_down_sync(0xffffffffu, s2, offset);
  }
  if (lane != 0) return;
  const int64_t o = (plane / c * gridDim.y + chunk) * c + plane % c;
  sum1[o] = s1;
  sum2[o] = s2;
}

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

// One output element from x's element xi and dy's dyi (has_dy), with its channel's table entries e.
__device__ __forceinline__ float affine_value(float xi, bool has_dy, float dyi, const AffineEntry& e, bool has_silu,
                                              bool silu_out) {
  float v = xi * e.scale_x + e.offset;
  if (has_dy) v += (has_silu ? silu_grad(dyi, xi * e.silu_scale + e.silu_offset) : dyi) * e.scale_dy;
  return silu_out ? apply_silu(v) : v;
}

// Grid-stride over the N·HW·C elements; I is the index type (32-bit when it fits: the divisions per element
// are most of the arithmetic of this memory-bound kernel).
template <typename T, typename I, bool kNchw>
__global__ void affine_kernel(const T* x, const T* dy, const float* scale_x, const float* scale_dy, const float* offset,
                              bool silu_out, Silu silu, T* out, I hw, I hw_c, I c, I total) {
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<I>(blockDim.x) * gridDim.x) {
    const bool has_dy = dy != nullptr;
    const auto e = affine_entry(table_entry<I, kNchw>(i, hw, hw_c, c), scale_x, scale_dy, offset, has_dy, silu);
    store(out, i, affine_value(load(x, i), has_dy, has_dy ? load(dy, i) : 0.f, e, silu.scale != nullptr, silu_out));
  }
}

// NCHW over packs of K = 16 bytes of neighbouring pixels of one plane, a load or store each, the table entry worked
// out once per pack: the caller checked the alignment and that HW % K == 0.
template <typename T, typename I>
__global__ void affine_nchw_packed_kernel(const T* x, const T* dy, const float* scale_x, const float* scale_dy,
                                          const float* offset, bool silu_out, Silu silu, T* out, I hw, I packs) {
  constexpr int K = kLanes16<T>;
  using P = Pack<T, K>;
  const auto* xp = reinterpret_cast<const P*>(x);
  const auto* dyp = reinterpret_cast<const P*>(dy);
  auto* op = reinterpret_cast<P*>(out);
  for (I p = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; p < packs;
       p += static_cast<I>(blockDim.x) * gridDim.x) {
    const bool has_dy = dy != nullptr;
    const auto e = affine_entry(p * K / hw, scale_x, scale_dy, offset, has_dy, silu);
    const P xv = xp[p];
    P dv{};
    if (has_dy) dv = dyp[p];
    P o;
#pragma unroll
    for (int k = 0; k < K; ++k)
      store(o.v, k, affine_value(load(xv.v, k), has_dy, load(dv.v, k), e, silu.scale != nullptr, silu_out));
    op[p] = o;
  }
}

// Channels_last over packs of K = 16 bytes of neighbouring channels of one pixel (the caller checked the alignment
// and that C % K == 0). Grid (blocks, N): a block walks one image, and the stride is a multiple of the packs per
// pixel (channel_pack_walk.h), so a thread keeps one channel pack of one image and holds its K entries of each table
// in registers, read once: read per pack, they were 8 scattered 4-byte loads per table, a warp's spanning 8 cache
// lines each, several times the pack's own traffic.
template <typename T, typename I>
__global__ void affine_nhwc_packed_kernel(const T* x, const T* dy, const float* scale_x, const float* scale_dy,
                                          const float* offset, bool silu_out, Silu silu, T* out, I q, I hw_q) {
  constexpr int K = kLanes16<T>;
  using P = Pack<T, K>;
  const I image = blockIdx.y, first = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x;
  const I base = image * hw_q;
  const auto* xp = reinterpret_cast<const P*>(x) + base;
  const auto* dyp = reinterpret_cast<const P*>(dy) + base;
  auto* op = reinterpret_cast<P*>(out) + base;
  const bool has_dy = dy != nullptr, has_silu = silu.scale != nullptr;
  const I j0 = kernels::channel_pack_row(image, first, q) * K;
  AffineEntry e[K];
#pragma unroll
  for (int k = 0; k < K; ++k) e[k] = affine_entry(j0 + k, scale_x, scale_dy, offset, has_dy, silu);
  for (I p = first; p < hw_q; p += static_cast<I>(blockDim.x) * gridDim.x) {
    const P xv = xp[p];
    P dv{};
    if (has_dy) dv = dyp[p];
    P o;
#pragma unroll
    for (int k = 0; k < K; ++k)
      store(o.v, k, affine_value(load(xv.v, k), has_dy, load(dv.v, k), e[k], has_silu, silu_out));
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

void check_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("GroupNorm (fused) kernel ") + what + ": " + cudaGetErrorString(e));
}

}  // namespace

int64_t pixels_per_chunk(Layout layout, int64_t n, int64_t hw, int64_t c) {
  // ~15 blocks per SM of an H100/H200 (channels_last), a warp per chunk of a plane at the same occupancy (NCHW):
  // enough to hide the loads' latency. A small batch would otherwise get thousands of chunks, each a serial load
  // in the table kernels.
  if (layout == Layout::kNchw) {
    constexpr int64_t kWarps = 2048 * kWarpsPerBlock;
    const int64_t chunks = std::clamp<int64_t>(kWarps / std::max<int64_t>(1, n * c), 1, 64);
    return std::max<int64_t>(kWarp, (hw + chunks - 1) / chunks);
  }
  constexpr int64_t kBlocks = 2048;
  const int64_t channel_blocks = (c + kWarp - 1) / kWarp;
  const int64_t chunks = std::clamp<int64_t>(kBlocks / std::max<int64_t>(1, n * channel_blocks), 1, 64);
  return std::max<int64_t>(kRowsPerBlock, (hw + chunks - 1) / chunks);
}

void channel_sums(Dtype t, Layout layout, const void* a, const void* x, bool shift_a, const Silu& silu, int64_t n,
                  int64_t hw, int64_t c, int64_t pixels, float* sum1, float* sum2, float* shift, void* stream) {
  const auto chunks = static_cast<unsigned>((hw + pixels - 1) / pixels);
  const auto s = static_cast<cudaStream_t>(stream);
  dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const auto* a_t = static_cast<const T*>(a);
    const auto* x_t = static_cast<const T*>(x);
    if (layout == Layout::kNchw) {
      const auto blocks = static_cast<unsigned>((n * c + kWarpsPerBlock - 1) / kWarpsPerBlock);
      channel_sums_nchw_kernel<T><<<dim3(blocks, chunks), kWarp * kWarpsPerBlock, 0, s>>>(
          a_t, x_t, shift_a, silu, n * c, hw, c, pixels, sum1, sum2, shift);
    } else if (constexpr int K = kLanes16<T>;
               c % K == 0 && aligned(a, sizeof(Pack<T, K>)) && aligned(x, sizeof(Pack<T, K>))) {
      const dim3 grid((c / K + kPackColumns - 1) / kPackColumns, chunks, n), block(kPackColumns, kPackRows);
      if (silu.scale != nullptr)
        channel_sums_nhwc_packed_kernel<T, true>
            <<<grid, block, 0, s>>>(a_t, x_t, shift_a, silu, hw, c, pixels, sum1, sum2, shift);
      else
        channel_sums_nhwc_packed_kernel<T, false>
            <<<grid, block, 0, s>>>(a_t, x_t, shift_a, silu, hw, c, pixels, sum1, sum2, shift);
    } else {
      const dim3 grid((c + kWarp - 1) / kWarp, chunks, n), block(kWarp, kRowsPerBlock);
      channel_sums_nhwc_kernel<T><<<grid, block, 0, s>>>(a_t, x_t, shift_a, silu, hw, c, pixels, sum1, sum2, shift);
    }
  });
  check_launch("channel_sums");
}

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

void affine(Dtype t, Layout layout, const void* x, const void* dy, const float* scale_x, const float* scale_dy,
            const float* offset, bool silu_out, const Silu& silu, void* out, int64_t n, int64_t hw, int64_t c,
            void* stream) {
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
                        aligned(dy, kPackBytes) && aligned(out, kPackBytes);
    auto launch = [&](auto index, auto nchw) {
      using I = decltype(index);
      const auto* x_t = static_cast<const T*>(x);
      const auto* dy_t = static_cast<const T*>(dy);
      auto* out_t = static_cast<T*>(out);
      const auto hw_i = static_cast<I>(hw), hw_c = static_cast<I>(hw * c), c_i = static_cast<I>(c);
      const auto s = static_cast<cudaStream_t>(stream);
      if (packed && decltype(nchw)::value) {
        affine_nchw_packed_kernel<T, I><<<blocks_for(total / K), kThreads, 0, s>>>(
            x_t, dy_t, scale_x, scale_dy, offset, silu_out, silu, out_t, hw_i, static_cast<I>(total / K));
      } else if (packed) {
        // About 4 packs a thread, the 8192 blocks of the other kernels shared among the images.
        const int64_t q = c / K;
        const auto blocks = kernels::channel_pack_blocks(hw * q, q, kThreads, 4, kMaxBlocks / n);
        affine_nhwc_packed_kernel<T, I>
            <<<dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(n)), kThreads, 0, s>>>(
                x_t, dy_t, scale_x, scale_dy, offset, silu_out, silu, out_t, static_cast<I>(q), static_cast<I>(hw * q));
      } else {
        affine_kernel<T, I, decltype(nchw)::value><<<blocks_for(total), kThreads, 0, s>>>(
            x_t, dy_t, scale_x, scale_dy, offset, silu_out, silu, out_t, hw_i, hw_c, c_i, static_cast<I>(total));
      }
    };
    auto with_index = [&](auto nchw) {
      if (total < std::numeric_limits<uint32_t>::max() / 2)
        launch(uint32_t{0}, nchw);
      else
        launch(int64_t{0}, nchw);
    };
    if (layout == Layout::kNchw)
      with_index(std::true_type{});
    else
      with_index(std::false_type{});
  });
  check_launch("affine");
}

}  // namespace scorch::models::fused_norm
