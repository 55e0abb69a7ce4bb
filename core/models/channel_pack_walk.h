// How an elementwise kernel over channels_last data in packs of K neighbouring channels gives each thread one channel
// pack of one image, so that it reads the pack's per-channel (N, C) table entries once instead of once per pack
// (compiled for the GPU, and for the CPU tests that walk every thread).
#pragma once
#include <algorithm>
#include <cstdint>
#include <numeric>

#include "core/models/kernel_types.h"

namespace scorch::models::kernels {

// Blocks of `threads` per image (the grid's y) for a grid-stride loop over one image's `hw_q` packs, Q per pixel:
// enough for about `packs_per_thread` packs each, at most `max_blocks` (the caller's share of the GPU per image, at
// least 1), then rounded up to a multiple of Q / gcd(threads, Q), so that the stride is a multiple of Q and a
// thread's packs p all have the channel pack p % Q of its first.
inline int64_t channel_pack_blocks(int64_t hw_q, int64_t q, int threads, int64_t packs_per_thread, int64_t max_blocks) {
  const int64_t step = q / std::gcd(static_cast<int64_t>(threads), q);
  const int64_t wanted = (hw_q + threads * packs_per_thread - 1) / (threads * packs_per_thread);
  const int64_t blocks = std::clamp<int64_t>(wanted, 1, std::max<int64_t>(1, max_blocks));
  return (blocks + step - 1) / step * step;
}

// The row of the (N, C / K) tables that thread `first` of image `image` reads throughout its walk: image · Q plus
// its channel pack; its K entries start at row · K.
template <typename I>
SCORCH_HOST_DEVICE inline I channel_pack_row(I image, I first, I q) {
  return image * q + first % q;
}

}  // namespace scorch::models::kernels
