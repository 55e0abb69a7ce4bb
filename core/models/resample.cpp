// ×2 up/down-sampling blocks of the U-Nets.
#include "core/models/resample.h"

#include "core/models/layers.h"

namespace scorch::models {

UpsampleImpl::UpsampleImpl(const ResampleOptions& options_) : options(options_) {
  if (!options.with_conv()) return;
  if (options.fir()) {
    Conv2d_0 = register_module("Conv2d_0", FirConv2d(FirConv2dOptions(options.in_ch(), options.out_ch())
                                                         .up(true)
                                                         .resample_kernel(options.fir_kernel())
                                                         .fused_fir(options.fused_fir())));
  } else {
    Conv_0 = register_module("Conv_0", conv3x3(options.in_ch(), options.out_ch()));
  }
}

torch::Tensor UpsampleImpl::forward(const torch::Tensor& x, const torch::Tensor&) {
  if (!options.fir()) {
    auto h = naive_upsample_2d(x);
    return options.with_conv() ? Conv_0->forward(h) : h;
  }
  return options.with_conv()
             ? Conv2d_0->forward(x)
             : fir_upsample_2d(x, options.fir_kernel(), switch_applies(options.fused_fir(), x.is_cuda()));
}

DownsampleImpl::DownsampleImpl(const ResampleOptions& options_) : options(options_) {
  if (!options.with_conv()) return;
  if (options.fir()) {
    Conv2d_0 = register_module("Conv2d_0", FirConv2d(FirConv2dOptions(options.in_ch(), options.out_ch())
                                                         .down(true)
                                                         .resample_kernel(options.fir_kernel())
                                                         .fused_fir(options.fused_fir())));
  } else {
    Conv_0 = register_module("Conv_0", make_conv(options.in_ch(), options.out_ch(), 3, 1.0, 2, 0));
  }
}

torch::Tensor DownsampleImpl::forward(const torch::Tensor& x, const torch::Tensor&) {
  if (!options.fir()) {
    if (!options.with_conv()) return naive_downsample_2d(x);
    return Conv_0->forward(torch::constant_pad_nd(x, {0, 1, 0, 1}));
  }
  return options.with_conv()
             ? Conv2d_0->forward(x)
             : fir_downsample_2d(x, options.fir_kernel(), switch_applies(options.fused_fir(), x.is_cuda()));
}

}  // namespace scorch::models
