// NCSN++ / DDPM++: construction in the reference module order, and the forward pass walking all_modules.
#include "core/models/ncsnpp.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/models/attention.h"
#include "core/models/combine.h"
#include "core/models/embeddings.h"
#include "core/models/grad_checkpoint.h"
#include "core/models/resample.h"
#include "core/models/resblocks.h"

namespace scorch::models {

namespace {

void check_choice(const std::string& key, const std::string& value, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (value == a) return;
  SCORCH_FAIL("{} '{}' is not supported (allowed: {})", key, value, fmt::join(allowed, ", "));
}

}  // namespace

NCSNppImpl::NCSNppImpl(const ModelConfig& config_) : config(config_) {
  const auto& c = config;
  check_choice("model.resblock_type", c.resblock_type, {"biggan", "ddpm"});
  check_choice("model.progressive", c.progressive, {"none", "output_skip", "residual"});
  check_choice("model.progressive_input", c.progressive_input, {"none", "input_skip", "residual"});
  check_choice("model.progressive_combine", c.progressive_combine, {"sum", "cat"});
  check_choice("model.embedding_type", c.embedding_type, {"fourier", "positional"});
  check_unet_ladder(c);
  const int64_t levels = static_cast<int64_t>(c.ch_mult.size());
  SCORCH_CHECK_HINT(!c.fir || !c.fir_kernel.empty(), "score_sde's FIR kernel is [1, 3, 3, 1]",
                    "model.fir is true but model.fir_kernel is empty");

  sigmas = register_buffer("sigmas", ve_sigmas(c.sigma_min, c.sigma_max, c.num_scales));
  const int64_t nf = c.nf, channels = c.num_channels;
  auto& mods = all_modules;

  int64_t embed_dim = nf;
  if (c.embedding_type == "fourier") {
    mods->push_back(GaussianFourierProjection(nf, c.fourier_scale));
    embed_dim = 2 * nf;
  }
  if (c.conditional) {
    mods->push_back(make_linear(embed_dim, 4 * nf));
    mods->push_back(make_linear(4 * nf, 4 * nf));
  }
  mods->push_back(conv3x3(channels, nf));

  std::vector<int64_t> hs_c{nf};
  int64_t in_ch = nf, pyramid_ch = channels;
  for (int64_t i = 0; i < levels; ++i) {
    const int64_t res = c.image_size >> i;
    for (int64_t b = 0; b < c.num_res_blocks; ++b) {
      const int64_t out_ch = nf * c.ch_mult[i];
      mods->push_back(make_resblock(in_ch, out_ch));
      in_ch = out_ch;
      if (has_attention(res)) mods->push_back(make_attn(in_ch));
      hs_c.push_back(in_ch);
    }
    if (i == levels - 1) continue;
    if (c.resblock_type == "ddpm") {
      mods->push_back(Downsample(ResampleOptions(in_ch)
                                     .with_conv(c.resamp_with_conv)
                                     .fir(c.fir)
                                     .fir_kernel(c.fir_kernel)
                                     .fused_fir(c.fused_fir)));
    } else {
      mods->push_back(make_resblock(in_ch, in_ch, false, true));
    }
    if (c.progressive_input == "input_skip") {
      mods->push_back(Combine(pyramid_ch, in_ch, c.progressive_combine));
      if (c.progressive_combine == "cat") in_ch *= 2;
    } else if (c.progressive_input == "residual") {
      mods->push_back(Downsample(ResampleOptions(pyramid_ch, in_ch)
                                     .with_conv(true)
                                     .fir(c.fir)
                                     .fir_kernel(c.fir_kernel)
                                     .fused_fir(c.fused_fir)));
      pyramid_ch = in_ch;
    }
    hs_c.push_back(in_ch);
  }

  in_ch = hs_c.back();
  mods->push_back(make_resblock(in_ch, in_ch));
  mods->push_back(make_attn(in_ch));
  mods->push_back(make_resblock(in_ch, in_ch));

  pyramid_ch = 0;
  for (int64_t i = levels - 1; i >= 0; --i) {
    const int64_t res = c.image_size >> i;
    for (int64_t b = 0; b < c.num_res_blocks + 1; ++b) {
      const int64_t out_ch = nf * c.ch_mult[i];
      mods->push_back(make_resblock(in_ch + hs_c.back(), out_ch));
      hs_c.pop_back();
      in_ch = out_ch;
    }
    if (has_attention(res)) mods->push_back(make_attn(in_ch));
    if (c.progressive != "none") {
      if (i == levels - 1 || c.progressive == "output_skip") {
        // The top level starts the pyramid; output_skip adds an RGB head at every level.
        mods->push_back(make_group_norm(in_ch));
        const int64_t head_out = c.progressive == "output_skip" ? channels : in_ch;
        mods->push_back(conv3x3(in_ch, head_out, c.progressive == "output_skip" ? c.init_scale : 1.0));
        pyramid_ch = head_out;
      } else {
        mods->push_back(Upsample(ResampleOptions(pyramid_ch, in_ch)
                                     .with_conv(true)
                                     .fir(c.fir)
                                     .fir_kernel(c.fir_kernel)
                                     .fused_fir(c.fused_fir)));
        pyramid_ch = in_ch;
      }
    }
    if (i != 0) {
      if (c.resblock_type == "ddpm") {
        mods->push_back(Upsample(ResampleOptions(in_ch)
                                     .with_conv(c.resamp_with_conv)
                                     .fir(c.fir)
                                     .fir_kernel(c.fir_kernel)
                                     .fused_fir(c.fused_fir)));
      } else {
        mods->push_back(make_resblock(in_ch, in_ch, true, false));
      }
    }
  }
  SCORCH_CHECK(hs_c.empty(), "NCSN++ construction left {} skip connections unused", hs_c.size());
  if (c.progressive != "output_skip") {
    mods->push_back(make_group_norm(in_ch));
    mods->push_back(conv3x3(in_ch, channels, c.init_scale));
  }
  register_module("all_modules", all_modules);
}

std::shared_ptr<TimedBlockImpl> NCSNppImpl::make_resblock(int64_t in, int64_t out, bool up, bool down) const {
  auto o = ResBlockOptions(in, out)
               .temb_dim(4 * config.nf)
               .dropout(config.dropout)
               .skip_rescale(config.skip_rescale)
               .init_scale(config.init_scale)
               .act(config.nonlinearity)
               .fold_time_bias(config.fold_time_bias)
               .fused_skip_join(config.fused_skip_join)
               .fused_input_grad(config.fused_input_grad);
  if (config.resblock_type == "ddpm") return std::make_shared<ResnetBlockDDPMImpl>(o);
  return std::make_shared<ResnetBlockBigGANImpl>(
      o.up(up).down(down).fir(config.fir).fir_kernel(config.fir_kernel).fused_fir(config.fused_fir));
}

std::shared_ptr<TimedBlockImpl> NCSNppImpl::make_attn(int64_t channels) const {
  return std::make_shared<AttnBlockImpl>(AttnBlockOptions(channels)
                                             .skip_rescale(config.skip_rescale)
                                             .init_scale(config.init_scale)
                                             .fused(config.fused_attention)
                                             .fused_skip_join(config.fused_skip_join)
                                             .fused_input_grad(config.fused_input_grad));
}

bool NCSNppImpl::has_attention(int64_t resolution) const {
  const auto& a = config.attn_resolutions;
  return std::find(a.begin(), a.end(), resolution) != a.end();
}

torch::Tensor NCSNppImpl::block(size_t& m, const torch::Tensor& x, const torch::Tensor& temb) {
  auto blk = std::dynamic_pointer_cast<TimedBlockImpl>(all_modules->ptr(m++));
  SCORCH_CHECK(blk, "NCSN++: all_modules.{} is not a block", m - 1);
  return run_block(blk, x, temb, checkpoints(x.size(-1)));
}

torch::Tensor NCSNppImpl::block_cat(size_t& m, const torch::Tensor& h, const torch::Tensor& skip,
                                    const torch::Tensor& temb) {
  auto blk = std::dynamic_pointer_cast<TimedBlockImpl>(all_modules->ptr(m++));
  SCORCH_CHECK(blk, "NCSN++: all_modules.{} is not a block", m - 1);
  return run_block_cat(blk, h, skip, temb, checkpoints(h.size(-1)));
}

torch::Tensor NCSNppImpl::norm_conv(size_t& m, const torch::Tensor& h) {
  auto* norm = all_modules->ptr(m++)->as<GroupNormImpl>();
  auto* conv = all_modules->ptr(m++)->as<torch::nn::Conv2dImpl>();
  return run_norm_act_conv(*norm, make_activation(config.nonlinearity), *conv, h, checkpoints(h.size(-1)));
}

torch::Tensor NCSNppImpl::forward(const torch::Tensor& x_in, const torch::Tensor& time_cond) {
  const auto& c = config;
  const int64_t levels = static_cast<int64_t>(c.ch_mult.size());
  const auto act = make_activation(c.nonlinearity);
  size_t m = 0;

  torch::Tensor temb, used_sigmas;  // temb (B, E); used_sigmas (B,)
  if (c.embedding_type == "fourier") {
    used_sigmas = time_cond;
    temb = all_modules->ptr(m++)->as<GaussianFourierProjectionImpl>()->forward(torch::log(time_cond));
  } else {
    if (c.scale_by_sigma) used_sigmas = sigmas.index({time_cond.to(torch::kLong)});
    temb = timestep_embedding(time_cond, c.nf);
  }
  if (c.conditional) {
    temb = all_modules->ptr(m++)->as<torch::nn::LinearImpl>()->forward(temb);
    temb = all_modules->ptr(m++)->as<torch::nn::LinearImpl>()->forward(act(temb));
  } else {
    temb = torch::Tensor();
  }

  const auto x = c.centered ? x_in : 2 * x_in - 1.0;  // (B, C, H, W) in [-1, 1]
  torch::Tensor input_pyramid;
  if (c.progressive_input != "none") input_pyramid = x;

  std::vector<torch::Tensor> hs{all_modules->ptr(m++)->as<torch::nn::Conv2dImpl>()->forward(x)};
  for (int64_t i = 0; i < levels; ++i) {
    const int64_t res = c.image_size >> i;
    for (int64_t b = 0; b < c.num_res_blocks; ++b) {
      auto h = block(m, hs.back(), temb);
      if (has_attention(res)) h = block(m, h, temb);
      hs.push_back(h);
    }
    if (i == levels - 1) continue;
    auto h = block(m, hs.back(), temb);
    if (c.progressive_input == "input_skip") {
      input_pyramid =
          c.fir ? fir_downsample_2d(input_pyramid, c.fir_kernel, switch_applies(c.fused_fir, input_pyramid.is_cuda()))
                : naive_downsample_2d(input_pyramid);
      h = all_modules->ptr(m++)->as<CombineImpl>()->forward(input_pyramid, h);
    } else if (c.progressive_input == "residual") {
      input_pyramid = skip_join(block(m, input_pyramid, temb), h, c.skip_rescale);
      h = input_pyramid;
    }
    hs.push_back(h);
  }

  auto h = block(m, hs.back(), temb);
  h = block(m, h, temb);
  h = block(m, h, temb);

  torch::Tensor pyramid;  // (B, C or ch, H, W) output pyramid of the progressive modes
  for (int64_t i = levels - 1; i >= 0; --i) {
    const int64_t res = c.image_size >> i;
    for (int64_t b = 0; b < c.num_res_blocks + 1; ++b) {
      h = block_cat(m, h, hs.back(), temb);
      hs.pop_back();
    }
    if (has_attention(res)) h = block(m, h, temb);
    if (c.progressive != "none") {
      if (i == levels - 1) {
        pyramid = norm_conv(m, h);
      } else if (c.progressive == "output_skip") {
        pyramid = c.fir ? fir_upsample_2d(pyramid, c.fir_kernel, switch_applies(c.fused_fir, pyramid.is_cuda()))
                        : naive_upsample_2d(pyramid);
        pyramid = pyramid + norm_conv(m, h);
      } else {
        pyramid = skip_join(block(m, pyramid, temb), h, c.skip_rescale);
        h = pyramid;
      }
    }
    if (i != 0) h = block(m, h, temb);
  }
  h = c.progressive == "output_skip" ? pyramid : norm_conv(m, h);
  SCORCH_CHECK(m == all_modules->size(), "NCSN++ forward used {} of {} modules", m, all_modules->size());

  if (c.scale_by_sigma) {
    // The reference divides by float64 sigmas in the positional case, promoting the output to float64;
    // scorch keeps the network's dtype.
    h = h / used_sigmas.to(h.scalar_type()).view({-1, 1, 1, 1});
  }
  return h;  // (B, C, H, W)
}

}  // namespace scorch::models
