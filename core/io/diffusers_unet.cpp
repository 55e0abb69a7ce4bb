// NCSN++ -> diffusers UNet2DModel: the configs the skip blocks express, config.json, and the renaming walk.
// Facts taken from diffusers 0.42.1 (models/unets/unet_2d.py, unet_2d_blocks.py, resnet.py, embeddings.py):
// the skip blocks hard-code BigGAN-style ResnetBlock2D resampling with the FIR kernel (1,3,3,1), a √2
// output scale, 3-channel pyramid convs and 32-group attention norms; UNet2DModel with the Fourier embedding
// takes σ, embeds log σ and divides its output by σ — the same σ input and output scaling as NCSN++ with
// scale_by_sigma, so the pipeline's σ goes straight in.
#include "core/io/diffusers_unet.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "core/error.h"
#include "core/models/score_model.h"

namespace scorch::io {

namespace {

constexpr const char* kHint =
    "export-diffusers takes score_sde's VE NCSN++ (the ve/*_ncsnpp_continuous networks: fourier, biggan, fir, "
    "progressive=output_skip, progressive_input=input_skip, progressive_combine=sum); `scorch convert export-ema` "
    "exports any network";

// A config value UNet2DModel cannot reproduce: names the key, its value and the reason.
void require(const Config& config, bool ok, const std::string& key, const std::string& why) {
  SCORCH_CHECK_HINT(ok, kHint, "{} = {} cannot be exported to diffusers: {}", key, config.value_text(key), why);
}

bool has_attention(const models::ModelConfig& c, int64_t level) {
  const auto& a = c.attn_resolutions;
  return std::find(a.begin(), a.end(), c.image_size >> level) != a.end();
}

// Renames reference tensors onto diffusers names and remembers which were used.
struct Renamer {
  const std::map<std::string, torch::Tensor>& state;
  const std::string& source;
  std::map<std::string, torch::Tensor> out;
  std::set<std::string> used;

  bool has(const std::string& name) const { return state.count(name) > 0; }

  void take(const std::string& to, const std::string& from, bool transpose = false) {
    auto it = state.find(from);
    SCORCH_CHECK(it != state.end(), "{}: tensor '{}' (diffusers' '{}') is missing", source, from, to);
    auto t = it->second.detach().to(torch::kCPU, torch::kFloat32);
    out[to] = (transpose ? t.t() : t).contiguous();
    used.insert(from);
  }
  void weight_bias(const std::string& to, const std::string& from) {
    take(to + ".weight", from + ".weight");
    take(to + ".bias", from + ".bias");
  }
  // ResnetBlockBigGANpp and ResnetBlock2D compute the same thing in the same order under other names; the
  // 1x1 shortcut exists in both exactly when channels change or the block resamples.
  void resnet(const std::string& to, int64_t m) {
    const auto from = fmt::format("all_modules.{}.", m);
    weight_bias(to + ".norm1", from + "GroupNorm_0");
    weight_bias(to + ".conv1", from + "Conv_0");
    weight_bias(to + ".time_emb_proj", from + "Dense_0");
    weight_bias(to + ".norm2", from + "GroupNorm_1");
    weight_bias(to + ".conv2", from + "Conv_1");
    if (has(from + "Conv_2.weight")) weight_bias(to + ".conv_shortcut", from + "Conv_2");
  }
  // score_sde's NIN holds W as (in, out) and computes x W + b; a Linear holds its weight as (out, in).
  void attention(const std::string& to, int64_t m) {
    const auto from = fmt::format("all_modules.{}.", m);
    weight_bias(to + ".group_norm", from + "GroupNorm_0");
    const char* names[] = {"to_q", "to_k", "to_v", "to_out.0"};
    for (int i = 0; i < 4; ++i) {
      take(fmt::format("{}.{}.weight", to, names[i]), fmt::format("{}NIN_{}.W", from, i), /*transpose=*/true);
      take(fmt::format("{}.{}.bias", to, names[i]), fmt::format("{}NIN_{}.b", from, i));
    }
  }
};

}  // namespace

void check_diffusers_expressible(const Config& config) {
  const auto c = models::ModelConfig::from(config);
  require(config, config.get_string("training.sde") == "vesde", "training.sde",
          "ScoreSdeVePipeline and its scheduler sample the VE SDE only (VP / sub-VP networks need another scheduler)");
  require(config, c.name == "ncsnpp", "model.name", "only NCSN++ maps onto UNet2DModel's skip blocks");
  require(config, c.embedding_type == "fourier", "model.embedding_type",
          "UNet2DModel takes σ and embeds log σ with a Gaussian Fourier projection (time_embedding_type fourier); a "
          "positional embedding is fed a noise-level index, which the pipeline does not pass");
  require(config, c.scale_by_sigma, "model.scale_by_sigma",
          "with the Fourier embedding UNet2DModel always divides its output by σ");
  require(config, c.conditional, "model.conditional", "UNet2DModel always adds a time embedding to every resnet");
  require(config, c.resblock_type == "biggan", "model.resblock_type",
          "the skip blocks resample inside their resnets (BigGAN blocks); DDPM blocks resample in separate layers");
  require(config, c.progressive == "output_skip", "model.progressive",
          "SkipUpBlock2D / AttnSkipUpBlock2D always build the output_skip pyramid (GroupNorm, SiLU, 3x3 conv to the "
          "image at every resolution, FIR-upsampled and summed)");
  require(config, c.progressive_input == "input_skip", "model.progressive_input",
          "SkipDownBlock2D / AttnSkipDownBlock2D always add a 1x1 conv of the FIR-downsampled input image after each "
          "downsampling (input_skip); residual downsamples it with a 3x3 conv, none has no input pyramid");
  require(config, c.progressive_combine == "sum", "model.progressive_combine",
          "the skip blocks add the input pyramid to the features rather than concatenating it");
  require(config, c.fir, "model.fir", "the skip blocks and their resnets resample with an FIR kernel");
  require(config, c.fir_kernel == std::vector<int64_t>{1, 3, 3, 1}, "model.fir_kernel",
          "the skip blocks hard-code the FIR kernel (1, 3, 3, 1)");
  require(config, c.skip_rescale, "model.skip_rescale",
          "the skip blocks divide every residual and attention sum by √2 (their output_scale_factor)");
  require(config, c.nonlinearity == "swish" || c.nonlinearity == "silu", "model.nonlinearity",
          "UNet2DModel's time embedding and output head use SiLU (swish) whatever act_fn says");
  require(config, !c.ch_mult.empty() && c.ch_mult[0] == 1, "model.ch_mult",
          "UNet2DModel sizes conv_in, the Fourier projection and the time embedding by block_out_channels[0] = "
          "nf * ch_mult[0], NCSN++ by nf, so ch_mult[0] must be 1");
  require(config, c.num_channels == 3, "data.num_channels",
          "the skip blocks' pyramid convs have 3 image channels and ScoreSdeVePipeline draws 3-channel noise");
  require(config, !c.centered, "data.centered",
          "ScoreSdeVePipeline clamps its samples to [0, 1], the data range of uncentered VE networks");

  // Group counts: NCSN++ normalises C channels with min(C/4, 32) groups everywhere. diffusers' attention in the
  // Attn skip blocks always uses 32 groups, and AttnSkipUpBlock2D's resnets compute min(in + skip // 4, 32)
  // (operator precedence); both agree with NCSN++ only from 128 channels on.
  const int64_t levels = static_cast<int64_t>(c.ch_mult.size());
  for (int64_t i = 0; i < levels; ++i) {
    if (!has_attention(c, i)) continue;
    const int64_t ch = c.nf * c.ch_mult[i];
    require(config, ch >= 128, "model.attn_resolutions",
            fmt::format("attention at resolution {} runs on nf * ch_mult[{}] = {} channels; diffusers normalises it "
                        "with 32 groups, NCSN++ with min(C/4, 32) = {}, which agree only from 128 channels",
                        c.image_size >> i, i, ch, std::min<int64_t>(ch / 4, 32)));
    const int64_t below = i + 1 < levels ? c.nf * c.ch_mult[i + 1] : ch;  // the mid block for the lowest level
    const int64_t skip_in = i > 0 ? c.nf * c.ch_mult[i - 1] : c.nf;
    for (int64_t j = 0; j <= c.num_res_blocks; ++j) {
      const int64_t in = (j == 0 ? below : ch) + (j == c.num_res_blocks ? skip_in : ch);
      require(config, in >= 128, "model.ch_mult",
              fmt::format("the up-path resnet {} at resolution {} takes {} input channels; diffusers' "
                          "AttnSkipUpBlock2D gives it min(in + skip // 4, 32) groups, NCSN++ min(C/4, 32), which "
                          "agree only from 128 channels",
                          j, c.image_size >> i, in));
    }
  }
}

nlohmann::json diffusers_unet_config(const Config& config) {
  check_diffusers_expressible(config);
  const auto c = models::ModelConfig::from(config);
  const int64_t levels = static_cast<int64_t>(c.ch_mult.size());
  std::vector<int64_t> channels;
  std::vector<std::string> down, up;
  for (int64_t i = 0; i < levels; ++i) {
    channels.push_back(c.nf * c.ch_mult[i]);
    down.push_back(has_attention(c, i) ? "AttnSkipDownBlock2D" : "SkipDownBlock2D");
    up.insert(up.begin(), has_attention(c, i) ? "AttnSkipUpBlock2D" : "SkipUpBlock2D");
  }
  return {
      {"_class_name", "UNet2DModel"},
      {"_diffusers_version", kDiffusersVersion},
      {"sample_size", c.image_size},
      {"in_channels", c.num_channels},
      {"out_channels", c.num_channels},
      // NCSN++ maps uncentered data [0, 1] to [-1, 1] itself; the input pyramid starts from the mapped image.
      {"center_input_sample", !c.centered},
      {"time_embedding_type", "fourier"},
      // Fourier features are [sin, cos] in both; the flag only matters for positional embeddings.
      {"flip_sin_to_cos", false},
      {"freq_shift", 0},
      {"down_block_types", down},
      {"mid_block_type", "UNetMidBlock2D"},
      {"up_block_types", up},
      {"block_out_channels", channels},
      {"layers_per_block", c.num_res_blocks},
      // The mid block's resnets and attention divide their sums by this, as NCSN++ does with skip_rescale.
      {"mid_block_scale_factor", std::sqrt(2.0)},
      {"dropout", c.dropout},
      {"act_fn", "silu"},
      // null: one head of all channels per attention layer, as NCSN++'s single-head attention.
      {"attention_head_dim", nullptr},
      // null: the mid block and the output norm use min(C/4, 32) groups, as NCSN++.
      {"norm_num_groups", nullptr},
      {"attn_norm_num_groups", nullptr},
      {"norm_eps", 1e-6},
      {"resnet_time_scale_shift", "default"},
      {"add_attention", true},
      {"class_embed_type", nullptr},
      {"num_class_embeds", nullptr},
  };
}

std::map<std::string, torch::Tensor> to_diffusers_unet(const std::map<std::string, torch::Tensor>& state,
                                                       const Config& config, const std::string& source) {
  check_diffusers_expressible(config);
  const auto c = models::ModelConfig::from(config);
  const int64_t levels = static_cast<int64_t>(c.ch_mult.size());
  Renamer r{state, source, {}, {}};
  // The walk follows NCSN++'s all_modules order (core/models/ncsnpp.cpp) for the configs checked above.
  r.take("time_proj.weight", "all_modules.0.W");
  r.weight_bias("time_embedding.linear_1", "all_modules.1");
  r.weight_bias("time_embedding.linear_2", "all_modules.2");
  r.weight_bias("conv_in", "all_modules.3");
  int64_t m = 4;
  for (int64_t i = 0; i < levels; ++i) {
    const auto block = fmt::format("down_blocks.{}", i);
    for (int64_t j = 0; j < c.num_res_blocks; ++j) {
      r.resnet(fmt::format("{}.resnets.{}", block, j), m++);
      if (has_attention(c, i)) r.attention(fmt::format("{}.attentions.{}", block, j), m++);
    }
    if (i == levels - 1) continue;
    r.resnet(block + ".resnet_down", m++);
    r.weight_bias(block + ".skip_conv", fmt::format("all_modules.{}.Conv_0", m++));  // the input_skip Combine
  }
  r.resnet("mid_block.resnets.0", m++);
  r.attention("mid_block.attentions.0", m++);
  r.resnet("mid_block.resnets.1", m++);
  for (int64_t i = levels - 1; i >= 0; --i) {
    const auto block = fmt::format("up_blocks.{}", levels - 1 - i);
    for (int64_t j = 0; j <= c.num_res_blocks; ++j) r.resnet(fmt::format("{}.resnets.{}", block, j), m++);
    if (has_attention(c, i)) r.attention(block + ".attentions.0", m++);
    // The output_skip head of each resolution: in the block above the full resolution, and UNet2DModel's own
    // output head at full resolution (its output is that head plus the upsampled pyramid, as in NCSN++).
    const bool top = i == 0;
    r.weight_bias(top ? "conv_norm_out" : block + ".skip_norm", fmt::format("all_modules.{}", m++));
    r.weight_bias(top ? "conv_out" : block + ".skip_conv", fmt::format("all_modules.{}", m++));
    if (!top) r.resnet(block + ".resnet_up", m++);
  }

  std::vector<std::string> left;
  for (const auto& [name, tensor] : state)
    if (name != "sigmas" && !r.used.count(name)) left.push_back(name);
  SCORCH_CHECK(left.empty(), "{}: {} tensors have no place in diffusers' UNet2DModel, the first: {}", source,
               left.size(), fmt::join(left.begin(), left.begin() + std::min<size_t>(left.size(), 3), ", "));
  return r.out;
}

}  // namespace scorch::io
