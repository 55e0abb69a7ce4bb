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

int64_t whole_batch_rows(int64_t first, int64_t batch, int64_t available) {
  return std::max<int64_t>(0, std::min(batch, available - first));
}

torch::Tensor read_pixels(const data::Dataset& ds, int64_t first, int64_t n) {
  std::vector<int64_t> idx(n);
  for (int64_t i = 0; i < n; ++i) idx[i] = first + i;
  return ds.read_items(idx);
}

torch::Tensor read_unit_images(const data::Dataset& ds, int64_t first, int64_t n, const torch::Device& device) {
  return read_pixels(ds, first, n).permute({0, 3, 1, 2}).to(device, torch::kFloat32) / 255.0;
}

}  // namespace scorch::sampler
