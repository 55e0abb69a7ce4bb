// The RefineNet blocks of NCSN and NCSNv2: residual blocks (plain, mean-pooled, dilated), RCU, CRP, MSF and
// Refine, conditional on the noise level (NCSN, num_classes > 0) or not (NCSNv2), with the originals' names.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "core/models/instance_norm_plus.h"
#include "core/models/layers.h"

namespace scorch::models {

// Options every block shares: the nonlinearity and the conditioning (0: unconditional norms).
struct RefineNetOptions {
  Activation act;
  int64_t num_classes = 0;
};

// Conv (padding k/2, bias) then 2×2 mean pooling as the average of the four strided sub-grids.
class ConvMeanPoolImpl : public torch::nn::Module {
 public:
  ConvMeanPoolImpl(int64_t in, int64_t out, int64_t kernel);
  torch::Tensor forward(const torch::Tensor& x);  // (B, in, H, W) -> (B, out, H/2, W/2)

 private:
  torch::nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(ConvMeanPool);

// Pre-activation residual block: conv2(act(norm2(conv1(act(norm1(x)))))) + shortcut. `down` halves the
// size with mean pooling, unless `dilation` > 1: dilated "down" blocks keep the size (the originals' quirk)
// and use a dilated 3×3 shortcut.
class NcsnResidualBlockImpl : public torch::nn::Module {
 public:
  NcsnResidualBlockImpl(int64_t in, int64_t out, bool down, int64_t dilation, const RefineNetOptions& o);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& y);

 private:
  RefineNetOptions o_;
  bool identity_;
  torch::nn::AnyModule conv1_, conv2_, shortcut_;
  InstanceNormPlus normalize1_{nullptr}, normalize2_{nullptr};
};
TORCH_MODULE(NcsnResidualBlock);

// Residual conv units: n_blocks × (n_stages × [norm], act, 3×3 conv without bias) + identity.
class RCUBlockImpl : public torch::nn::Module {
 public:
  RCUBlockImpl(int64_t channels, int64_t n_blocks, int64_t n_stages, const RefineNetOptions& o);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& y);

 private:
  RefineNetOptions o_;
  int64_t n_blocks_, n_stages_;
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<InstanceNormPlus> norms_;
};
TORCH_MODULE(RCUBlock);

// Chained residual pooling: act, then n_stages × (pool 5×5 stride 1, [norm], 3×3 conv) summed into x. The
// pool is a max pool in NCSNv2 and an average pool (padding counted) in the conditional NCSN blocks.
class CRPBlockImpl : public torch::nn::Module {
 public:
  CRPBlockImpl(int64_t channels, int64_t n_stages, const RefineNetOptions& o);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& y);

 private:
  RefineNetOptions o_;
  torch::nn::ModuleList convs_, norms_{nullptr};  // norms_ only when conditional
};
TORCH_MODULE(CRPBlock);

// Multi-resolution fusion: each input through [norm], 3×3 conv (bias) to `channels`, bilinearly resized
// (align_corners) to `size`, summed.
class MSFBlockImpl : public torch::nn::Module {
 public:
  MSFBlockImpl(const std::vector<int64_t>& in_planes, int64_t channels, const RefineNetOptions& o);
  torch::Tensor forward(const std::vector<torch::Tensor>& xs, const torch::Tensor& y, torch::IntArrayRef size);

 private:
  RefineNetOptions o_;
  int64_t channels_;
  torch::nn::ModuleList convs_, norms_{nullptr};  // norms_ only when conditional
};
TORCH_MODULE(MSFBlock);

// RefineNet block: adapt each input (RCU 2×2), fuse (MSF, when more than one), CRP, output RCU (3 blocks at
// the end, else 1). The output has the size `size` (the first input's).
class RefineBlockImpl : public torch::nn::Module {
 public:
  RefineBlockImpl(const std::vector<int64_t>& in_planes, int64_t channels, bool start, bool end,
                  const RefineNetOptions& o);
  torch::Tensor forward(const std::vector<torch::Tensor>& xs, const torch::Tensor& y);

 private:
  torch::nn::ModuleList adapt_convs_;
  RCUBlock output_convs_{nullptr};
  MSFBlock msf_{nullptr};
  CRPBlock crp_{nullptr};
};
TORCH_MODULE(RefineBlock);

}  // namespace scorch::models
