// How the channels_last per-channel sums kernels (fused_group_norm_sums_kernels.cu) cut an image into chunks of
// pixels and a block's threads into pack columns and rows, and the order a block adds its rows' sums in (compiled
// for the GPU, and for the CPU tests that walk every thread).
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/models/kernel_types.h"

namespace scorch::models::kernels {

inline constexpr int kSumsThreads = 256;       // a packed block's threads
inline constexpr int kSumsMaxColumns = 16;     // packs side by side in a packed block: a warp reads two rows of 256 B
inline constexpr int64_t kSumsBlocks = 2048;   // ~15 blocks per SM of an H100/H200
inline constexpr int64_t kSumsMaxChunks = 64;  // the table kernels add the chunks one after another

// Packs side by side in a packed block: a pixel's q packs rounded up to a power of two, at most 16, so that a pixel
// of few packs (16 bf16 channels are 2) still gives every thread work; the block's other threads take more rows.
SCORCH_HOST_DEVICE inline int sums_columns(int64_t q) {
  int columns = 1;
  while (columns < q && columns < kSumsMaxColumns) columns *= 2;
  return columns;
}

// Thread t of a packed block reads pack column t % columns of row t / columns of its chunk, then every
// kSumsThreads / columns rows after it.
SCORCH_HOST_DEVICE inline int sums_column(int t, int columns) { return t % columns; }
SCORCH_HOST_DEVICE inline int sums_row(int t, int columns) { return t / columns; }

// The rows' sums are added pairwise, a power of two of rows: while `half` rows remain above the lower half, a
// thread of a row below `half` adds the sums of the thread `half` rows further, of its own column.
SCORCH_HOST_DEVICE inline int sums_partner(int t, int half, int columns) { return t + half * columns; }

// Pixels per chunk for blocks that cover `block_channels` of c channels and step `rows` rows at a time: about
// kSumsBlocks blocks over the n images and c channels, at most kSumsMaxChunks chunks, at least one row a thread.
inline int64_t sums_pixels_per_chunk(int64_t n, int64_t hw, int64_t c, int64_t block_channels, int64_t rows) {
  const int64_t channel_blocks = (c + block_channels - 1) / block_channels;
  const int64_t chunks = std::clamp<int64_t>(kSumsBlocks / std::max<int64_t>(1, n * channel_blocks), 1, kSumsMaxChunks);
  return std::max<int64_t>(rows, (hw + chunks - 1) / chunks);
}

}  // namespace scorch::models::kernels
