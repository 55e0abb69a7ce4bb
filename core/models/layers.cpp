// Basic layers of the score networks: initialisers and the small building blocks.
#include "core/models/layers.h"

#include <cmath>

#include "core/error.h"

namespace scorch::models {

namespace {

// A named function rather than a lambda, so that norm_act can recognise it inside an Activation.
torch::Tensor silu(const torch::Tensor& x) { return torch::silu(x); }

bool is_silu(const Activation& act) {
  using Fn = torch::Tensor (*)(const torch::Tensor&);
  const auto* fn = act.target<Fn>();
  return fn != nullptr && *fn == &silu;
}

}  // namespace

Activation make_activation(const std::string& name) {
  if (name == "swish" || name == "silu") return &silu;
  if (name == "elu") return [](const torch::Tensor& x) { return torch::elu(x); };
  if (name == "relu") return [](const torch::Tensor& x) { return torch::relu(x); };
  if (name == "lrelu") return [](const torch::Tensor& x) { return torch::leaky_relu(x, 0.2); };
  SCORCH_FAIL("model.nonlinearity '{}' is not one of swish, elu, relu, lrelu", name);
}

torch::Tensor norm_act(GroupNormImpl& norm, const Activation& act, const torch::Tensor& x, const torch::Tensor& pre) {
  const bool fuse_silu = is_silu(act);
  if (!pre.defined()) return fuse_silu ? norm.forward_silu(x) : act(norm.forward(x));
  const auto y = norm.forward_shifted(x, pre, fuse_silu);
  return fuse_silu ? y : act(y);
}

std::pair<torch::Tensor, torch::Tensor> norm_act_passing_input(GroupNormImpl& norm, const Activation& act,
                                                               const torch::Tensor& x, Switch input_grad) {
  const bool fuse_silu = act && is_silu(act);
  if (!switch_applies(input_grad, x.is_cuda()) || !torch::GradMode::is_enabled() || !x.requires_grad())
    return {act ? norm_act(norm, act, x) : norm.forward(x), x};
  auto [y, input] = norm.forward_passing_input(x, fuse_silu);
  return {fuse_silu || !act ? y : act(y), input};
}

torch::Tensor default_init(torch::IntArrayRef shape, double scale) {
  SCORCH_CHECK(shape.size() >= 2, "default_init needs at least 2 dims, got {}", shape.size());
  if (scale == 0.0) scale = 1e-10;
  double numel = 1;
  for (auto s : shape) numel *= static_cast<double>(s);
  const double receptive = numel / static_cast<double>(shape[0]) / static_cast<double>(shape[1]);
  const double fan_in = static_cast<double>(shape[1]) * receptive;
  const double fan_out = static_cast<double>(shape[0]) * receptive;
  const double bound = std::sqrt(3.0 * scale / ((fan_in + fan_out) / 2.0));
  return (torch::rand(shape) * 2.0 - 1.0) * bound;
}

void default_init_(torch::Tensor& weight, double scale) {
  torch::NoGradGuard no_grad;
  weight.copy_(default_init(weight.sizes(), scale));
}

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, double init_scale, int64_t stride,
                            int64_t padding) {
  if (padding < 0) padding = kernel / 2;
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(true));
  default_init_(conv->weight, init_scale);
  torch::nn::init::zeros_(conv->bias);
  return conv;
}

torch::Tensor conv_without_bias(const torch::nn::Conv2dImpl& conv, const torch::Tensor& x) {
  const auto& o = conv.options;
  const auto* padding = std::get_if<torch::ExpandingArray<2>>(&o.padding());
  SCORCH_CHECK(padding != nullptr && std::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()),
               "conv_without_bias: a convolution with numeric zero padding expected");
  return torch::conv2d(x, conv.weight, {}, o.stride(), *padding, o.dilation(), o.groups());  // (B, C_out, H', W')
}

torch::nn::Linear make_linear(int64_t in, int64_t out) {
  torch::nn::Linear linear(in, out);
  default_init_(linear->weight, 1.0);
  torch::nn::init::zeros_(linear->bias);
  return linear;
}

GroupNorm make_group_norm(int64_t channels, int64_t groups) {
  if (groups <= 0) groups = std::min<int64_t>(channels / 4, 32);
  return GroupNorm(groups, channels, 1e-6);
}

NINImpl::NINImpl(int64_t in_dim, int64_t num_units, double init_scale) {
  W = register_parameter("W", default_init({in_dim, num_units}, init_scale));
  b = register_parameter("b", torch::zeros({num_units}));
}

torch::Tensor NINImpl::forward(const torch::Tensor& x) {
  // A 1×1 convolution with weight W^T is the same contraction over channels and keeps channels_last intact.
  auto weight = W.t().unsqueeze(-1).unsqueeze(-1);  // (out, in, 1, 1)
  return torch::conv2d(x, weight.to(x.scalar_type()), b.to(x.scalar_type()));
}

torch::Tensor NINImpl::forward_without_bias(const torch::Tensor& x) {
  return torch::conv2d(x, W.t().unsqueeze(-1).unsqueeze(-1).to(x.scalar_type()));
}

}  // namespace scorch::models
