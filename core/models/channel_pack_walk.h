// The grid-stride walk of an elementwise kernel over channels_last data in packs of K neighbouring channels in
// which every thread keeps one channel pack, so it reads the pack's per-channel (N, C) table entries once per
// image instead of once per pack (compiled for the GPU, and for the CPU tests that walk every thread).
#pragma once
#include <algorithm>
#include <cstdint>
#include <numeric>

#include "core/models/kernel_types.h"

namespace scorch::models::kernels {

// Blocks of `threads` for a grid-stride loop over `packs` packs, Q per pixel: about `work` / `threads` blocks, at
// most `max_blocks` rounded up, and a multiple of Q / gcd(threads, Q), so that the grid's stride is a multiple of
// Q and pack p % Q (the channel pack) stays the same along each thread's walk.
inline int64_t channel_pack_blocks(int64_t packs, int64_t q, int threads, int64_t max_blocks) {
  const int64_t step = q / std::gcd(static_cast<int64_t>(threads), q);
  const int64_t blocks = std::clamp<int64_t>((packs + threads - 1) / threads, 1, max_blocks);
  return (blocks + step - 1) / step * step;
}

// Where a thread's walk is: packs come in increasing order, Q per pixel and hw_q per image. `next(p)` says
// whether pack p begins another image for this thread; `row` is then the pack's row of the (N, C / K) tables,
// image · Q + p % Q, so its K table entries start at row · K.
template <typename I>
struct ChannelPackRows {
  I q, hw_q;
  I end = 0;  // the first pack past the current image
  I row = 0;

  SCORCH_HOST_DEVICE bool next(I p) {
    if (p < end) return false;
    const I image = p / hw_q;
    end = (image + 1) * hw_q;
    row = image * q + p % q;
    return true;
  }
};

}  // namespace scorch::models::kernels
