// The channels_last walk of the GroupNorm affine kernel (core/models/channel_pack_walk.h), run on the CPU thread by
// thread as the GPU runs it: every pack once, each thread on one channel pack, and the table rows it loads are those
// of the pack's image and channels.
#include "core/models/channel_pack_walk.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace scorch::models::kernels {
namespace {

struct Shape {
  int64_t n, hw, c, lanes, max_blocks;
};

// Walks every thread of the grid channel_pack_blocks gives, through ChannelPackRows as the kernel does, and checks
// each pack's table row against its image and channel worked out directly.
void walk(const Shape& s) {
  constexpr int kThreads = 256;
  const int64_t q = s.c / s.lanes, packs = s.n * s.hw * q;
  const int64_t blocks = channel_pack_blocks(packs, q, kThreads, s.max_blocks);
  const int64_t stride = blocks * kThreads;
  ASSERT_EQ(stride % q, 0) << "the grid's stride must keep each thread on one channel pack";
  std::vector<int> visits(static_cast<size_t>(packs), 0);
  for (int64_t first = 0; first < stride; ++first) {
    ChannelPackRows<uint32_t> rows{static_cast<uint32_t>(q), static_cast<uint32_t>(s.hw * q)};
    int64_t loads = 0, images = 0, last_image = -1;
    for (int64_t p = first; p < packs; p += stride) {
      const int64_t image = p / (s.hw * q), channel = p % q * s.lanes;
      if (image != last_image) ++images;
      last_image = image;
      if (rows.next(static_cast<uint32_t>(p))) ++loads;
      ASSERT_EQ(p % q, first % q) << "thread " << first << " changed channel pack at pack " << p;
      ASSERT_EQ(static_cast<int64_t>(rows.row) * s.lanes, image * s.c + channel)
          << "pack " << p << " of thread " << first << " reads the table row of another image or channel";
      ++visits[static_cast<size_t>(p)];
    }
    EXPECT_EQ(loads, images) << "thread " << first << " loads its table entries once per image it meets";
  }
  for (int64_t p = 0; p < packs; ++p) ASSERT_EQ(visits[static_cast<size_t>(p)], 1) << "pack " << p;
}

// NCSN++'s widths in bf16 (8 channels a pack) and float32 (4), a concatenation's 384 and 640 (Q not dividing the
// 256 threads), many images per thread (few blocks), an image longer than the grid, and one pack per pixel.
TEST(ChannelPackWalk, EveryPackOnceWithItsImagesAndChannelsTableRow) {
  for (const Shape& s :
       {Shape{4, 64, 128, 8, 8192}, Shape{3, 49, 384, 8, 4}, Shape{5, 16, 640, 8, 2}, Shape{2, 1024, 256, 4, 3},
        Shape{7, 9, 8, 8, 1}, Shape{1, 4096, 40, 8, 8192}, Shape{6, 25, 12, 4, 1}})
    walk(s);
}

TEST(ChannelPackWalk, BlocksStayNearTheWorkAndTheCap) {
  EXPECT_EQ(channel_pack_blocks(16 * 1024, 16, 256, 8192), 64);  // Q divides the block: no rounding
  EXPECT_EQ(channel_pack_blocks(1 << 30, 16, 256, 8192), 8192);
  EXPECT_EQ(channel_pack_blocks(1 << 30, 48, 256, 8192), 8193);  // rounded up to a multiple of 3
  EXPECT_EQ(channel_pack_blocks(10, 80, 256, 8192), 5);          // a multiple of 80 / gcd(256, 80)
}

}  // namespace
}  // namespace scorch::models::kernels
