// RefineNet blocks with PyTorch's default initialisation, as the originals use (no custom init anywhere).
#include "core/models/refinenet_blocks.h"

#include <fmt/format.h>

namespace scorch::models {

namespace {

namespace F = torch::nn::functional;

torch::nn::Conv2d conv2d(int64_t in, int64_t out, int64_t kernel, bool bias, int64_t dilation = 1) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).padding(dilation * (kernel / 2)).dilation(dilation).bias(bias));
}

InstanceNormPlus norm(int64_t channels, const RefineNetOptions& o) {
  return InstanceNormPlus(channels, o.num_classes, /*bias=*/true);
}

}  // namespace

ConvMeanPoolImpl::ConvMeanPoolImpl(int64_t in, int64_t out, int64_t kernel) {
  conv_ = register_module("conv", conv2d(in, out, kernel, true));
}

torch::Tensor ConvMeanPoolImpl::forward(const torch::Tensor& x) {
  using torch::indexing::None;
  using torch::indexing::Slice;
  const auto h = conv_->forward(x);  // (B, out, H, W)
  const auto at = [&](int64_t dy, int64_t dx) {
    return h.index({Slice(), Slice(), Slice(dy, None, 2), Slice(dx, None, 2)});
  };
  return (at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1)) / 4.0;
}

NcsnResidualBlockImpl::NcsnResidualBlockImpl(int64_t in, int64_t out, bool down, int64_t dilation,
                                             const RefineNetOptions& o)
    : o_(o), identity_(in == out && !down) {
  const bool dilated = dilation > 1;
  const int64_t mid = down ? in : out;
  conv1_ = torch::nn::AnyModule(dilated ? conv2d(in, mid, 3, true, dilation) : conv2d(in, mid, 3, true));
  register_module("conv1", conv1_.ptr());
  normalize2_ = register_module("normalize2", norm(mid, o));
  if (down && !dilated)
    conv2_ = torch::nn::AnyModule(ConvMeanPool(in, out, 3));
  else
    conv2_ = torch::nn::AnyModule(conv2d(mid, out, 3, true, dilated ? dilation : 1));
  register_module("conv2", conv2_.ptr());
  if (!identity_) {
    if (down && !dilated)
      shortcut_ = torch::nn::AnyModule(ConvMeanPool(in, out, 1));
    else
      shortcut_ = torch::nn::AnyModule(dilated ? conv2d(in, out, 3, true, dilation) : conv2d(in, out, 1, true));
    register_module("shortcut", shortcut_.ptr());
  }
  normalize1_ = register_module("normalize1", norm(in, o));
}

torch::Tensor NcsnResidualBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& y) {
  auto h = o_.act(normalize1_->forward(x, y));
  h = conv1_.forward(h);
  h = o_.act(normalize2_->forward(h, y));
  h = conv2_.forward(h);
  return (identity_ ? x : shortcut_.forward<torch::Tensor>(x)) + h;
}

RCUBlockImpl::RCUBlockImpl(int64_t channels, int64_t n_blocks, int64_t n_stages, const RefineNetOptions& o)
    : o_(o), n_blocks_(n_blocks), n_stages_(n_stages) {
  for (int64_t i = 1; i <= n_blocks; ++i)
    for (int64_t j = 1; j <= n_stages; ++j) {
      if (o.num_classes > 0) norms_.push_back(register_module(fmt::format("{}_{}_norm", i, j), norm(channels, o)));
      convs_.push_back(register_module(fmt::format("{}_{}_conv", i, j), conv2d(channels, channels, 3, false)));
    }
}

torch::Tensor RCUBlockImpl::forward(const torch::Tensor& x_in, const torch::Tensor& y) {
  auto x = x_in;
  size_t k = 0;
  for (int64_t i = 0; i < n_blocks_; ++i) {
    const auto residual = x;
    for (int64_t j = 0; j < n_stages_; ++j, ++k) {
      if (!norms_.empty()) x = norms_[k]->forward(x, y);
      x = convs_[k]->forward(o_.act(x));
    }
    x = x + residual;
  }
  return x;
}

CRPBlockImpl::CRPBlockImpl(int64_t channels, int64_t n_stages, const RefineNetOptions& o) : o_(o) {
  convs_ = register_module("convs", torch::nn::ModuleList());
  for (int64_t i = 0; i < n_stages; ++i) convs_->push_back(conv2d(channels, channels, 3, false));
  if (o.num_classes > 0) {
    norms_ = register_module("norms", torch::nn::ModuleList());
    for (int64_t i = 0; i < n_stages; ++i) norms_->push_back(norm(channels, o));
  }
}

torch::Tensor CRPBlockImpl::forward(const torch::Tensor& x_in, const torch::Tensor& y) {
  auto x = o_.act(x_in);
  auto path = x;
  for (size_t i = 0; i < convs_->size(); ++i) {
    if (norms_) {
      path = norms_[i]->as<InstanceNormPlusImpl>()->forward(path, y);
      // The conditional blocks average (their attribute is still named maxpool); border windows divide by 25.
      path = F::avg_pool2d(path, F::AvgPool2dFuncOptions(5).stride(1).padding(2).count_include_pad(true));
    } else {
      path = F::max_pool2d(path, F::MaxPool2dFuncOptions(5).stride(1).padding(2));
    }
    path = convs_[i]->as<torch::nn::Conv2dImpl>()->forward(path);
    x = path + x;
  }
  return x;
}

MSFBlockImpl::MSFBlockImpl(const std::vector<int64_t>& in_planes, int64_t channels, const RefineNetOptions& o)
    : o_(o), channels_(channels) {
  convs_ = register_module("convs", torch::nn::ModuleList());
  for (int64_t in : in_planes) convs_->push_back(conv2d(in, channels, 3, true));
  if (o.num_classes > 0) {
    norms_ = register_module("norms", torch::nn::ModuleList());
    for (int64_t in : in_planes) norms_->push_back(norm(in, o));
  }
}

torch::Tensor MSFBlockImpl::forward(const std::vector<torch::Tensor>& xs, const torch::Tensor& y,
                                    torch::IntArrayRef size) {
  auto sums = torch::zeros({xs[0].size(0), channels_, size[0], size[1]}, xs[0].options());
  for (size_t i = 0; i < xs.size(); ++i) {
    auto h = norms_ ? norms_[i]->as<InstanceNormPlusImpl>()->forward(xs[i], y) : xs[i];
    h = convs_[i]->as<torch::nn::Conv2dImpl>()->forward(h);
    h = F::interpolate(h, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>(size.begin(), size.end()))
                              .mode(torch::kBilinear)
                              .align_corners(true));
    sums = sums + h;
  }
  return sums;
}

RefineBlockImpl::RefineBlockImpl(const std::vector<int64_t>& in_planes, int64_t channels, bool start, bool end,
                                 const RefineNetOptions& o) {
  adapt_convs_ = register_module("adapt_convs", torch::nn::ModuleList());
  for (int64_t in : in_planes) adapt_convs_->push_back(RCUBlock(in, 2, 2, o));
  output_convs_ = register_module("output_convs", RCUBlock(channels, end ? 3 : 1, 2, o));
  if (!start) msf_ = register_module("msf", MSFBlock(in_planes, channels, o));
  crp_ = register_module("crp", CRPBlock(channels, 2, o));
}

torch::Tensor RefineBlockImpl::forward(const std::vector<torch::Tensor>& xs, const torch::Tensor& y) {
  std::vector<torch::Tensor> hs;
  for (size_t i = 0; i < xs.size(); ++i) hs.push_back(adapt_convs_[i]->as<RCUBlockImpl>()->forward(xs[i], y));
  auto h = hs.size() > 1 ? msf_->forward(hs, y, xs[0].sizes().slice(2)) : hs[0];
  h = crp_->forward(h, y);
  return output_convs_->forward(h, y);
}

}  // namespace scorch::models
