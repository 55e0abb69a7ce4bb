// Residual blocks of the U-Nets.
#include "core/models/resblocks.h"

#include <cmath>

#include "core/models/fir.h"

namespace scorch::models {

namespace {

// Conv_0(h) + Dense_0(act(temb)). Folded, Conv_0 runs without its bias and bias + Dense_0(act(temb)), a (B, C)
// shift, is added in one pass: on CUDA LibTorch adds a convolution's bias in a pass of its own and reduces the
// gradient over (B, H, W) for it, besides the time embedding's pass and reduction over (H, W).
torch::Tensor conv_add_time(torch::nn::Conv2dImpl& conv, const torch::Tensor& h, const torch::Tensor& temb,
                            torch::nn::Linear& dense, const Activation& act, bool fold) {
  if (!temb.defined() || dense.is_empty()) return conv.forward(h);
  if (!fold) return conv.forward(h) + dense->forward(act(temb)).unsqueeze(-1).unsqueeze(-1);  // (B, C, 1, 1)
  const auto out = conv_without_bias(conv, h);                                                // (B, C, H, W)
  const auto shift = conv.bias + dense->forward(act(temb));                                   // (B, C)
  // In the activations' dtype: a float32 shift would promote a bf16 activation to float32.
  return out + shift.to(out.scalar_type()).unsqueeze(-1).unsqueeze(-1);
}

}  // namespace

ResnetBlockBigGANImpl::ResnetBlockBigGANImpl(const ResBlockOptions& options_)
    : options(options_), act(make_activation(options_.act())) {
  const auto in = options.in_ch(), out = options.out_ch();
  GroupNorm_0 = register_module("GroupNorm_0", make_group_norm(in, options.groups()));
  Conv_0 = register_module("Conv_0", conv3x3(in, out));
  if (options.temb_dim() > 0) Dense_0 = register_module("Dense_0", make_linear(options.temb_dim(), out));
  GroupNorm_1 = register_module("GroupNorm_1", make_group_norm(out, options.groups()));
  Dropout_0 = register_module("Dropout_0", torch::nn::Dropout(options.dropout()));
  Conv_1 = register_module("Conv_1", conv3x3(out, out, options.init_scale()));
  if (in != out || options.up() || options.down()) Conv_2 = register_module("Conv_2", conv1x1(in, out));
}

torch::Tensor ResnetBlockBigGANImpl::forward(const torch::Tensor& x_in, const torch::Tensor& temb) {
  auto x = x_in;
  auto h = norm_act(*GroupNorm_0, act, x);
  if (options.up()) {
    h = options.fir() ? fir_upsample_2d(h, options.fir_kernel(), options.fused_fir()) : naive_upsample_2d(h);
    x = options.fir() ? fir_upsample_2d(x, options.fir_kernel(), options.fused_fir()) : naive_upsample_2d(x);
  } else if (options.down()) {
    h = options.fir() ? fir_downsample_2d(h, options.fir_kernel(), options.fused_fir()) : naive_downsample_2d(h);
    x = options.fir() ? fir_downsample_2d(x, options.fir_kernel(), options.fused_fir()) : naive_downsample_2d(x);
  }
  h = conv_add_time(*Conv_0, h, temb, Dense_0, act, options.fold_time_bias());
  h = Conv_1->forward(Dropout_0->forward(norm_act(*GroupNorm_1, act, h)));
  if (!Conv_2.is_empty()) x = Conv_2->forward(x);
  return skip_join(x, h, options.skip_rescale());
}

ResnetBlockDDPMImpl::ResnetBlockDDPMImpl(const ResBlockOptions& options_)
    : options(options_), act(make_activation(options_.act())) {
  const auto in = options.in_ch(), out = options.out_ch();
  GroupNorm_0 = register_module("GroupNorm_0", make_group_norm(in, options.groups()));
  Conv_0 = register_module("Conv_0", conv3x3(in, out));
  if (options.temb_dim() > 0) Dense_0 = register_module("Dense_0", make_linear(options.temb_dim(), out));
  GroupNorm_1 = register_module("GroupNorm_1", make_group_norm(out, options.groups()));
  Dropout_0 = register_module("Dropout_0", torch::nn::Dropout(options.dropout()));
  Conv_1 = register_module("Conv_1", conv3x3(out, out, options.init_scale()));
  if (in != out) NIN_0 = register_module("NIN_0", NIN(in, out));
}

torch::Tensor ResnetBlockDDPMImpl::forward(const torch::Tensor& x_in, const torch::Tensor& temb) {
  auto x = x_in;
  auto h = conv_add_time(*Conv_0, norm_act(*GroupNorm_0, act, x), temb, Dense_0, act, options.fold_time_bias());
  h = Conv_1->forward(Dropout_0->forward(norm_act(*GroupNorm_1, act, h)));
  if (!NIN_0.is_empty()) x = NIN_0->forward(x);
  return skip_join(x, h, options.skip_rescale());
}

}  // namespace scorch::models
