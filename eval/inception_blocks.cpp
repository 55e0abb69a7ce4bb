// BasicConv2d (with batch-norm folding) and the mixed blocks of the FID Inception-v3.
#include "eval/inception_blocks.h"

#include <ATen/core/dispatch/Dispatcher.h>

#include <optional>

namespace scorch::eval {

namespace {

namespace F = torch::nn::functional;

BasicConv2dOptions conv(int64_t in, int64_t out, torch::ExpandingArray<2> k) { return {in, out, k}; }

// The TF pool branch: 3x3 stride 1, zero padding excluded from the average.
torch::Tensor pool_branch(const torch::Tensor& x, PoolKind kind) {
  if (kind == PoolKind::Max) return F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(1).padding(1));
  return F::avg_pool2d(x, F::AvgPool2dFuncOptions(3).stride(1).padding(1).count_include_pad(false));
}

torch::Tensor reduce_pool(const torch::Tensor& x) { return F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(2)); }

// oneDNN's convolution with the ReLU as a post-op (the op PyTorch's Inductor emits on CPU): one pass over
// the output instead of two. Absent from LibTorch builds without oneDNN; then conv2d + relu_.
using ConvPointwise = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                                 c10::IntArrayRef, c10::IntArrayRef, c10::IntArrayRef, int64_t, c10::string_view,
                                 c10::List<std::optional<at::Scalar>>, std::optional<c10::string_view>);

const std::optional<c10::TypedOperatorHandle<ConvPointwise>>& conv_relu_op() {
  static const auto op = []() -> std::optional<c10::TypedOperatorHandle<ConvPointwise>> {
    auto handle = c10::Dispatcher::singleton().findSchema({"mkldnn::_convolution_pointwise", ""});
    if (!handle) return std::nullopt;
    return handle->typed<ConvPointwise>();
  }();
  return op;
}

}  // namespace

BasicConv2dImpl::BasicConv2dImpl(const BasicConv2dOptions& o) : options_(o) {
  conv = register_module("conv",
                         torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels(), o.out_channels(), o.kernel_size())
                                               .stride(o.stride())
                                               .padding(o.padding())
                                               .bias(false)));
  bn = register_module("bn", torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(o.out_channels()).eps(1e-3)));
}

void BasicConv2dImpl::fuse(c10::MemoryFormat format) {
  torch::NoGradGuard no_grad;
  auto scale = bn->weight / torch::sqrt(bn->running_var + bn->options.eps());  // (C_out,)
  fused_format_ = format;
  fused_weight_ = (conv->weight * scale.view({-1, 1, 1, 1})).contiguous(format);
  fused_bias_ = bn->bias - bn->running_mean * scale;
}

void BasicConv2dImpl::unfuse() { fused_weight_ = fused_bias_ = torch::Tensor(); }

torch::Tensor BasicConv2dImpl::forward(const torch::Tensor& x) {
  if (fused_weight_.defined() && !is_training()) {
    if (fused_weight_.device() != x.device()) fuse(fused_format_);  // the module moved since fuse()
    if (x.is_cpu() && x.scalar_type() == torch::kFloat && conv_relu_op())
      return conv_relu_op()->call(x, fused_weight_, fused_bias_, *options_.padding(), *options_.stride(), {1, 1}, 1,
                                  "relu", c10::List<std::optional<at::Scalar>>(), std::nullopt);
    return torch::conv2d(x, fused_weight_, fused_bias_, options_.stride(), options_.padding()).relu_();
  }
  return torch::relu(bn->forward(conv->forward(x)));
}

InceptionAImpl::InceptionAImpl(int64_t in, int64_t pool_features) {
  branch1x1 = register_module("branch1x1", BasicConv2d(conv(in, 64, 1)));
  branch5x5_1 = register_module("branch5x5_1", BasicConv2d(conv(in, 48, 1)));
  branch5x5_2 = register_module("branch5x5_2", BasicConv2d(conv(48, 64, 5).padding(2)));
  branch3x3dbl_1 = register_module("branch3x3dbl_1", BasicConv2d(conv(in, 64, 1)));
  branch3x3dbl_2 = register_module("branch3x3dbl_2", BasicConv2d(conv(64, 96, 3).padding(1)));
  branch3x3dbl_3 = register_module("branch3x3dbl_3", BasicConv2d(conv(96, 96, 3).padding(1)));
  branch_pool = register_module("branch_pool", BasicConv2d(conv(in, pool_features, 1)));
}

torch::Tensor InceptionAImpl::forward(const torch::Tensor& x) {
  return torch::cat({branch1x1(x), branch5x5_2(branch5x5_1(x)), branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x))),
                     branch_pool(pool_branch(x, PoolKind::AvgNoPad))},
                    1);
}

InceptionBImpl::InceptionBImpl(int64_t in) {
  branch3x3 = register_module("branch3x3", BasicConv2d(conv(in, 384, 3).stride(2)));
  branch3x3dbl_1 = register_module("branch3x3dbl_1", BasicConv2d(conv(in, 64, 1)));
  branch3x3dbl_2 = register_module("branch3x3dbl_2", BasicConv2d(conv(64, 96, 3).padding(1)));
  branch3x3dbl_3 = register_module("branch3x3dbl_3", BasicConv2d(conv(96, 96, 3).stride(2)));
}

torch::Tensor InceptionBImpl::forward(const torch::Tensor& x) {
  return torch::cat({branch3x3(x), branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x))), reduce_pool(x)}, 1);
}

InceptionCImpl::InceptionCImpl(int64_t in, int64_t c7) {
  const torch::ExpandingArray<2> k17({1, 7}), k71({7, 1}), p17({0, 3}), p71({3, 0});
  branch1x1 = register_module("branch1x1", BasicConv2d(conv(in, 192, 1)));
  branch7x7_1 = register_module("branch7x7_1", BasicConv2d(conv(in, c7, 1)));
  branch7x7_2 = register_module("branch7x7_2", BasicConv2d(conv(c7, c7, k17).padding(p17)));
  branch7x7_3 = register_module("branch7x7_3", BasicConv2d(conv(c7, 192, k71).padding(p71)));
  branch7x7dbl_1 = register_module("branch7x7dbl_1", BasicConv2d(conv(in, c7, 1)));
  branch7x7dbl_2 = register_module("branch7x7dbl_2", BasicConv2d(conv(c7, c7, k71).padding(p71)));
  branch7x7dbl_3 = register_module("branch7x7dbl_3", BasicConv2d(conv(c7, c7, k17).padding(p17)));
  branch7x7dbl_4 = register_module("branch7x7dbl_4", BasicConv2d(conv(c7, c7, k71).padding(p71)));
  branch7x7dbl_5 = register_module("branch7x7dbl_5", BasicConv2d(conv(c7, 192, k17).padding(p17)));
  branch_pool = register_module("branch_pool", BasicConv2d(conv(in, 192, 1)));
}

torch::Tensor InceptionCImpl::forward(const torch::Tensor& x) {
  auto b7 = branch7x7_3(branch7x7_2(branch7x7_1(x)));
  auto d7 = branch7x7dbl_5(branch7x7dbl_4(branch7x7dbl_3(branch7x7dbl_2(branch7x7dbl_1(x)))));
  return torch::cat({branch1x1(x), b7, d7, branch_pool(pool_branch(x, PoolKind::AvgNoPad))}, 1);
}

InceptionDImpl::InceptionDImpl(int64_t in) {
  branch3x3_1 = register_module("branch3x3_1", BasicConv2d(conv(in, 192, 1)));
  branch3x3_2 = register_module("branch3x3_2", BasicConv2d(conv(192, 320, 3).stride(2)));
  branch7x7x3_1 = register_module("branch7x7x3_1", BasicConv2d(conv(in, 192, 1)));
  branch7x7x3_2 = register_module("branch7x7x3_2", BasicConv2d(conv(192, 192, {1, 7}).padding({0, 3})));
  branch7x7x3_3 = register_module("branch7x7x3_3", BasicConv2d(conv(192, 192, {7, 1}).padding({3, 0})));
  branch7x7x3_4 = register_module("branch7x7x3_4", BasicConv2d(conv(192, 192, 3).stride(2)));
}

torch::Tensor InceptionDImpl::forward(const torch::Tensor& x) {
  auto b3 = branch3x3_2(branch3x3_1(x));
  auto b7 = branch7x7x3_4(branch7x7x3_3(branch7x7x3_2(branch7x7x3_1(x))));
  return torch::cat({b3, b7, reduce_pool(x)}, 1);
}

InceptionEImpl::InceptionEImpl(int64_t in, PoolKind pool) : pool_(pool) {
  branch1x1 = register_module("branch1x1", BasicConv2d(conv(in, 320, 1)));
  branch3x3_1 = register_module("branch3x3_1", BasicConv2d(conv(in, 384, 1)));
  branch3x3_2a = register_module("branch3x3_2a", BasicConv2d(conv(384, 384, {1, 3}).padding({0, 1})));
  branch3x3_2b = register_module("branch3x3_2b", BasicConv2d(conv(384, 384, {3, 1}).padding({1, 0})));
  branch3x3dbl_1 = register_module("branch3x3dbl_1", BasicConv2d(conv(in, 448, 1)));
  branch3x3dbl_2 = register_module("branch3x3dbl_2", BasicConv2d(conv(448, 384, 3).padding(1)));
  branch3x3dbl_3a = register_module("branch3x3dbl_3a", BasicConv2d(conv(384, 384, {1, 3}).padding({0, 1})));
  branch3x3dbl_3b = register_module("branch3x3dbl_3b", BasicConv2d(conv(384, 384, {3, 1}).padding({1, 0})));
  branch_pool = register_module("branch_pool", BasicConv2d(conv(in, 192, 1)));
}

torch::Tensor InceptionEImpl::forward(const torch::Tensor& x) {
  auto a = branch3x3_1(x);
  auto b = branch3x3dbl_2(branch3x3dbl_1(x));
  return torch::cat({branch1x1(x), branch3x3_2a(a), branch3x3_2b(a), branch3x3dbl_3a(b), branch3x3dbl_3b(b),
                     branch_pool(pool_branch(x, pool_))},
                    1);
}

}  // namespace scorch::eval
