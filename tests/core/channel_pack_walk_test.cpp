// The channels_last walk of the GroupNorm affine kernel (core/models/channel_pack_walk.h), run on the CPU thread by
// thread as the GPU runs it: every pack once, each thread on one channel pack of one image, and the table row it
// reads is that of the pack's image and channels.
#include "core/models/channel_pack_walk.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace scorch::models::kernels {
namespace {

struct Shape {
  int64_t n, hw, c, lanes, max_blocks;
};

// Walks every thread of the (blocks, N) grid channel_pack_blocks gives, as the kernel does, and checks each pack's
// table row against its image and channel worked out directly.
void walk(const Shape& s) {
  constexpr int kThreads = 256;
  const int64_t q = s.c / s.lanes, hw_q = s.hw * q;
  const int64_t blocks = channel_pack_blocks(hw_q, q, kThreads, 4, s.max_blocks);
  const int64_t stride = blocks * kThreads;
  ASSERT_EQ(stride % q, 0) << "the grid's stride must keep each thread on one channel pack";
  std::vector<int> visits(static_cast<size_t>(s.n * hw_q), 0);
  for (int64_t image = 0; image < s.n; ++image)
    for (int64_t first = 0; first < stride; ++first) {
      const auto row = channel_pack_row<uint32_t>(static_cast<uint32_t>(image), static_cast<uint32_t>(first),
                                                  static_cast<uint32_t>(q));
      for (int64_t p = first; p < hw_q; p += stride) {
        const int64_t flat = image * hw_q + p;  // the pack's index in the whole tensor
        ASSERT_EQ(static_cast<int64_t>(row) * s.lanes, flat / hw_q * s.c + flat % q * s.lanes)
            << "pack " << p << " of thread " << first << " of image " << image
            << " reads the table row of another image or channel";
        ++visits[static_cast<size_t>(flat)];
      }
    }
  for (size_t p = 0; p < visits.size(); ++p) ASSERT_EQ(visits[p], 1) << "pack " << p;
}

// NCSN++'s widths in bf16 (8 channels a pack) and float32 (4), a concatenation's 384 and 640 (Q not dividing the
// 256 threads), many packs per thread (a low cap), an image longer than the grid, and one pack per pixel.
TEST(ChannelPackWalk, EveryPackOnceWithItsImagesAndChannelsTableRow) {
  for (const Shape& s :
       {Shape{4, 64, 128, 8, 2048}, Shape{3, 49, 384, 8, 1}, Shape{5, 16, 640, 8, 2}, Shape{2, 1024, 256, 4, 3},
        Shape{7, 9, 8, 8, 1}, Shape{1, 4096, 40, 8, 8192}, Shape{6, 25, 12, 4, 1}})
    walk(s);
}

TEST(ChannelPackWalk, BlocksGiveAFewPacksAThreadWithinTheCap) {
  EXPECT_EQ(channel_pack_blocks(256 * 256 * 16, 16, 256, 4, 256), 256);  // 256², 128 bf16 channels, 32 images
  EXPECT_EQ(channel_pack_blocks(32 * 32 * 16, 16, 256, 4, 64), 16);      // 32²: about 4 packs a thread
  EXPECT_EQ(channel_pack_blocks(1 << 30, 48, 256, 4, 8192), 8193);       // rounded up to a multiple of 3
  EXPECT_EQ(channel_pack_blocks(10, 80, 256, 4, 0), 5);                  // at least one, a multiple of 80 / 16
}

}  // namespace
}  // namespace scorch::models::kernels
