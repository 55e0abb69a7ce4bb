// Basic layers of the score networks with the reference initialisation: convs, linears, GroupNorm, NIN.
#pragma once
#include <torch/torch.h>

#include <functional>

#include "core/models/group_norm.h"

namespace scorch::models {

using Activation = std::function<torch::Tensor(const torch::Tensor&)>;
// "swish" (SiLU), "elu", "relu", "lrelu" (slope 0.2), as config model.nonlinearity names them.
Activation make_activation(const std::string& name);

// act(norm(x)), the pair that opens every residual block; with make_activation's SiLU the GroupNorm applies it
// itself (GroupNormImpl::forward_silu), which fuses it into scorch's GroupNorm kernels when they run. With `pre`
// (B, C), of x + pre[:, :, None, None] (GroupNormImpl::forward_shifted).
torch::Tensor norm_act(GroupNormImpl& norm, const Activation& act, const torch::Tensor& x,
                       const torch::Tensor& pre = {});
// norm_act(norm, act, x) (norm.forward(x) for an empty act) and x for the rest of the block, which takes it in x's
// place. With `input_grad` (model.fused_input_grad) on for x's device, while a gradient is to reach x, that is x as
// GroupNormImpl::forward_passing_input hands it on, so that its gradient joins x's in the GroupNorm's backward;
// otherwise x itself.
std::pair<torch::Tensor, torch::Tensor> norm_act_passing_input(GroupNormImpl& norm, const Activation& act,
                                                               const torch::Tensor& x, Switch input_grad);

// Fan-average uniform variance scaling (the JAX/DDPM default): U(-a, a), a = sqrt(3 scale / fan_avg), with
// fans counted on dims 1 (in) and 0 (out) times the receptive field. scale 0 means 1e-10, as the reference
// does, so "zero" layers are tiny but not exactly zero.
torch::Tensor default_init(torch::IntArrayRef shape, double scale = 1.0);
void default_init_(torch::Tensor& weight, double scale = 1.0);

// k×k convolution, weight default_init(init_scale), bias 0; padding defaults to "same" for stride 1.
torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, double init_scale = 1.0, int64_t stride = 1,
                            int64_t padding = -1);
inline torch::nn::Conv2d conv3x3(int64_t in, int64_t out, double init_scale = 1.0) {
  return make_conv(in, out, 3, init_scale);
}
// conv's convolution alone, its bias left out (for a caller that adds the bias with something else).
torch::Tensor conv_without_bias(const torch::nn::Conv2dImpl& conv, const torch::Tensor& x);
inline torch::nn::Conv2d conv1x1(int64_t in, int64_t out, double init_scale = 1.0) {
  return make_conv(in, out, 1, init_scale);
}
// Linear layer with default_init(1) weight and zero bias.
torch::nn::Linear make_linear(int64_t in, int64_t out);
// NCSN++ GroupNorm: min(C/4, 32) groups; groups = 0 asks for that rule, otherwise a fixed count (DDPM: 32).
// skip + h, divided by √2 when `rescale` (score_sde's skip_rescale keeps the sum's variance that of one input).
inline torch::Tensor skip_join(const torch::Tensor& skip, const torch::Tensor& h, bool rescale) {
  return rescale ? (skip + h) / std::sqrt(2.0) : skip + h;
}

GroupNorm make_group_norm(int64_t channels, int64_t groups = 0);

// Network-in-network: a per-pixel linear map over channels with parameters W (in, out) and b (out,),
// the layout of the reference's state_dict.
class NINImpl : public torch::nn::Module {
 public:
  NINImpl(int64_t in_dim, int64_t num_units, double init_scale = 0.1);
  torch::Tensor forward(const torch::Tensor& x);  // (B, C_in, H, W) -> (B, C_out, H, W)
  // The contraction alone, b left out (for a caller that adds it with something else).
  torch::Tensor forward_without_bias(const torch::Tensor& x);  // (B, C_in, H, W) -> (B, C_out, H, W)
  torch::Tensor W, b;
};
TORCH_MODULE(NIN);

}  // namespace scorch::models
