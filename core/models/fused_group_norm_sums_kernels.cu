// CUDA kernels of GroupNorm's per-channel partial sums (statistics, and the backward's two sums) on channels_last
// or NCHW tensors, each with an optional SiLU gradient fused in; fused_group_norm_kernels.cu has the rest.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/models/channel_sums_blocks.h"
#include "core/models/fused_group_norm_device.cuh"
#include "core/models/fused_group_norm_kernels.h"
#include "core/models/kernel_scalars.cuh"

namespace scorch::models::fused_norm {
namespace {

using kernels::aligned;
using kernels::dispatch;
using kernels::kSumsThreads;
using kernels::load;
using kernels::Pack;
using kernels::sums_columns;

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 8;   // channels_last: a block is 32 channels × 8 rows; its threads walk the rows by 8
constexpr int kWarpsPerBlock = 8;  // NCHW: a block is 8 warps, each one image and channel

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

// The same over 16-byte packs of K neighbouring channels: grid (ceil(C / (columns·K)), chunks, N), kSumsThreads
// threads a block, `columns` packs side by side × kSumsThreads / columns rows (channel_sums_blocks.h); a thread per
// pack and row of the chunk, so with 16 columns a warp reads two rows of 256 contiguous bytes (where a thread per
// channel reads 64 bytes, 2 at a time), and with fewer (a pixel of 16 channels in bf16 is 2 packs) every thread still
// has work. The caller checked that C divides into packs and that a and x are 16-byte aligned.
// kSilu: the backward through a fused SiLU (silu.scale set); the statistics pass, without it, needs 2K registers
// fewer for its K channels: 56 against 83 in bf16 on sm_90, 4 blocks of 256 on an SM instead of 3.
template <typename T, bool kSilu>
__global__ void channel_sums_nhwc_packed_kernel(const T* a, const T* x, bool shift_a, Silu silu, int64_t hw, int64_t c,
                                                int64_t rows, int columns, float* sum1, float* sum2, float* shift_out) {
  constexpr int K = kLanes16<T>;
  using P = Pack<T, K>;
  __shared__ float part1[kSumsThreads * K], part2[kSumsThreads * K];
  const int t = static_cast<int>(threadIdx.x);
  const int column = kernels::sums_column(t, columns), row = kernels::sums_row(t, columns);
  const int row_step = kSumsThreads / columns;
  const int64_t ch0 = (static_cast<int64_t>(blockIdx.x) * columns + column) * K;  // the pack's first channel
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
      if (shift_out != nullptr && chunk == 0 && row == 0) shift_out[img * c + ch0 + k] = shift[k];
    }
    const int64_t end = (chunk + 1) * rows < hw ? (chunk + 1) * rows : hw;
    for (int64_t r = chunk * rows + row; r < end; r += row_step) {
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
    part1[t * K + k] = s1[k];
    part2[t * K + k] = s2[k];
  }
  __syncthreads();
  // row_step is a power of two: the rows' sums are added pairwise, half the rows at a time, the same order in every
  // block and call. Every thread reaches every barrier (the bounds are the block's).
  for (int half = row_step / 2; half > 0; half /= 2) {
    if (row < half) {
      const int other = kernels::sums_partner(t, half, columns) * K;
#pragma unroll
      for (int k = 0; k < K; ++k) {
        part1[t * K + k] += part1[other + k];
        part2[t * K + k] += part2[other + k];
      }
    }
    __syncthreads();
  }
  if (row != 0 || ch0 >= c) return;
  const int64_t o = (img * gridDim.y + chunk) * c + ch0;
#pragma unroll
  for (int k = 0; k < K; ++k) {
    sum1[o + k] = part1[column * K + k];
    sum2[o + k] = part2[column * K + k];
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

// The packed channels_last kernel's lanes for these tensors (K, the channels of a 16-byte pack), or 0 where
// channel_sums takes another kernel.
int packed_lanes(Dtype t, Layout layout, const void* a, const void* x, int64_t c) {
  int lanes = 0;
  if (layout == Layout::kNchw) return lanes;
  dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    constexpr int K = kLanes16<T>;
    if (c % K == 0 && aligned(a, sizeof(Pack<T, K>)) && aligned(x, sizeof(Pack<T, K>))) lanes = K;
  });
  return lanes;
}

}  // namespace

int64_t pixels_per_chunk(Dtype t, Layout layout, const void* a, const void* x, int64_t n, int64_t hw, int64_t c) {
  // ~15 blocks per SM of an H100/H200 (channels_last), a warp per chunk of a plane at the same occupancy (NCHW):
  // enough to hide the loads' latency and to leave a small last wave. A small batch would otherwise get thousands
  // of chunks, each a serial load in the table kernels. The blocks counted are those of the kernel channel_sums
  // will launch: a packed block covers up to 16 packs of channels, four times the 32 channels of an unpacked one
  // in bf16.
  if (layout == Layout::kNchw) {
    constexpr int64_t kWarps = kernels::kSumsBlocks * kWarpsPerBlock;
    const int64_t chunks = std::clamp<int64_t>(kWarps / std::max<int64_t>(1, n * c), 1, kernels::kSumsMaxChunks);
    return std::max<int64_t>(kWarp, (hw + chunks - 1) / chunks);
  }
  const int lanes = packed_lanes(t, layout, a, x, c);
  if (lanes == 0) return kernels::sums_pixels_per_chunk(n, hw, c, kWarp, kRowsPerBlock);
  const int columns = sums_columns(c / lanes);
  return kernels::sums_pixels_per_chunk(n, hw, c, int64_t{columns} * lanes, kSumsThreads / columns);
}

void channel_sums(Dtype t, Layout layout, const void* a, const void* x, bool shift_a, const Silu& silu, int64_t n,
                  int64_t hw, int64_t c, int64_t pixels, float* sum1, float* sum2, float* shift, void* stream) {
  const auto chunks = static_cast<unsigned>((hw + pixels - 1) / pixels);
  const auto s = static_cast<cudaStream_t>(stream);
  const int lanes = packed_lanes(t, layout, a, x, c);
  dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const auto* a_t = static_cast<const T*>(a);
    const auto* x_t = static_cast<const T*>(x);
    if (layout == Layout::kNchw) {
      const auto blocks = static_cast<unsigned>((n * c + kWarpsPerBlock - 1) / kWarpsPerBlock);
      channel_sums_nchw_kernel<T><<<dim3(blocks, chunks), kWarp * kWarpsPerBlock, 0, s>>>(
          a_t, x_t, shift_a, silu, n * c, hw, c, pixels, sum1, sum2, shift);
    } else if (lanes > 0) {
      const int columns = sums_columns(c / lanes);
      const dim3 grid(static_cast<unsigned>((c / lanes + columns - 1) / columns), chunks, n);
      if (silu.scale != nullptr)
        channel_sums_nhwc_packed_kernel<T, true>
            <<<grid, kSumsThreads, 0, s>>>(a_t, x_t, shift_a, silu, hw, c, pixels, columns, sum1, sum2, shift);
      else
        channel_sums_nhwc_packed_kernel<T, false>
            <<<grid, kSumsThreads, 0, s>>>(a_t, x_t, shift_a, silu, hw, c, pixels, columns, sum1, sum2, shift);
    } else {
      const dim3 grid((c + kWarp - 1) / kWarp, chunks, n), block(kWarp, kRowsPerBlock);
      channel_sums_nhwc_kernel<T><<<grid, block, 0, s>>>(a_t, x_t, shift_a, silu, hw, c, pixels, sum1, sum2, shift);
    }
  });
  check_launch("channel_sums");
}

}  // namespace scorch::models::fused_norm
