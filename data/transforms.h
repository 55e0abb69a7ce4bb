// Image transforms as score_sde applies them: uint8 HWC -> float CHW in [0,1] or [-1,1], random
// horizontal flip, uniform dequantization.
#pragma once
#include <cstdint>

namespace scorch::data {

struct TransformOptions {
  bool random_flip = false;             // data.random_flip (training only)
  bool centered = false;                // data.centered: 2x - 1
  bool uniform_dequantization = false;  // data.uniform_dequantization: (u + 255 x) / 256, u ~ U[0,1)
  uint64_t seed = 0;
};

// The random choices for one item come only from (options.seed, item_key), where the loader passes a key
// derived from (epoch, global position in the epoch): the same image gets the same flip and noise for any
// number of ranks or reader threads.
void transform_image(const uint8_t* src, float* dst, int height, int width, int channels,
                     const TransformOptions& options, uint64_t item_key);

// Stream key of the item at global position `position` of epoch `epoch`.
uint64_t item_key(int64_t epoch, int64_t position);

}  // namespace scorch::data
