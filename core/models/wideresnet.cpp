// The noise-conditional Wide-ResNet classifier (see wideresnet.h).
#include "core/models/wideresnet.h"

#include <cmath>

#include "core/error.h"

namespace scorch::models {

namespace {

GroupNorm wrn_group_norm(int64_t channels) {
  return GroupNorm(std::max<int64_t>(std::min<int64_t>(channels / 4, 32), 1), channels, 1e-5);
}

// Flax's variance_scaling(2, fan_out, normal): std sqrt(2 / (k*k*C_out)); no bias.
torch::nn::Conv2d wrn_conv(int64_t in, int64_t out, int64_t stride) {
  auto conv =
      torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(stride == 1 ? 1 : 0).bias(false));
  torch::NoGradGuard no_grad;
  conv->weight.normal_(0.0, std::sqrt(2.0 / (9.0 * static_cast<double>(out))));
  return conv;
}

// Flax's default Dense: lecun_normal weights (std 1/sqrt(fan_in)), zero bias.
torch::nn::Linear wrn_dense(int64_t in, int64_t out) {
  auto dense = torch::nn::Linear(in, out);
  torch::NoGradGuard no_grad;
  dense->weight.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(in)));
  dense->bias.zero_();
  return dense;
}

// TF's SAME padding for a stride-2 3x3 convolution on an even size: one row and column after, none before.
torch::Tensor same_pad(const torch::Tensor& x, int64_t stride) {
  return stride == 1 ? x : torch::constant_pad_nd(x, {0, 1, 0, 1});
}

}  // namespace

WideResnetBlockImpl::WideResnetBlockImpl(const WideResnetBlockOptions& o) : o_(o) {
  init_bn = register_module("init_bn", wrn_group_norm(o.in()));
  conv1 = register_module("conv1", wrn_conv(o.in(), o.out(), o.stride()));
  Dense_0 = register_module("Dense_0", wrn_dense(o.temb_dim(), o.out()));
  bn_2 = register_module("bn_2", wrn_group_norm(o.out()));
  conv2 = register_module("conv2", wrn_conv(o.out(), o.out(), 1));
}

torch::Tensor WideResnetBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& temb) {
  auto shortcut = x;  // (B, C_in, H, W)
  auto h = torch::relu(init_bn->forward(x));
  if (o_.activate_before_residual()) shortcut = h;
  h = conv1->forward(same_pad(h, o_.stride()));                             // (B, C_out, H', W')
  h = h + Dense_0->forward(torch::silu(temb)).unsqueeze(-1).unsqueeze(-1);  // + (B, C_out, 1, 1)
  h = conv2->forward(torch::relu(bn_2->forward(h)));
  if (o_.in() != o_.out()) {
    if (o_.stride() > 1) shortcut = torch::avg_pool2d(shortcut, o_.stride(), o_.stride());
    shortcut = torch::constant_pad_nd(shortcut, {0, 0, 0, 0, 0, o_.out() - o_.in()});
  }
  return shortcut + h;
}

WideResnetNoiseConditionalImpl::WideResnetNoiseConditionalImpl(const ModelConfig& c) : config_(c) {
  const int64_t channels = c.num_channels, k = c.channel_multiplier;
  SCORCH_CHECK(c.blocks_per_group >= 1 && k >= 1 && c.num_classes >= 2,
               "model.blocks_per_group and model.channel_multiplier must be >= 1 and model.num_classes >= 2, got "
               "{}, {} and {}",
               c.blocks_per_group, k, c.num_classes);
  SCORCH_CHECK(
      static_cast<int64_t>(c.input_mean.size()) == channels && static_cast<int64_t>(c.input_std.size()) == channels,
      "model.input_mean and model.input_std need one value per channel (data.num_channels = {}), got {} and "
      "{}",
      channels, c.input_mean.size(), c.input_std.size());
  for (double s : c.input_std) SCORCH_CHECK(s > 0, "model.input_std values must be positive, got {}", s);
  input_mean_ = register_buffer("input_mean", torch::tensor(c.input_mean, torch::kFloat32).view({1, -1, 1, 1}));
  input_std_ = register_buffer("input_std", torch::tensor(c.input_std, torch::kFloat32).view({1, -1, 1, 1}));
  GaussianFourierProjection_0 = register_module("GaussianFourierProjection_0", GaussianFourierProjection(128, 16.0));
  Dense_0 = register_module("Dense_0", wrn_dense(256, 512));
  Dense_1 = register_module("Dense_1", wrn_dense(512, 512));
  init_conv = register_module("init_conv", wrn_conv(channels, 16, 1));
  int64_t in = 16;
  const int64_t widths[3] = {16 * k, 32 * k, 64 * k}, strides[3] = {1, 2, 2};
  for (int g = 0; g < 3; ++g) {
    auto group = register_module("WideResnetGroup_" + std::to_string(g), std::make_shared<torch::nn::Module>());
    groups_.emplace_back();
    for (int64_t b = 0; b < c.blocks_per_group; ++b) {
      auto o =
          WideResnetBlockOptions(in, widths[g], b == 0 ? strides[g] : 1).activate_before_residual(g == 0 && b == 0);
      groups_.back().push_back(group->register_module("WideResnetBlock_" + std::to_string(b), WideResnetBlock(o)));
      in = widths[g];
    }
  }
  pre_pool_bn = register_module("pre-pool-bn", wrn_group_norm(in));
  Dense_2 = register_module("Dense_2", torch::nn::Linear(in, c.num_classes));
  torch::NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(static_cast<double>(c.num_classes));  // the reference's final init
  Dense_2->weight.uniform_(-bound, bound);
  Dense_2->bias.zero_();
}

torch::Tensor WideResnetNoiseConditionalImpl::forward(const torch::Tensor& x, const torch::Tensor& sigma) {
  SCORCH_CHECK(x.dim() == 4 && x.size(1) == config_.num_channels,
               "wideresnet_noise_conditional: expected (B, {}, H, W)", config_.num_channels);
  auto h = (x - input_mean_) / input_std_;  // (B, C, H, W)
  // Per-image standardisation (tf.image.per_image_standardization): the std is floored at 1/sqrt(N).
  const double n = static_cast<double>(h[0].numel());
  const auto flat = h.flatten(1);
  const auto mean = flat.mean(1).view({-1, 1, 1, 1});
  const auto std = flat.std(1, /*unbiased=*/false).clamp_min(1.0 / std::sqrt(n)).view({-1, 1, 1, 1});
  h = (h - mean) / std;
  auto temb = Dense_1->forward(torch::silu(Dense_0->forward(GaussianFourierProjection_0->forward(torch::log(sigma)))));
  h = init_conv->forward(h);  // (B, 16, H, W)
  for (auto& group : groups_)
    for (auto& block : group) h = block->forward(h, temb);
  h = torch::relu(pre_pool_bn->forward(h)).mean({2, 3});  // (B, 64k)
  return Dense_2->forward(h);                             // (B, num_classes)
}

}  // namespace scorch::models
