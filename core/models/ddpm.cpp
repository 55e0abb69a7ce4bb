// The original DDPM U-Net: construction in the reference module order and the forward pass.
#include "core/models/ddpm.h"

#include <algorithm>

#include "core/error.h"
#include "core/models/attention.h"
#include "core/models/embeddings.h"
#include "core/models/grad_checkpoint.h"
#include "core/models/resample.h"
#include "core/models/resblocks.h"

namespace scorch::models {

namespace {
constexpr int64_t kGroups = 32;
}

DDPMImpl::DDPMImpl(const ModelConfig& config_) : config(config_) {
  const auto& c = config;
  check_unet_ladder(c);
  const int64_t levels = static_cast<int64_t>(c.ch_mult.size());
  sigmas = register_buffer("sigmas", ve_sigmas(c.sigma_min, c.sigma_max, c.num_scales));
  const int64_t nf = c.nf;
  auto& mods = all_modules;
  auto resblock = [&](int64_t in, int64_t out) {
    return std::make_shared<ResnetBlockDDPMImpl>(ResBlockOptions(in, out)
                                                     .temb_dim(4 * nf)
                                                     .dropout(c.dropout)
                                                     .skip_rescale(false)
                                                     .init_scale(0.0)
                                                     .act(c.nonlinearity)
                                                     .groups(kGroups)
                                                     .fold_time_bias(c.fold_time_bias)
                                                     .fused_skip_join(c.fused_skip_join)
                                                     .fused_input_grad(c.fused_input_grad));
  };
  auto attn = [&](int64_t ch) {
    return std::make_shared<AttnBlockImpl>(AttnBlockOptions(ch)
                                               .skip_rescale(false)
                                               .init_scale(0.0)
                                               .groups(kGroups)
                                               .fused(c.fused_attention)
                                               .fused_skip_join(c.fused_skip_join)
                                               .fused_input_grad(c.fused_input_grad));
  };

  // Unconditional: no time-embedding MLP, so every later index moves down by two. The residual blocks keep
  // their Dense_0 (never called without a time embedding), as the reference's do: its state_dicts have them.
  if (c.conditional) {
    mods->push_back(make_linear(nf, 4 * nf));
    mods->push_back(make_linear(4 * nf, 4 * nf));
  }
  mods->push_back(conv3x3(c.num_channels, nf));
  std::vector<int64_t> hs_c{nf};
  int64_t in_ch = nf;
  for (int64_t i = 0; i < levels; ++i) {
    for (int64_t b = 0; b < c.num_res_blocks; ++b) {
      const int64_t out_ch = nf * c.ch_mult[i];
      mods->push_back(resblock(in_ch, out_ch));
      in_ch = out_ch;
      if (has_attention(c.image_size >> i)) mods->push_back(attn(in_ch));
      hs_c.push_back(in_ch);
    }
    if (i != levels - 1) {
      mods->push_back(Downsample(ResampleOptions(in_ch).with_conv(c.resamp_with_conv)));
      hs_c.push_back(in_ch);
    }
  }
  in_ch = hs_c.back();
  mods->push_back(resblock(in_ch, in_ch));
  mods->push_back(attn(in_ch));
  mods->push_back(resblock(in_ch, in_ch));
  for (int64_t i = levels - 1; i >= 0; --i) {
    for (int64_t b = 0; b < c.num_res_blocks + 1; ++b) {
      const int64_t out_ch = nf * c.ch_mult[i];
      mods->push_back(resblock(in_ch + hs_c.back(), out_ch));
      hs_c.pop_back();
      in_ch = out_ch;
    }
    if (has_attention(c.image_size >> i)) mods->push_back(attn(in_ch));
    if (i != 0) mods->push_back(Upsample(ResampleOptions(in_ch).with_conv(c.resamp_with_conv)));
  }
  mods->push_back(make_group_norm(in_ch, kGroups));
  mods->push_back(conv3x3(in_ch, c.num_channels, 0.0));
  register_module("all_modules", all_modules);
  // The unused time projections never get a gradient: frozen, the optimiser and the gradient all-reduce skip
  // them and they keep their initial values, as PyTorch's Adam leaves parameters whose grad is None.
  if (!c.conditional)
    for (auto& p : named_parameters())
      if (p.key().find(".Dense_0.") != std::string::npos) p.value().requires_grad_(false);
}

bool DDPMImpl::has_attention(int64_t resolution) const {
  const auto& a = config.attn_resolutions;
  return std::find(a.begin(), a.end(), resolution) != a.end();
}

torch::Tensor DDPMImpl::block(size_t& m, const torch::Tensor& x, const torch::Tensor& temb) {
  auto blk = std::dynamic_pointer_cast<TimedBlockImpl>(all_modules->ptr(m++));
  SCORCH_CHECK(blk, "DDPM: all_modules.{} is not a block", m - 1);
  return run_block(blk, x, temb, checkpoints(x.size(-1)));
}

torch::Tensor DDPMImpl::block_cat(size_t& m, const torch::Tensor& h, const torch::Tensor& skip,
                                  const torch::Tensor& temb) {
  auto blk = std::dynamic_pointer_cast<TimedBlockImpl>(all_modules->ptr(m++));
  SCORCH_CHECK(blk, "DDPM: all_modules.{} is not a block", m - 1);
  return run_block_cat(blk, h, skip, temb, checkpoints(h.size(-1)));
}

torch::Tensor DDPMImpl::forward(const torch::Tensor& x, const torch::Tensor& labels) {
  const auto& c = config;
  const int64_t levels = static_cast<int64_t>(c.ch_mult.size());
  const auto act = make_activation(c.nonlinearity);
  size_t m = 0;
  torch::Tensor temb;  // undefined for an unconditional network: the blocks skip their time term
  if (c.conditional) {
    temb = timestep_embedding(labels, c.nf);  // (B, nf)
    temb = all_modules->ptr(m++)->as<torch::nn::LinearImpl>()->forward(temb);
    temb = all_modules->ptr(m++)->as<torch::nn::LinearImpl>()->forward(act(temb));  // (B, 4 nf)
  }

  auto h = c.centered ? x : 2 * x - 1.0;  // (B, C, H, W) in [-1, 1]
  std::vector<torch::Tensor> hs{all_modules->ptr(m++)->as<torch::nn::Conv2dImpl>()->forward(h)};
  for (int64_t i = 0; i < levels; ++i) {
    for (int64_t b = 0; b < c.num_res_blocks; ++b) {
      h = block(m, hs.back(), temb);
      if (has_attention(c.image_size >> i)) h = block(m, h, temb);
      hs.push_back(h);
    }
    if (i != levels - 1) hs.push_back(block(m, hs.back(), temb));
  }
  h = block(m, hs.back(), temb);
  h = block(m, h, temb);
  h = block(m, h, temb);
  for (int64_t i = levels - 1; i >= 0; --i) {
    for (int64_t b = 0; b < c.num_res_blocks + 1; ++b) {
      h = block_cat(m, h, hs.back(), temb);
      hs.pop_back();
    }
    if (has_attention(c.image_size >> i)) h = block(m, h, temb);
    if (i != 0) h = block(m, h, temb);
  }
  auto* norm = all_modules->ptr(m++)->as<GroupNormImpl>();
  auto* conv = all_modules->ptr(m++)->as<torch::nn::Conv2dImpl>();
  h = run_norm_act_conv(*norm, act, *conv, h, checkpoints(h.size(-1)));
  SCORCH_CHECK(m == all_modules->size(), "DDPM forward used {} of {} modules", m, all_modules->size());
  if (c.scale_by_sigma) {
    auto used = sigmas.index({labels.to(torch::kLong)}).to(h.scalar_type());  // (B,)
    h = h / used.view({-1, 1, 1, 1});
  }
  return h;
}

}  // namespace scorch::models
