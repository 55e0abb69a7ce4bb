// check_model_images / read_pixels / read_unit_images: what encode, likelihood and the inverse problems share.
#include "sampler/model_images.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace scorch::sampler {

void check_model_images(const data::Dataset& ds, const std::vector<int64_t>& s) {
  const auto& m = ds.manifest();
  SCORCH_CHECK_HINT(s[1] > 1 || s[2] > 1, "sample points models with `scorch sample` (docs/score-matching.md)",
                    "the model makes {}-D points (model.name mlp): this command works on image datasets", s[0]);
  SCORCH_CHECK(m.kind == "images" && m.shape == std::vector<int64_t>({s[1], s[2], s[0]}),
               "{} holds {} items of shape {}, the model makes {}x{}x{} images", ds.dir(), m.kind,
               nlohmann::json(m.shape).dump(), s[1], s[2], s[0]);
  SCORCH_CHECK(ds.size() > 0, "{} holds no images", ds.dir());
}

void check_num_within(int64_t num, const data::Dataset& ds) {
  SCORCH_CHECK_HINT(num <= ds.size(), "leave --num out for the whole dataset", "--num {} exceeds the {} images of {}",
                    num, ds.size(), ds.dir());
}

torch::Tensor rows_padded(const torch::Tensor& t, int64_t first, int64_t rows) {
  const int64_t have = std::max<int64_t>(0, std::min(rows, t.size(0) - first));
  auto part = t.slice(0, first, first + have);
  if (have == rows) return part;
  auto shape = t.sizes().vec();
  shape[0] = rows - have;
  return torch::cat({part, torch::zeros(shape, t.options())});
}

torch::Tensor read_pixels(const data::Dataset& ds, int64_t first, int64_t n) {
  const int64_t have = std::max<int64_t>(0, std::min(n, ds.size() - first));
  std::vector<int64_t> idx(have);
  for (int64_t i = 0; i < have; ++i) idx[i] = first + i;
  auto pixels = ds.read_items(idx);  // (have, H, W, C)
  if (have == n) return pixels;
  auto shape = pixels.sizes().vec();
  shape[0] = n - have;
  return torch::cat({pixels, torch::zeros(shape, pixels.options())});
}

torch::Tensor read_unit_images(const data::Dataset& ds, int64_t first, int64_t n, const torch::Device& device) {
  return read_pixels(ds, first, n).permute({0, 3, 1, 2}).to(device, torch::kFloat32) / 255.0;
}

}  // namespace scorch::sampler
