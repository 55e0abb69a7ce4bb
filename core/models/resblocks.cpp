// Residual blocks of the U-Nets.
#include "core/models/resblocks.h"

#include <cmath>

#include "core/models/fir.h"
#include "core/models/fused_skip_join.h"

namespace scorch::models {

namespace {

// Conv_0(h) and what the time embedding adds to it before GroupNorm_1: their sum, or, folded, Conv_0 without its
// bias and shift = bias + Dense_0(act(temb)) (B, C), which GroupNorm_1 takes in: scorch's kernels into their
// statistics, LibTorch's GroupNorm after one add. On CUDA LibTorch adds a convolution's bias in a pass of its own and
// reduces the gradient over (B, H, W) for it, besides the time embedding's pass and reduction over (H, W).
struct ConvTime {
  torch::Tensor h, shift;  // (B, C, H, W); (B, C) or undefined
};
ConvTime conv_time(torch::nn::Conv2dImpl& conv, const torch::Tensor& h, const torch::Tensor& temb,
                   torch::nn::Linear& dense, const Activation& act, bool fold) {
  if (!temb.defined() || dense.is_empty()) return {conv.forward(h), {}};
  if (!fold) return {conv.forward(h) + dense->forward(act(temb)).unsqueeze(-1).unsqueeze(-1), {}};  // (B, C, 1, 1)
  return {conv_without_bias(conv, h), conv.bias + dense->forward(act(temb))};
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
  const bool cuda = x_in.is_cuda();
  const bool fused_fir = switch_applies(options.fused_fir(), cuda);
  auto [h, x] = norm_act_passing_input(*GroupNorm_0, act, x_in, options.fused_input_grad());
  if (options.up()) {
    h = options.fir() ? fir_upsample_2d(h, options.fir_kernel(), fused_fir) : naive_upsample_2d(h);
    x = options.fir() ? fir_upsample_2d(x, options.fir_kernel(), fused_fir) : naive_upsample_2d(x);
  } else if (options.down()) {
    h = options.fir() ? fir_downsample_2d(h, options.fir_kernel(), fused_fir) : naive_downsample_2d(h);
    x = options.fir() ? fir_downsample_2d(x, options.fir_kernel(), fused_fir) : naive_downsample_2d(x);
  }
  const auto c0 = conv_time(*Conv_0, h, temb, Dense_0, act, switch_applies(options.fold_time_bias(), cuda));
  h = Dropout_0->forward(norm_act(*GroupNorm_1, act, c0.h, c0.shift));
  if (!switch_applies(options.fused_skip_join(), cuda)) {
    h = Conv_1->forward(h);
    if (!Conv_2.is_empty()) x = Conv_2->forward(x);
    return skip_join(x, h, options.skip_rescale());
  }
  auto bias = Conv_1->bias;  // (out,)
  if (!Conv_2.is_empty()) {
    x = conv_without_bias(*Conv_2, x);
    bias = bias + Conv_2->bias;
  }
  return fused_skip_join(x, conv_without_bias(*Conv_1, h), bias, options.skip_rescale());
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
  const bool cuda = x_in.is_cuda();
  auto [h0, x] = norm_act_passing_input(*GroupNorm_0, act, x_in, options.fused_input_grad());
  const auto c0 = conv_time(*Conv_0, h0, temb, Dense_0, act, switch_applies(options.fold_time_bias(), cuda));
  auto h = Dropout_0->forward(norm_act(*GroupNorm_1, act, c0.h, c0.shift));
  if (!switch_applies(options.fused_skip_join(), cuda)) {
    h = Conv_1->forward(h);
    if (!NIN_0.is_empty()) x = NIN_0->forward(x);
    return skip_join(x, h, options.skip_rescale());
  }
  auto bias = Conv_1->bias;  // (out,)
  if (!NIN_0.is_empty()) {
    x = NIN_0->forward_without_bias(x);
    bias = bias + NIN_0->b;
  }
  return fused_skip_join(x, conv_without_bias(*Conv_1, h), bias, options.skip_rescale());
}

}  // namespace scorch::models
