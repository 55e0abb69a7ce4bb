// Mapping score_sde's Flax classifier params onto scorch's network (see flax_checkpoint.h).
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <regex>

#include "core/error.h"
#include "core/io/flax_checkpoint.h"
#include "core/io/state_dict_import.h"

namespace scorch::io {

namespace {

using namespace state_import;

// The torch tensor in Flax's layout (and back with from_flax).
torch::Tensor to_flax_layout(const torch::Tensor& t) {
  if (t.dim() == 4) return t.permute({2, 3, 1, 0});  // (out, in, kh, kw) -> (kh, kw, in, out)
  if (t.dim() == 2) return t.t();                    // (out, in) -> (in, out)
  return t;
}
torch::Tensor from_flax_layout(const torch::Tensor& t) {
  if (t.dim() == 4) return t.permute({3, 2, 0, 1}).contiguous();
  if (t.dim() == 2) return t.t().contiguous();
  return t.clone();
}

std::string flax_name(const std::string& torch_name, int64_t dim) {
  const auto dot = torch_name.rfind('.');
  const auto owner = torch_name.substr(0, dot), leaf = torch_name.substr(dot + 1);
  if (leaf != "weight") return torch_name;  // bias, GaussianFourierProjection's W
  return owner + (dim == 1 ? ".scale" : ".kernel");
}

int64_t step_of_name(const std::string& path) {
  std::smatch m;
  const auto name = std::filesystem::path(path).filename().string();
  if (std::regex_match(name, m, std::regex(R"(checkpoint_(\d{1,18}))"))) return std::stoll(m[1]);
  return 0;
}

}  // namespace

std::vector<FlaxParam> flax_params(const Config& config) {
  const auto model = config.get_string("model.name");
  SCORCH_CHECK_HINT(model == "wideresnet_noise_conditional",
                    "score models come from score_sde_pytorch's .pth files, which `scorch convert import` reads too",
                    "Flax checkpoints are read for score_sde's classifier (model.name: wideresnet_noise_conditional); "
                    "the config builds model.name: {}",
                    model);
  std::vector<FlaxParam> out;
  for (const auto& p : network_of(config).params) {
    const auto sizes = to_flax_layout(p.tensor).sizes();
    out.push_back({p.name, flax_name(p.name, p.tensor.dim()), {sizes.begin(), sizes.end()}});
  }
  return out;
}

ScoreSdeCheckpoint from_flax_classifier(const FlaxTree& tree, const Config& config, const std::string& path) {
  const auto wanted = flax_params(config);
  // flax.linen's init returns {"params": tree}; score_sde's create_classifier restores the inner tree.
  const bool nested = !tree.arrays.empty() && std::all_of(tree.arrays.begin(), tree.arrays.end(), [](const auto& a) {
    return a.first.rfind("params.", 0) == 0;
  });
  const std::string prefix = nested ? "params." : "";

  const auto network = network_of(config);
  ScoreSdeCheckpoint out;
  Problems problems;
  std::set<std::string> used;
  for (const auto& w : wanted) {
    const auto it = tree.arrays.find(prefix + w.flax_name);
    if (it == tree.arrays.end()) {
      problems.missing(prefix + w.flax_name);
      continue;
    }
    used.insert(it->first);
    const auto& a = it->second;
    if (a.sizes().vec() != w.flax_shape || a.scalar_type() != torch::kFloat32) {
      problems.wrong(it->first, a,
                     torch::empty(w.flax_shape, torch::TensorOptions(torch::kFloat32).device(torch::kMeta)));
      continue;
    }
    out.tensors.model[w.torch_name] = from_flax_layout(a);
  }
  for (const auto& [name, a] : tree.arrays)
    if (!used.count(name)) problems.extra(name);
  for (const auto& [name, v] : tree.values) problems.extra(fmt::format("{} (a {})", name, v.type_name()));
  problems.check(path, "the Flax params tree");

  // Buffers (the input normalisation) come from the config, as the reference's logit function fixes them.
  for (const auto& [name, t] : network.tensors)
    if (!out.tensors.model.count(name)) out.tensors.model[name] = t.detach().clone();
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

}  // namespace scorch::io
