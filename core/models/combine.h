// Combine: merges the progressive input pyramid into the U-Net features (NCSN++ input_skip).
#pragma once
#include <torch/torch.h>

#include <string>

namespace scorch::models {

// Conv_0 (1×1, dim1 -> dim2) on the pyramid x, then "sum": h + y, or "cat": [h, y] on channels.
class CombineImpl : public torch::nn::Module {
 public:
  CombineImpl(int64_t dim1, int64_t dim2, const std::string& method);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& y);  // x (B, dim1, H, W), y (B, dim2, H, W)
  std::string method;
  torch::nn::Conv2d Conv_0{nullptr};
};
TORCH_MODULE(Combine);

}  // namespace scorch::models
