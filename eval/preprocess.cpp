// The pytorch-fid and TF1 preprocessing pipelines (resize to 299, scale to the network's input range).
#include "eval/preprocess.h"

#include <cmath>

#include "core/error.h"

namespace scorch::eval {

namespace {

// Per output index along one axis: source rows below/above and the float32 weight, as TF computes
// them: scale = in / out in float, source = out_index * scale in float, lower = floor, clamp above.
struct Axis {
  torch::Tensor lo, hi, frac;
};

Axis tf_axis(int64_t in, int64_t out, const torch::Device& device) {
  std::vector<int64_t> lo(out), hi(out);
  std::vector<float> frac(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t i = 0; i < out; ++i) {
    const float src = static_cast<float>(i) * scale;
    const auto l = static_cast<int64_t>(std::floor(src));
    lo[i] = l;
    hi[i] = std::min(l + 1, in - 1);
    frac[i] = src - static_cast<float>(l);
  }
  return {torch::tensor(lo).to(device), torch::tensor(hi).to(device), torch::tensor(frac).to(device)};
}

}  // namespace

Preprocessing parse_preprocessing(const std::string& name) {
  if (name == "pytorch-fid") return Preprocessing::PytorchFid;
  if (name == "tf") return Preprocessing::Tf;
  SCORCH_FAIL("unknown FID preprocessing '{}' (expected pytorch-fid or tf)", name);
}

std::string to_string(Preprocessing mode) { return mode == Preprocessing::Tf ? "tf" : "pytorch-fid"; }

torch::Tensor resize_bilinear_tf1(const torch::Tensor& x, int64_t out_h, int64_t out_w) {
  SCORCH_CHECK(x.dim() == 4 && x.scalar_type() == torch::kFloat, "resize_bilinear_tf1: expected (B, C, H, W) float32");
  const auto ax_h = tf_axis(x.size(2), out_h, x.device());
  const auto ax_w = tf_axis(x.size(3), out_w, x.device());
  auto top = x.index_select(2, ax_h.lo), bottom = x.index_select(2, ax_h.hi);  // (B, C, out_h, W)
  auto dx = ax_w.frac.view({1, 1, 1, -1});
  auto lerp_x = [&](const torch::Tensor& rows) {
    auto left = rows.index_select(3, ax_w.lo), right = rows.index_select(3, ax_w.hi);
    return left + (right - left) * dx;
  };
  auto t = lerp_x(top), b = lerp_x(bottom);
  return t + (b - t) * ax_h.frac.view({1, 1, -1, 1});
}

torch::Tensor preprocess(const torch::Tensor& images, Preprocessing mode, int64_t size) {
  SCORCH_CHECK(images.dim() == 4 && images.scalar_type() == torch::kByte,
               "FID input must be (B, H, W, C) uint8 images, got {} {}", c10::str(images.sizes()),
               c10::toString(images.scalar_type()));
  const int64_t c = images.size(3);
  SCORCH_CHECK(c == 1 || c == 3 || c == 4, "FID input must have 1, 3 or 4 channels, got {}", c);
  auto x = images.permute({0, 3, 1, 2}).to(torch::kFloat);  // (B, C, H, W) in [0, 255]
  x = c == 1 ? x.expand({-1, 3, -1, -1}) : x.slice(1, 0, 3);
  if (mode == Preprocessing::PytorchFid) {
    x = x / 255.0f;
    if (x.size(2) != size || x.size(3) != size)
      x = torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                    .size(std::vector<int64_t>{size, size})
                                                    .mode(torch::kBilinear)
                                                    .align_corners(false));
    return (2 * x - 1).contiguous();
  }
  x = x.contiguous();
  if (x.size(2) != size || x.size(3) != size) x = resize_bilinear_tf1(x, size, size);
  return ((x - 128.0f) / 128.0f).contiguous();
}

}  // namespace scorch::eval
