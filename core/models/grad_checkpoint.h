// Gradient checkpointing for one block: keep no activations in forward, recompute them in backward.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <vector>

namespace scorch::models {

using BlockFn = std::function<torch::Tensor(const std::vector<torch::Tensor>& inputs)>;

// Returns fn(inputs). When grad mode is on, the activations inside fn are not stored: backward runs fn again
// (same RNG state, so dropout masks repeat, and same autocast state) and differentiates it with respect to
// `inputs` and `params` (the parameters fn reads). The parameters' gradients leave through this node and
// accumulate as usual, but the recompute's autograd::grad also calls their tensor hooks, with this block's
// share of the gradient only: code that must see each parameter once per backward hooks its accumulator.
// Undefined inputs are allowed (e.g. no time embedding).
torch::Tensor checkpoint(const BlockFn& fn, const std::vector<torch::Tensor>& inputs,
                         const std::vector<torch::Tensor>& params);

}  // namespace scorch::models

#include "core/models/block.h"
#include "core/models/group_norm.h"
#include "core/models/layers.h"

namespace scorch::models {

// block(x, temb), checkpointed when `checkpointing` is set, the block is training and grad mode is on.
torch::Tensor run_block(const std::shared_ptr<TimedBlockImpl>& block, const torch::Tensor& x, const torch::Tensor& temb,
                        bool checkpointing);

// block(cat(h, skip), temb) for a U-Net's way up. Checkpointed, the concatenation happens inside the
// recompute, so backward holds h and the skip (which the way down keeps anyway), not a third tensor the
// size of both: at the widest stage that is most of what a checkpointed block would still keep.
torch::Tensor run_block_cat(const std::shared_ptr<TimedBlockImpl>& block, const torch::Tensor& h,
                            const torch::Tensor& skip, const torch::Tensor& temb, bool checkpointing);

// conv(act(norm(h))), a U-Net's output head (and NCSN++'s output-skip heads at every stage). Checkpointed,
// backward keeps only h instead of h, norm(h) and act(norm(h)).
torch::Tensor run_norm_act_conv(GroupNormImpl& norm, const Activation& act, torch::nn::Conv2dImpl& conv,
                                const torch::Tensor& h, bool checkpointing);

}  // namespace scorch::models
