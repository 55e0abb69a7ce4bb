// The packed channels_last sums kernel's blocks (core/models/channel_sums_blocks.h), run on the CPU thread by
// thread as the GPU runs them: every pack of every pixel read once, by a thread of its image, chunk and channels,
// and the pairwise sums of a block's rows leave each column's whole sum in its row-0 thread.
#include "core/models/channel_sums_blocks.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace scorch::models::kernels {
namespace {

struct SumsShape {
  int64_t n, hw, c, lanes;  // lanes: channels in a 16-byte pack (8 in bf16/fp16, 4 in float32)
};

// Walks every thread of the (ceil(Q / columns), chunks, N) grid as the kernel does, with pack p of pixel r of image
// i worth a number of its own, then adds each block's rows as the kernel does and checks the row-0 threads' sums.
void walk_sums(const SumsShape& s) {
  const int64_t q = s.c / s.lanes;
  const int columns = sums_columns(q);
  ASSERT_EQ(kSumsThreads % columns, 0);
  const int row_step = kSumsThreads / columns;
  const int64_t pixels = sums_pixels_per_chunk(s.n, s.hw, s.c, int64_t{columns} * s.lanes, row_step);
  const int64_t chunks = (s.hw + pixels - 1) / pixels, blocks_x = (q + columns - 1) / columns;
  ASSERT_LE(chunks, kSumsMaxChunks);
  const auto worth = [&](int64_t image, int64_t r, int64_t pack) { return double((image * s.hw + r) * q + pack); };
  std::vector<int> visits(static_cast<size_t>(s.n * s.hw * q), 0);
  std::vector<double> part(kSumsThreads);
  for (int64_t image = 0; image < s.n; ++image)
    for (int64_t chunk = 0; chunk < chunks; ++chunk)
      for (int64_t bx = 0; bx < blocks_x; ++bx) {
        const int64_t end = std::min((chunk + 1) * pixels, s.hw);
        for (int t = 0; t < kSumsThreads; ++t) {
          const int64_t pack = bx * columns + sums_column(t, columns);
          part[t] = 0;
          if (pack >= q) continue;
          for (int64_t r = chunk * pixels + sums_row(t, columns); r < end; r += row_step) {
            ++visits[static_cast<size_t>((image * s.hw + r) * q + pack)];
            part[t] += worth(image, r, pack);
          }
        }
        for (int half = row_step / 2; half > 0; half /= 2)
          for (int t = 0; t < kSumsThreads; ++t)
            if (sums_row(t, columns) < half) part[t] += part[sums_partner(t, half, columns)];
        for (int t = 0; t < columns; ++t) {
          const int64_t pack = bx * columns + sums_column(t, columns);
          if (pack >= q) continue;
          double want = 0;
          for (int64_t r = chunk * pixels; r < end; ++r) want += worth(image, r, pack);
          ASSERT_EQ(part[t], want) << "image " << image << ", chunk " << chunk << ", pack " << pack;
        }
      }
  for (size_t p = 0; p < visits.size(); ++p) ASSERT_EQ(visits[p], 1) << "pack-pixel " << p;
}

// 1024²'s 16 channels in bf16 (2 packs: 2 columns × 128 rows), NCSN++'s 128 and 512 in bf16, a concatenation's 384
// (3 blocks of 16 columns), packs that leave columns idle (3 of 4, 5 and 6 of 8), float32's 4 channels a pack, one
// pixel, and chunks that end short.
TEST(ChannelSumsBlocks, EveryPackOnceAndEachColumnsWholeSum) {
  for (const SumsShape& s : {SumsShape{2, 4096, 16, 8}, SumsShape{4, 65536, 128, 8}, SumsShape{3, 16, 512, 8},
                             SumsShape{5, 49, 384, 8}, SumsShape{3, 1, 24, 8}, SumsShape{2, 81, 20, 4},
                             SumsShape{1, 35, 48, 8}, SumsShape{32, 169, 80, 8}, SumsShape{1, 1000, 32, 4}})
    walk_sums(s);
}

// The grid of the shapes the H200 profile ran: about kSumsBlocks blocks, every thread with rows to read.
TEST(ChannelSumsBlocks, ChunksFillTheGpuAtTheProfilesShapes) {
  // (32, 128, 256², bf16): 16 columns, one block of channels, 64 chunks of 1024 rows: 2048 blocks.
  EXPECT_EQ(sums_columns(16), 16);
  EXPECT_EQ(sums_pixels_per_chunk(32, 65536, 128, 128, 16), 1024);
  // (8, 16, 1024², bf16): 2 columns × 128 rows, 64 chunks of 16384 rows, 128 rows a thread.
  EXPECT_EQ(sums_columns(2), 2);
  EXPECT_EQ(sums_pixels_per_chunk(8, 1 << 20, 16, 16, 128), 16384);
  // A small image: one row a thread at least.
  EXPECT_EQ(sums_pixels_per_chunk(1, 100, 16, 16, 128), 128);
  EXPECT_EQ(sums_columns(1), 1);
  EXPECT_EQ(sums_columns(64), 16);
}

}  // namespace
}  // namespace scorch::models::kernels
