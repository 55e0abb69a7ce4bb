// Flax names and layouts of scorch's networks, and score_sde's Flax classifier params mapped onto them
// (see flax_checkpoint.h).
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <regex>

#include "core/error.h"
#include "core/io/flax_checkpoint.h"
#include "core/io/state_dict_import.h"
#include "core/models/attention.h"
#include "core/models/combine.h"
#include "core/models/embeddings.h"
#include "core/models/group_norm.h"
#include "core/models/resample.h"
#include "core/models/resblocks.h"

namespace scorch::io {

namespace {

using namespace state_import;

// The torch tensor in Flax's layout.
torch::Tensor to_flax_layout(const torch::Tensor& t) {
  if (t.dim() == 4) return t.permute({2, 3, 1, 0});  // (out, in, kh, kw) -> (kh, kw, in, out)
  if (t.dim() == 2) return t.t();                    // (out, in) -> (in, out)
  return t;
}

std::string flax_name(const std::string& torch_name, int64_t dim) {
  const auto dot = torch_name.rfind('.');
  const auto owner = torch_name.substr(0, dot), leaf = torch_name.substr(dot + 1);
  if (leaf != "weight") return torch_name;  // bias, GaussianFourierProjection's W
  // score_sde's FIR resampling convolution (up_or_down_sampling.Conv2d) calls its HWIO kernel `weight` in Flax too.
  if (owner.substr(owner.rfind('.') + 1).rfind("Conv2d_", 0) == 0) return torch_name;
  return owner + (dim == 1 ? ".scale" : ".kernel");
}

int64_t step_of_name(const std::string& path) {
  std::smatch m;
  const auto name = std::filesystem::path(path).filename().string();
  if (std::regex_match(name, m, std::regex(R"(checkpoint_(\d{1,18}))"))) return std::stoll(m[1]);
  return 0;
}

// The Flax class of one of all_modules' entries, as score_sde's ncsnpp.py (layerspp) or ddpm.py (layers) names it.
std::string flax_class(torch::nn::Module& m, bool pp) {
  if (m.as<models::GaussianFourierProjectionImpl>()) return "GaussianFourierProjection";
  if (m.as<torch::nn::LinearImpl>()) return "Dense";
  if (m.as<torch::nn::Conv2dImpl>()) return "Conv";
  if (m.as<models::GroupNormImpl>()) return "GroupNorm";
  if (m.as<models::ResnetBlockBigGANImpl>()) return "ResnetBlockBigGANpp";
  if (m.as<models::ResnetBlockDDPMImpl>()) return pp ? "ResnetBlockDDPMpp" : "ResnetBlockDDPM";
  if (m.as<models::AttnBlockImpl>()) return pp ? "AttnBlockpp" : "AttnBlock";
  if (m.as<models::UpsampleImpl>()) return "Upsample";
  if (m.as<models::DownsampleImpl>()) return "Downsample";
  if (m.as<models::CombineImpl>()) return "Combine";
  SCORCH_FAIL("no Flax name for the module {} in all_modules", m.name());
}

// Flax names a compact module's children by class and call order (Conv_0, ResnetBlockBigGANpp_3, ...);
// all_modules lists the same modules in that order, save the pyramid's weightless resamplers, which Flax
// counts and torch does not keep: with output_skip one Upsample before each level's but the first, with
// input_skip one Downsample after each.
std::map<std::string, std::string> flax_module_names(torch::nn::Module& model, const Config& config) {
  const bool pp = config.get_string("model.name") == "ncsnpp";
  const bool output_skip = pp && config.get_string("model.progressive") == "output_skip";
  const bool input_skip = pp && config.get_string("model.progressive_input") == "input_skip";
  const auto children = model.named_children();
  SCORCH_CHECK(children.contains("all_modules"), "the {} network has no all_modules", config.get_string("model.name"));
  std::map<std::string, int> count;
  std::map<std::string, std::string> out;  // "all_modules.7" -> "ResnetBlockBigGANpp_2"
  bool first_upsample = true;
  const auto list = children["all_modules"]->children();
  for (size_t i = 0; i < list.size(); ++i) {
    const auto cls = flax_class(*list[i], pp);
    if (cls == "Upsample" && output_skip && !std::exchange(first_upsample, false)) ++count[cls];
    out[fmt::format("all_modules.{}", i)] = fmt::format("{}_{}", cls, count[cls]++);
    if (cls == "Downsample" && input_skip) ++count[cls];
  }
  return out;
}

}  // namespace

torch::Tensor from_flax_layout(const torch::Tensor& t) {
  if (t.dim() == 4) return t.permute({3, 2, 0, 1}).contiguous();
  if (t.dim() == 2) return t.t().contiguous();
  return t.clone();
}

namespace {

// The network of `config`, for networks score_sde has Flax code for.
std::shared_ptr<models::ScoreModelImpl> flax_network(const Config& config) {
  const auto name = config.get_string("model.name");
  SCORCH_CHECK_HINT(name == "ncsnpp" || name == "ddpm" || name == "wideresnet_noise_conditional",
                    "NCSN and NCSNv2 networks come from their .pth files, which `scorch convert import` reads too",
                    "Flax checkpoints are read for score_sde's NCSN++, DDPM++, DDPM and classifier networks "
                    "(model.name: ncsnpp, ddpm, wideresnet_noise_conditional); the config builds model.name: {}",
                    name);
  return models::make_model(config);
}

std::vector<FlaxParam> flax_params_of(torch::nn::Module& model, const Config& config) {
  const auto name = config.get_string("model.name");
  const bool score = name == "ncsnpp" || name == "ddpm";
  const auto modules = score ? flax_module_names(model, config) : std::map<std::string, std::string>{};
  std::vector<FlaxParam> out;
  const bool unconditional = score && !config.get_bool("model.conditional");
  for (const auto& p : model.named_parameters()) {
    auto flax = flax_name(p.key(), p.value().dim());
    if (score) {  // "all_modules.7.Conv_0.kernel" -> "ResnetBlockBigGANpp_2.Conv_0.kernel"
      const auto dot = flax.find('.', flax.find('.') + 1);
      flax = modules.at(flax.substr(0, dot)) + flax.substr(dot);
      // Without time conditioning the torch port still builds each block's Dense_0 (and never calls it); Flax
      // creates none. The import leaves those at the network's initial values.
      if (unconditional && flax.rfind("ResnetBlock", 0) == 0 && flax.find(".Dense_0.") != std::string::npos) continue;
    }
    // Only kernels change layout: NIN's W is (in, out) in both, as score_sde_pytorch kept it.
    const bool kernel = p.value().dim() >= 2 && p.key().substr(p.key().rfind('.') + 1) == "weight";
    const auto sizes = kernel ? to_flax_layout(p.value()).sizes() : p.value().sizes();
    out.push_back({p.key(), flax, {sizes.begin(), sizes.end()}, kernel});
  }
  return out;
}

// The network's arrays found at `prefix` + Flax name + `suffix`, in torch layouts and by torch name. What is
// missing or has another shape or dtype goes to `problems`; every key found goes to `used`.
std::map<std::string, torch::Tensor> take(const FlaxTree& tree, const std::vector<FlaxParam>& wanted,
                                          const std::string& prefix, const std::string& suffix, Problems& problems,
                                          std::set<std::string>& used) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& w : wanted) {
    const auto key = prefix + w.flax_name + suffix;
    const auto it = tree.arrays.find(key);
    if (it == tree.arrays.end()) {
      problems.missing(key);
      continue;
    }
    used.insert(key);
    const auto& a = it->second;
    if (a.sizes().vec() != w.flax_shape || a.scalar_type() != torch::kFloat32) {
      problems.wrong(key, a, torch::empty(w.flax_shape, torch::TensorOptions(torch::kFloat32).device(torch::kMeta)));
      continue;
    }
    out[w.torch_name] = w.kernel ? from_flax_layout(a) : a.clone();
  }
  return out;
}

// A number the tree holds as a plain msgpack value or as a one-element array (jnp scalars are 0-d arrays).
std::optional<double> number_at(const FlaxTree& tree, const std::string& key, const std::string& path) {
  if (const auto it = tree.arrays.find(key); it != tree.arrays.end()) {
    SCORCH_CHECK(it->second.numel() == 1, "'{}': {} is an array of shape {}, expected one number", path, key,
                 it->second.sizes());
    return it->second.to(torch::kFloat64).item<double>();
  }
  if (const auto it = tree.values.find(key); it != tree.values.end()) {
    SCORCH_CHECK(it->second.is_number(), "'{}': {} is a {}, expected a number", path, key, it->second.type_name());
    return it->second.get<double>();
  }
  return std::nullopt;
}

int64_t step_at(const FlaxTree& tree, const std::string& key, const std::string& path) {
  const auto v = number_at(tree, key, path);
  SCORCH_CHECK(v, "'{}': score_sde's training state has no {}", path, key);
  SCORCH_CHECK(*v >= 0 && *v == std::floor(*v) && *v < 9e15, "'{}': {} is {}, expected a whole number of steps", path,
               key, *v);
  return static_cast<int64_t>(*v);
}

// The buffers (sigmas, input normalisation) from the config, as the reference computes them, not the file.
void add_buffers(const Network& network, ScoreSdeCheckpoint& out) {
  for (const auto& [name, t] : network.tensors)
    if (!out.tensors.model.count(name)) out.tensors.model[name] = t.detach().clone();
}

}  // namespace

std::vector<FlaxParam> flax_params(const Config& config) { return flax_params_of(*flax_network(config), config); }

ScoreSdeCheckpoint from_flax_params(const FlaxTree& tree, const Config& config, const std::string& path) {
  // flax.linen's init returns {"params": tree}; score_sde's create_classifier restores the inner tree.
  const bool nested = !tree.arrays.empty() && std::all_of(tree.arrays.begin(), tree.arrays.end(), [](const auto& a) {
    return a.first.rfind("params.", 0) == 0;
  });
  const auto model = flax_network(config);
  Problems problems;
  std::set<std::string> used;
  ScoreSdeCheckpoint out;
  out.tensors.model = take(tree, flax_params_of(*model, config), nested ? "params." : "", "", problems, used);
  for (const auto& [name, a] : tree.arrays)
    if (!used.count(name)) problems.extra(name);
  for (const auto& [name, v] : tree.values) problems.extra(fmt::format("{} (a {})", name, v.type_name()));
  problems.check(path, "the Flax params tree");

  const auto network = network_of(*model);
  add_buffers(network, out);
  for (const auto& p : network.params) {
    if (!p.trainable) continue;
    out.tensors.ema[p.name] = out.tensors.model.at(p.name).clone();
    out.tensors.optimizer["exp_avg." + p.name] = torch::zeros_like(p.tensor);
    out.tensors.optimizer["exp_avg_sq." + p.name] = torch::zeros_like(p.tensor);
    if (config.get_bool("optim.amsgrad"))
      out.tensors.optimizer["max_exp_avg_sq." + p.name] = torch::zeros_like(p.tensor);
  }
  out.step = step_of_name(path);
  out.tensors.optimizer_step = 0;
  out.tensors.ema_rate = config.get_float("model.ema_rate");
  out.tensors.ema_num_updates = out.step;
  out.source["format"] = "flax";
  out.source["params_under"] = nested ? "params" : "the top level";
  out.source["ema"] = {{"in_file", false}, {"num_updates", out.step}};
  out.source["optimizer"] = "none in the file: Adam starts afresh";
  return out;
}

ScoreSdeCheckpoint from_flax_state(const FlaxTree& tree, const Config& config, const std::string& path) {
  const auto model = flax_network(config);
  const auto wanted = flax_params_of(*model, config);
  Problems problems;
  std::set<std::string> used;
  ScoreSdeCheckpoint out;
  out.tensors.model = take(tree, wanted, "optimizer.target.", "", problems, used);
  const auto ema = take(tree, wanted, "params_ema.", "", problems, used);
  const auto m = take(tree, wanted, "optimizer.state.param_states.", ".grad_ema", problems, used);
  const auto v = take(tree, wanted, "optimizer.state.param_states.", ".grad_sq_ema", problems, used);
  const std::set<std::string> numbers = {"step", "optimizer.state.step", "lr", "ema_rate"};
  for (const auto& [name, a] : tree.arrays)
    if (!used.count(name) && !numbers.count(name) && name != "rng") problems.extra(name);
  for (const auto& [name, value] : tree.values)
    if (!numbers.count(name)) problems.extra(fmt::format("{} (a {})", name, value.type_name()));
  problems.check(path, "score_sde's Flax training state");

  out.step = step_at(tree, "step", path);
  out.tensors.optimizer_step = step_at(tree, "optimizer.state.step", path);
  if (const auto lr = number_at(tree, "lr", path)) warn_if_differs("learning rate", *lr, config.get_float("optim.lr"));
  out.tensors.ema_rate = number_at(tree, "ema_rate", path).value_or(config.get_float("model.ema_rate"));
  warn_if_differs("EMA rate", out.tensors.ema_rate, config.get_float("model.ema_rate"));
  // score_sde's Flax EMA has no warm-up: counting every step as an update makes scorch's warm-up, min(rate,
  // (1 + n) / (10 + n)), the file's rate from the first step on.
  out.tensors.ema_num_updates = out.step;

  const auto network = network_of(*model);
  add_buffers(network, out);
  for (const auto& p : network.params) {
    const bool in_file = ema.count(p.name) > 0;  // not the unused Dense_0 of unconditional networks' blocks
    if (!p.trainable) {
      // The Fourier projection's W takes no gradient: its average must be W itself, as training leaves it.
      SCORCH_CHECK(!in_file || torch::equal(ema.at(p.name), out.tensors.model.at(p.name)),
                   "'{}': params_ema and optimizer.target differ in {}, which training never changes", path, p.name);
      continue;
    }
    const auto& weight = out.tensors.model.at(p.name);
    out.tensors.ema[p.name] = in_file ? ema.at(p.name) : weight.clone();
    out.tensors.optimizer["exp_avg." + p.name] = in_file ? m.at(p.name) : torch::zeros_like(weight);
    out.tensors.optimizer["exp_avg_sq." + p.name] = in_file ? v.at(p.name) : torch::zeros_like(weight);
    // flax.optim's Adam keeps no maximum; the current second moment is the smallest one AMSGrad accepts.
    if (config.get_bool("optim.amsgrad"))
      out.tensors.optimizer["max_exp_avg_sq." + p.name] = out.tensors.optimizer.at("exp_avg_sq." + p.name).clone();
  }
  out.source["format"] = "flax";
  out.source["params_under"] = "optimizer.target, params_ema";
  out.source["ema"] = {{"in_file", true}, {"rate", out.tensors.ema_rate}, {"num_updates", out.step}};
  out.source["optimizer"] = fmt::format("flax.optim Adam moments, step {}", out.tensors.optimizer_step);
  return out;
}

ScoreSdeCheckpoint from_flax(const FlaxTree& tree, const Config& config, const std::string& path) {
  const bool state = std::any_of(tree.arrays.begin(), tree.arrays.end(),
                                 [](const auto& a) { return a.first.rfind("params_ema.", 0) == 0; });
  return state ? from_flax_state(tree, config, path) : from_flax_params(tree, config, path);
}

}  // namespace scorch::io
