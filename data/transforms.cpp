// Per-item transform: one pass over the pixels, writing planar output (the loader's hot loop).
#include "data/transforms.h"

#include "core/rng.h"

namespace scorch::data {

namespace {

// splitmix64 step: a fast counter-based source of uniform bits for the dequantization noise.
inline uint64_t next_bits(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

uint64_t item_key(int64_t epoch, int64_t position) {
  return mix_seed(static_cast<uint64_t>(epoch), static_cast<uint64_t>(position));
}

namespace {

// Deterministic fast path: a 256-entry table per value and fixed channel count, so the compiler unrolls
// the channel loop; rows are walked backwards for a flip.
template <int C>
void convert_lut(const uint8_t* src, float* dst, int height, int width, bool flip, const float* lut) {
  const int64_t plane = int64_t(height) * width;
  for (int y = 0; y < height; ++y) {
    const uint8_t* row = src + int64_t(y) * width * C;
    float* out = dst + int64_t(y) * width;
    for (int x = 0; x < width; ++x) {
      const uint8_t* px = row + int64_t(flip ? width - 1 - x : x) * C;
      for (int c = 0; c < C; ++c) out[c * plane + x] = lut[px[c]];
    }
  }
}

}  // namespace

void transform_image(const uint8_t* src, float* dst, int height, int width, int channels,
                     const TransformOptions& options, uint64_t key) {
  const bool flip = options.random_flip && (mix_seed(options.seed, key) & 1) != 0;
  // [0,1]: x/255; with dequantization (u + x)/256; centering maps y -> 2y - 1.
  const float base_scale = options.uniform_dequantization ? 1.0f / 256.0f : 1.0f / 255.0f;
  const float scale = options.centered ? 2.0f * base_scale : base_scale;
  const float shift = options.centered ? -1.0f : 0.0f;
  if (!options.uniform_dequantization && (channels == 1 || channels == 3)) {
    float lut[256];
    for (int v = 0; v < 256; ++v) lut[v] = float(v) * scale + shift;
    if (channels == 1)
      convert_lut<1>(src, dst, height, width, flip, lut);
    else
      convert_lut<3>(src, dst, height, width, flip, lut);
    return;
  }
  const int64_t plane = int64_t(height) * width;
  uint64_t noise_state = mix_seed(options.seed ^ 0x6465717561ULL, key);
  for (int y = 0; y < height; ++y) {
    const uint8_t* row = src + int64_t(y) * width * channels;
    for (int x = 0; x < width; ++x) {
      const uint8_t* px = row + int64_t(flip ? width - 1 - x : x) * channels;
      float* out = dst + int64_t(y) * width + x;
      for (int c = 0; c < channels; ++c) {
        float v = px[c];
        if (options.uniform_dequantization) v += float(next_bits(noise_state) >> 40) * (1.0f / 16777216.0f);
        out[c * plane] = v * scale + shift;
      }
    }
  }
}

}  // namespace scorch::data
