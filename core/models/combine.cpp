// Combine: merges the progressive input pyramid into the U-Net features.
#include "core/models/combine.h"

#include "core/error.h"
#include "core/models/layers.h"

namespace scorch::models {

CombineImpl::CombineImpl(int64_t dim1, int64_t dim2, const std::string& method_) : method(method_) {
  SCORCH_CHECK(method == "sum" || method == "cat", "model.progressive_combine '{}' is not sum or cat", method);
  Conv_0 = register_module("Conv_0", conv1x1(dim1, dim2));
}

torch::Tensor CombineImpl::forward(const torch::Tensor& x, const torch::Tensor& y) {
  auto h = Conv_0->forward(x);
  return method == "cat" ? torch::cat({h, y}, 1) : h + y;
}

}  // namespace scorch::models
