// GroupNorm with score_sde's parameter names (weight, bias) that keeps a 16-bit autocast input in its dtype.
#pragma once
#include <torch/torch.h>

#include <utility>

#include "core/switch.h"

namespace scorch::models {

// torch.nn.GroupNorm's arithmetic and state_dict. Under autocast to bf16/fp16, with an input already in
// that dtype, the input is normalised as it is: GroupNorm's kernels accumulate the statistics in float32
// for 16-bit inputs, so the mean and variance are float32's either way, while autocast's own rule (run
// GroupNorm in float32) costs a float32 copy of every input, a float32 output, a cast back at the next
// convolution, and the backward of all three (11 % of a bf16 NCSN++ step at 32² on an H200). The output is
// in the input's dtype; the affine parameters are cast to it.
//
// With set_fused(On or Auto) (model.fused_group_norm), a CUDA input goes through fused_group_norm, scorch's
// kernels in either layout, instead of LibTorch's; forward_silu then fuses the SiLU in. A CPU input takes it only
// with On, as every speed switch's `true` forces its CPU loop (slower than LibTorch's there; what CPU tests of
// the layouts and kernels run), and stays on LibTorch's with Auto.
class GroupNormImpl : public torch::nn::Module {
 public:
  GroupNormImpl(int64_t num_groups, int64_t num_channels, double eps);
  torch::Tensor forward(const torch::Tensor& x);       // (B, C, H, W) -> (B, C, H, W)
  torch::Tensor forward_silu(const torch::Tensor& x);  // torch::silu(forward(x))
  // forward(x + pre[:, :, None, None]) (forward_silu of it with `silu`), pre (B, C): on the fused path the kernels
  // take pre into their statistics and x + pre is never formed; otherwise one add in x's dtype first.
  torch::Tensor forward_shifted(const torch::Tensor& x, const torch::Tensor& pre, bool silu);
  // forward(x) (forward_silu with `silu`) and x again for the rest of the block: on the fused path
  // fused_group_norm_passing_input's view, whose gradient this layer's backward adds into x's; otherwise x itself.
  std::pair<torch::Tensor, torch::Tensor> forward_passing_input(const torch::Tensor& x, bool silu);
  void set_fused(Switch s) { fused_ = s; }

  torch::Tensor weight, bias;  // (C,), (C,)

 private:
  bool takes_fused_path(const torch::Tensor& x) const;

  int64_t num_groups_;
  double eps_;
  Switch fused_ = Switch::Off;
};
TORCH_MODULE(GroupNorm);

}  // namespace scorch::models
