// The FID Inception-v3 network: stem, eleven mixed blocks, global average pool and the 1008-way fc.
#include "eval/inception.h"

#include "core/error.h"

namespace scorch::eval {

namespace {
namespace F = torch::nn::functional;
torch::Tensor stem_pool(const torch::Tensor& x) { return F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(2)); }
}  // namespace

InceptionV3Impl::InceptionV3Impl(const InceptionV3Options& o) {
  Conv2d_1a_3x3 = register_module("Conv2d_1a_3x3", BasicConv2d(BasicConv2dOptions(3, 32, 3).stride(2)));
  Conv2d_2a_3x3 = register_module("Conv2d_2a_3x3", BasicConv2d(BasicConv2dOptions(32, 32, 3)));
  Conv2d_2b_3x3 = register_module("Conv2d_2b_3x3", BasicConv2d(BasicConv2dOptions(32, 64, 3).padding(1)));
  Conv2d_3b_1x1 = register_module("Conv2d_3b_1x1", BasicConv2d(BasicConv2dOptions(64, 80, 1)));
  Conv2d_4a_3x3 = register_module("Conv2d_4a_3x3", BasicConv2d(BasicConv2dOptions(80, 192, 3)));
  Mixed_5b = register_module("Mixed_5b", InceptionA(192, 32));
  Mixed_5c = register_module("Mixed_5c", InceptionA(256, 64));
  Mixed_5d = register_module("Mixed_5d", InceptionA(288, 64));
  Mixed_6a = register_module("Mixed_6a", InceptionB(288));
  Mixed_6b = register_module("Mixed_6b", InceptionC(768, 128));
  Mixed_6c = register_module("Mixed_6c", InceptionC(768, 160));
  Mixed_6d = register_module("Mixed_6d", InceptionC(768, 160));
  Mixed_6e = register_module("Mixed_6e", InceptionC(768, 192));
  Mixed_7a = register_module("Mixed_7a", InceptionD(768));
  Mixed_7b = register_module("Mixed_7b", InceptionE(1280, PoolKind::AvgNoPad));
  Mixed_7c = register_module("Mixed_7c", InceptionE(2048, PoolKind::Max));
  fc = register_module("fc", torch::nn::Linear(2048, o.num_classes()));
  eval();
}

torch::Tensor InceptionV3Impl::features(const torch::Tensor& input) {
  SCORCH_CHECK(input.dim() == 4 && input.size(1) == 3 && input.size(2) >= 75 && input.size(3) >= 75,
               "Inception input must be (B, 3, H>=75, W>=75), got {}", c10::str(input.sizes()));
  auto x = input.contiguous(format_);
  x = stem_pool(Conv2d_2b_3x3(Conv2d_2a_3x3(Conv2d_1a_3x3(x))));  // (B, 64, 73, 73) at 299
  x = stem_pool(Conv2d_4a_3x3(Conv2d_3b_1x1(x)));                 // (B, 192, 35, 35)
  x = Mixed_5d(Mixed_5c(Mixed_5b(x)));                            // (B, 288, 35, 35)
  x = Mixed_6e(Mixed_6d(Mixed_6c(Mixed_6b(Mixed_6a(x)))));        // (B, 768, 17, 17)
  x = Mixed_7c(Mixed_7b(Mixed_7a(x)));                            // (B, 2048, 8, 8)
  return x.mean({2, 3});                                          // (B, 2048)
}

torch::Tensor InceptionV3Impl::logits(const torch::Tensor& features, bool with_bias) {
  return with_bias ? fc(features) : features.matmul(fc->weight.t());
}

void InceptionV3Impl::fuse(c10::MemoryFormat format) {
  format_ = format;
  for (auto& m : modules(/*include_self=*/false))
    if (auto c = std::dynamic_pointer_cast<BasicConv2dImpl>(m)) c->fuse(format);
}

void InceptionV3Impl::unfuse() {
  format_ = c10::MemoryFormat::Contiguous;
  for (auto& m : modules(/*include_self=*/false))
    if (auto c = std::dynamic_pointer_cast<BasicConv2dImpl>(m)) c->unfuse();
}

}  // namespace scorch::eval
