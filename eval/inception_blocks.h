// Building blocks of the FID Inception-v3: BasicConv2d and the five mixed-block kinds (torchvision names).
#pragma once
#include <torch/torch.h>

namespace scorch::eval {

// Conv2d without bias + BatchNorm2d(eps 1e-3) + ReLU; registered as "conv" and "bn".
struct BasicConv2dOptions {
  BasicConv2dOptions(int64_t in, int64_t out, torch::ExpandingArray<2> kernel)
      : in_channels_(in), out_channels_(out), kernel_size_(kernel) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(torch::ExpandingArray<2>, kernel_size);
  TORCH_ARG(torch::ExpandingArray<2>, stride) = 1;
  TORCH_ARG(torch::ExpandingArray<2>, padding) = 0;
};

class BasicConv2dImpl : public torch::nn::Module {
 public:
  explicit BasicConv2dImpl(const BasicConv2dOptions& o);
  torch::Tensor forward(const torch::Tensor& x);
  // Folds the frozen eval-mode batch norm into conv weight + bias (one op instead of two; equal to
  // float32 round-off), the weight stored in `format` (ChannelsLast: oneDNN's fast NHWC kernels on CPU).
  // Must be called again after new weights are loaded; unfuse() drops the fold.
  void fuse(c10::MemoryFormat format = c10::MemoryFormat::Contiguous);
  void unfuse();

 private:
  BasicConv2dOptions options_;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::Tensor fused_weight_, fused_bias_;
  c10::MemoryFormat fused_format_ = c10::MemoryFormat::Contiguous;
};
TORCH_MODULE(BasicConv2d);

// How branch_pool pools: the TF graph averages without counting the zero padding (FID A, C, E_1)
// and, in Mixed_7c only, max-pools (pytorch-fid's FIDInceptionE_2).
enum class PoolKind { AvgNoPad, Max };

// Mixed_5b/5c/5d: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | pool-1x1; out = 224 + pool_features.
class InceptionAImpl : public torch::nn::Module {
 public:
  InceptionAImpl(int64_t in, int64_t pool_features);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  BasicConv2d branch1x1{nullptr}, branch5x5_1{nullptr}, branch5x5_2{nullptr}, branch3x3dbl_1{nullptr},
      branch3x3dbl_2{nullptr}, branch3x3dbl_3{nullptr}, branch_pool{nullptr};
};
TORCH_MODULE(InceptionA);

// Mixed_6a (grid reduction 35 -> 17): 3x3/2 | 1x1-3x3-3x3/2 | maxpool 3/2; out = 480 + in.
class InceptionBImpl : public torch::nn::Module {
 public:
  explicit InceptionBImpl(int64_t in);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  BasicConv2d branch3x3{nullptr}, branch3x3dbl_1{nullptr}, branch3x3dbl_2{nullptr}, branch3x3dbl_3{nullptr};
};
TORCH_MODULE(InceptionB);

// Mixed_6b..6e: factorised 7x7 branches (1x7 / 7x1); out = 768.
class InceptionCImpl : public torch::nn::Module {
 public:
  InceptionCImpl(int64_t in, int64_t channels_7x7);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  BasicConv2d branch1x1{nullptr}, branch7x7_1{nullptr}, branch7x7_2{nullptr}, branch7x7_3{nullptr},
      branch7x7dbl_1{nullptr}, branch7x7dbl_2{nullptr}, branch7x7dbl_3{nullptr}, branch7x7dbl_4{nullptr},
      branch7x7dbl_5{nullptr}, branch_pool{nullptr};
};
TORCH_MODULE(InceptionC);

// Mixed_7a (grid reduction 17 -> 8): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool 3/2; out = 512 + in.
class InceptionDImpl : public torch::nn::Module {
 public:
  explicit InceptionDImpl(int64_t in);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  BasicConv2d branch3x3_1{nullptr}, branch3x3_2{nullptr}, branch7x7x3_1{nullptr}, branch7x7x3_2{nullptr},
      branch7x7x3_3{nullptr}, branch7x7x3_4{nullptr};
};
TORCH_MODULE(InceptionD);

// Mixed_7b/7c: expanded 1x3 / 3x1 branches; out = 2048.
class InceptionEImpl : public torch::nn::Module {
 public:
  InceptionEImpl(int64_t in, PoolKind pool);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  PoolKind pool_;
  BasicConv2d branch1x1{nullptr}, branch3x3_1{nullptr}, branch3x3_2a{nullptr}, branch3x3_2b{nullptr},
      branch3x3dbl_1{nullptr}, branch3x3dbl_2{nullptr}, branch3x3dbl_3a{nullptr}, branch3x3dbl_3b{nullptr},
      branch_pool{nullptr};
};
TORCH_MODULE(InceptionE);

}  // namespace scorch::eval
