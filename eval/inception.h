// The FID Inception-v3 (TF inception-2015-12-05 as ported by pytorch-fid): 2048-d pool features, 1008 logits.
// Module names equal torchvision's Inception3 / pytorch-fid's weight file (Conv2d_1a_3x3.conv.weight, ...,
// Mixed_7c.branch_pool.bn.running_var, fc.weight), so that file's state_dict loads 1:1.
#pragma once
#include <torch/torch.h>

#include "eval/inception_blocks.h"

namespace scorch::eval {

struct InceptionV3Options {
  TORCH_ARG(int64_t, num_classes) = 1008;
};

class InceptionV3Impl : public torch::nn::Module {
 public:
  explicit InceptionV3Impl(const InceptionV3Options& o = {});
  // x: (B, 3, H, W) already preprocessed (H, W >= 75; 299 for real FID) -> pool features (B, 2048).
  torch::Tensor features(const torch::Tensor& x);
  // features (B, 2048) -> (B, num_classes); the Inception Score uses them without the bias.
  torch::Tensor logits(const torch::Tensor& features, bool with_bias = false);
  // Folds every batch norm into its conv (BasicConv2dImpl::fuse); with ChannelsLast the weights and, in
  // features(), the input are NHWC (the fastest layout of oneDNN's CPU convolutions). unfuse() undoes both.
  void fuse(c10::MemoryFormat format = c10::MemoryFormat::Contiguous);
  void unfuse();

 private:
  BasicConv2d Conv2d_1a_3x3{nullptr}, Conv2d_2a_3x3{nullptr}, Conv2d_2b_3x3{nullptr}, Conv2d_3b_1x1{nullptr},
      Conv2d_4a_3x3{nullptr};
  InceptionA Mixed_5b{nullptr}, Mixed_5c{nullptr}, Mixed_5d{nullptr};
  InceptionB Mixed_6a{nullptr};
  InceptionC Mixed_6b{nullptr}, Mixed_6c{nullptr}, Mixed_6d{nullptr}, Mixed_6e{nullptr};
  InceptionD Mixed_7a{nullptr};
  InceptionE Mixed_7b{nullptr}, Mixed_7c{nullptr};
  torch::nn::Linear fc{nullptr};
  c10::MemoryFormat format_ = c10::MemoryFormat::Contiguous;
};
TORCH_MODULE(InceptionV3);

}  // namespace scorch::eval
