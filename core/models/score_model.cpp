// The model factory and ModelConfig, read from the config table's model.* and data.* keys.
#include "core/models/score_model.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/models/ddpm.h"
#include "core/models/mlp.h"
#include "core/models/ncsnpp.h"
#include "core/models/ncsnv2.h"
#include "core/models/wideresnet.h"

namespace scorch::models {

namespace {

// score_sde's configs carry these keys with one value each, the only one its networks (and so scorch's)
// implement; any other value would silently train that one.
void check_only_value(const Config& c, const std::string& key, const std::string& implemented) {
  const std::string value = c.value_text(key);
  SCORCH_CHECK_HINT(value == implemented, fmt::format("remove the key or set it to {}", implemented),
                    "{} = {} (from {}) is not implemented: scorch's networks (as score_sde's) only have {} = {}", key,
                    value, c.source_of(key), key, implemented);
}

}  // namespace

bool is_refinenet(const std::string& name) { return network_family(name) == "refinenet"; }

void check_unet_ladder(const ModelConfig& c) {
  const int64_t levels = static_cast<int64_t>(c.ch_mult.size());
  SCORCH_CHECK(levels >= 1, "model.ch_mult is empty");
  SCORCH_CHECK(c.image_size >= 1 && c.image_size % (int64_t{1} << (levels - 1)) == 0,
               "data.image_size {} is not a positive multiple of 2^{} (len(model.ch_mult) - 1)", c.image_size,
               levels - 1);
  std::vector<int64_t> widths;
  for (int64_t k = 0; k < levels; ++k) widths.push_back(c.image_size >> k);
  // A warning, not an error: score_sde builds such a network (without that attention), and checkpoints of it load.
  for (auto r : c.attn_resolutions)
    if (std::find(widths.begin(), widths.end(), r) == widths.end())
      spdlog::warn(
          "model.attn_resolutions holds {}, a width the network never has (its widths are {}): no attention "
          "is built there",
          r, fmt::join(widths, ", "));
}

ModelConfig ModelConfig::from(const Config& c) {
  ModelConfig m;
  m.name = c.get_string("model.name");
  // score_sde's names for the three NCSNv2 depths.
  if (m.name == "ncsnv2_64") m.name = "ncsnv2";
  if (m.name == "ncsnv2_128") m.name = "ncsnv2_deeper";
  if (m.name == "ncsnv2_256") m.name = "ncsnv2_deepest";
  check_only_value(c, "model.conv_size", "3");
  check_only_value(c, "model.normalization", is_refinenet(m.name) ? "InstanceNorm++" : "GroupNorm");
  check_only_value(c, "model.attention_type", "ddpm");
  // The RefineNets take a level index; continuous training would feed them σ values, which they would round.
  SCORCH_CHECK_HINT(!is_refinenet(m.name) || !c.get_bool("training.continuous"),
                    "set training.continuous: false (the SMLD loss over the ladder, as the originals train)",
                    "model.name {} is conditioned on a noise-level index, but training.continuous is true (from {})",
                    m.name, c.source_of("training.continuous"));
  m.nf = c.get_int("model.nf");
  m.ch_mult = c.get_int_list("model.ch_mult");
  m.num_res_blocks = c.get_int("model.num_res_blocks");
  m.attn_resolutions = c.get_int_list("model.attn_resolutions");
  m.dropout = c.get_float("model.dropout");
  m.resamp_with_conv = c.get_bool("model.resamp_with_conv");
  m.conditional = c.get_bool("model.conditional");
  m.fir = c.get_bool("model.fir");
  m.fir_kernel = c.get_int_list("model.fir_kernel");
  m.skip_rescale = c.get_bool("model.skip_rescale");
  m.resblock_type = c.get_string("model.resblock_type");
  m.progressive = c.get_string("model.progressive");
  m.progressive_input = c.get_string("model.progressive_input");
  m.progressive_combine = c.get_string("model.progressive_combine");
  m.embedding_type = c.get_string("model.embedding_type");
  m.nonlinearity = c.get_string("model.nonlinearity");
  m.fourier_scale = c.get_float("model.fourier_scale");
  m.init_scale = c.get_float("model.init_scale");
  m.scale_by_sigma = c.get_bool("model.scale_by_sigma");
  m.sigma_min = c.get_float("model.sigma_min");
  m.sigma_max = c.get_float("model.sigma_max");
  m.num_scales = c.get_int("model.num_scales");
  m.image_size = c.get_int("data.image_size");
  m.num_channels = c.get_int("data.num_channels");
  m.centered = c.get_bool("data.centered");
  m.grad_checkpointing = c.get_bool("model.grad_checkpointing");
  m.grad_checkpointing_min_resolution = c.get_int("model.grad_checkpointing_min_resolution");
  // Checked here, naming the key, rather than by LibTorch's layers as they are built (a stack trace naming none).
  SCORCH_CHECK_HINT(m.nf >= 1 && m.nf <= 4096, "score_sde's networks use 64 to 256",
                    "model.nf = {} (from {}): expected a channel count from 1 to 4096", m.nf, c.source_of("model.nf"));
  SCORCH_CHECK(m.num_channels >= 1 && m.num_channels <= 4096,
               "data.num_channels = {} (from {}): expected a channel count from 1 to 4096", m.num_channels,
               c.source_of("data.num_channels"));
  SCORCH_CHECK_HINT(m.num_scales >= 2, "score_sde uses 1000 (VP) or 1000-2000 (VE)",
                    "model.num_scales = {} (from {}): expected at least 2 noise levels", m.num_scales,
                    c.source_of("model.num_scales"));
  // The Fourier embedding takes log(label); trained on discrete levels the label is a level index, 0 for the
  // first, and the network's output at σ_max (VE) or t = 0 (VP) is NaN.
  SCORCH_CHECK_HINT((m.name != "ncsnpp" && m.name != "mlp") || m.embedding_type != "fourier" ||
                        c.get_bool("training.continuous") || c.get_string("training.task") != "score",
                    "set model.embedding_type: positional, as score_sde's discrete configs do, or "
                    "training.continuous: true",
                    "model.embedding_type = fourier (from {}) with training.continuous = false (from {}): the "
                    "discrete objective labels the levels 0, 1, ..., and the Fourier embedding takes their log",
                    c.source_of("model.embedding_type"), c.source_of("training.continuous"));
  SCORCH_CHECK(m.dropout >= 0.0 && m.dropout < 1.0, "model.dropout = {} (from {}): expected a probability in [0, 1)",
               m.dropout, c.source_of("model.dropout"));
  SCORCH_CHECK(
      m.grad_checkpointing_min_resolution >= 0,
      "model.grad_checkpointing_min_resolution = {} (from {}): expected a width in pixels >= 0 (0: every block)",
      m.grad_checkpointing_min_resolution, c.source_of("model.grad_checkpointing_min_resolution"));
  m.fused_attention = c.get_bool("model.fused_attention");
  m.fused_group_norm = c.get_switch("model.fused_group_norm");
  // Sliced score matching takes a double backward, which the fused GroupNorm lacks (make_loss refuses `true`).
  const std::string loss = c.get_string("training.loss");
  if (m.fused_group_norm == Switch::Auto && (loss == "ssm" || loss == "ssm_vr")) m.fused_group_norm = Switch::Off;
  m.fused_fir = c.get_switch("model.fused_fir");
  m.fold_time_bias = c.get_switch("model.fold_time_bias");
  m.fused_skip_join = c.get_switch("model.fused_skip_join");
  m.fused_input_grad = c.get_switch("model.fused_input_grad");
  m.num_classes = c.get_int("model.num_classes");
  m.blocks_per_group = c.get_int("model.blocks_per_group");
  m.channel_multiplier = c.get_int("model.channel_multiplier");
  m.input_mean = c.get_float_list("model.input_mean");
  m.input_std = c.get_float_list("model.input_std");
  return m;
}

torch::Tensor ve_sigmas(double sigma_min, double sigma_max, int64_t num_scales) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  return torch::exp(torch::linspace(std::log(sigma_max), std::log(sigma_min), num_scales, opts));
}

std::shared_ptr<ScoreModelImpl> make_model(const ModelConfig& config) {
  std::shared_ptr<ScoreModelImpl> model;
  if (config.name == "ncsnpp") {
    model = std::make_shared<NCSNppImpl>(config);
  } else if (config.name == "ddpm") {
    model = std::make_shared<DDPMImpl>(config);
  } else if (is_refinenet(config.name)) {
    model = std::make_shared<NCSNv2Impl>(config);
  } else if (config.name == "mlp") {
    model = std::make_shared<MLPImpl>(config);
  } else if (config.name == "wideresnet_noise_conditional") {
    model = std::make_shared<WideResnetNoiseConditionalImpl>(config);
  } else {
    SCORCH_FAIL(
        "model.name '{}' is not a known network (ncsnpp, ddpm, ncsn, ncsnv2, ncsnv2_deeper, ncsnv2_deepest, mlp, "
        "wideresnet_noise_conditional)",
        config.name);
  }
  model->set_grad_checkpointing(config.grad_checkpointing, config.grad_checkpointing_min_resolution);
  for (const auto& m : model->modules())
    if (auto* norm = m->as<GroupNormImpl>()) norm->set_fused(config.fused_group_norm);
  return model;
}

std::shared_ptr<ScoreModelImpl> make_model(const Config& config) { return make_model(ModelConfig::from(config)); }

int64_t count_parameters(const torch::nn::Module& model) {
  int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

}  // namespace scorch::models
