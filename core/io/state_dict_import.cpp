// The parts of importing a PyTorch training checkpoint that do not depend on its layout: the network's
// state_dict and an Adam state_dict, each checked tensor by tensor against the network a config builds.
#include "core/io/state_dict_import.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/models/score_model.h"

namespace scorch::io::state_import {

namespace {

std::string shape_of(const torch::Tensor& t) {
  return fmt::format("[{}] {}", fmt::join(t.sizes(), ", "), py::dtype_name(t.scalar_type()));
}

// "a, b, c and 4 more"
std::string some(const std::vector<std::string>& names) {
  constexpr size_t kShown = 6;
  std::vector<std::string> shown(names.begin(),
                                 names.begin() + static_cast<std::ptrdiff_t>(std::min(kShown, names.size())));
  std::string s = fmt::format("{}", fmt::join(shown, ", "));
  return names.size() > kShown ? fmt::format("{} and {} more", s, names.size() - kShown) : s;
}

// The file's noise-level buffer `sigmas` (NCSN++, DDPM, NCSNv2) against the one the config's network builds: a
// VE config with other sigma_min/max of the same shape would otherwise import silently (refused); for VP and
// sub-VP networks, which never read it, a warning.
void check_noise_levels(const std::map<std::string, torch::Tensor>& file,
                        const std::map<std::string, torch::Tensor>& want, const Config& config,
                        const std::string& path) {
  const auto f = file.find("sigmas");
  const auto w = want.find("sigmas");
  if (f == file.end() || w == want.end() || f->second.numel() == 0) return;
  const auto got = f->second.to(torch::kFloat64);
  const auto built = w->second.to(torch::kFloat64);
  const auto ends = [](const torch::Tensor& t) {
    return fmt::format("{:g} … {:g}", t[0].item<double>(), t[-1].item<double>());
  };
  // The reference and scorch compute the ladder in float64 (NCSNv2 stores it in float32): 1e-6 is rounding.
  const bool same = torch::allclose(got, built, /*rtol=*/1e-6, /*atol=*/0);
  // score_sde's VP and sub-VP networks register the VE ladder too, but never read it.
  if (!same && config.get_string("training.sde") != "vesde") {
    spdlog::warn(
        "'{}': the checkpoint's sigmas buffer ({} over {}) is not the config's ({} over {}); a {} network "
        "does not use it",
        path, ends(got), got.numel(), ends(built), built.numel(), config.get_string("training.sde"));
    return;
  }
  SCORCH_CHECK_HINT(
      same,
      "pass the --config the checkpoint was trained with, or set model.sigma_max, model.sigma_min and "
      "model.num_scales to the file's",
      "'{}': the checkpoint's noise levels (sigmas: {} over {}) are not the config's ({} over {}); the network "
      "would keep the file's while the SDE and the samplers follow the config's",
      path, ends(got), got.numel(), ends(built), built.numel());
}

}  // namespace

void Problems::wrong(const std::string& n, const torch::Tensor& got, const torch::Tensor& want) {
  wrong_.push_back(fmt::format("{} is {}, the network has {}", n, shape_of(got), shape_of(want)));
}

void Problems::check(const std::string& path, const std::string& section) const {
  std::vector<std::string> parts;
  if (!missing_.empty()) parts.push_back(fmt::format("{} missing: {}", missing_.size(), some(missing_)));
  if (!extra_.empty()) parts.push_back(fmt::format("{} not in the network: {}", extra_.size(), some(extra_)));
  if (!wrong_.empty()) parts.push_back(fmt::format("{} mismatched: {}", wrong_.size(), some(wrong_)));
  SCORCH_CHECK_HINT(parts.empty(), "pass the --config the checkpoint was trained with",
                    "'{}': {} does not match the network of the config ({})", path, section, fmt::join(parts, "; "));
}

// An int, or a one-element tensor holding a whole number (torch >= 1.12 stores Adam's step as a float tensor).
int64_t whole_number(const py::Ref& v, const std::string& path, const std::string& where) {
  if (v->kind == py::Kind::Int) return v->i;
  if (v->kind == py::Kind::Tensor && v->tensor.numel() == 1) {
    const double x = v->tensor.to(torch::kFloat64).item<double>();
    SCORCH_CHECK(x == std::floor(x), "'{}': {} = {} is not a whole number", path, where, x);
    return static_cast<int64_t>(x);
  }
  SCORCH_FAIL("'{}': {} is a {}, expected an int", path, where, v->describe());
}

double number(const py::Ref& v, const std::string& path, const std::string& where) {
  if (v->kind == py::Kind::Float) return v->f;
  if (v->kind == py::Kind::Int) return static_cast<double>(v->i);
  if (v->kind == py::Kind::Tensor && v->tensor.numel() == 1) return v->tensor.to(torch::kFloat64).item<double>();
  SCORCH_FAIL("'{}': {} is a {}, expected a number", path, where, v->describe());
}

void warn_if_differs(const std::string& what, double file, double config) {
  if (std::abs(file - config) > 1e-12 * std::max(1.0, std::abs(config)))
    spdlog::warn("the checkpoint has {} = {}, the config says {}: is --config the one it was trained with?", what, file,
                 config);
}

// Every key of `d` must be one of `known`; a checkpoint with more than score_sde writes is not silently trimmed.
void only_keys(const py::Ref& d, const std::set<std::string>& known, const std::string& path,
               const std::string& where) {
  std::vector<std::string> extra;
  for (const auto& [k, v] : d->entries)
    if (k->kind != py::Kind::Str || !known.count(k->s)) extra.push_back(k->key_text());
  SCORCH_CHECK(extra.empty(), "'{}': unexpected keys in {}: {} (expected {})", path, where, some(extra),
               fmt::join(known, ", "));
}

py::Ref need(const py::Ref& d, const std::string& key, py::Kind kind, const std::string& path,
             const std::string& where) {
  auto v = d->get(key);
  SCORCH_CHECK(v, "'{}': {} has no '{}'", path, where, key);
  SCORCH_CHECK(v->kind == kind, "'{}': {}['{}'] is a {}, expected a {}", path, where, key, v->describe(),
               py::kind_name(kind));
  return v;
}

void import_optimizer(const py::Ref& o, const std::vector<Param>& params, const Config& config, const std::string& path,
                      ScoreSdeCheckpoint& out) {
  SCORCH_CHECK(o->is_dict(), "'{}': 'optimizer' is a {}, expected an optimizer state_dict", path, o->describe());
  only_keys(o, {"state", "param_groups"}, path, "'optimizer'");
  const auto groups = need(o, "param_groups", py::Kind::List, path, "'optimizer'");
  const auto state = need(o, "state", py::Kind::Dict, path, "'optimizer'");
  SCORCH_CHECK(groups->items.size() == 1 && groups->items[0]->is_dict(),
               "'{}': the optimizer has {} param groups; score_sde checkpoints have one", path, groups->items.size());
  const auto& g = groups->items[0];
  const auto ids = need(g, "params", py::Kind::List, path, "param_groups[0]");
  SCORCH_CHECK_HINT(ids->items.size() == params.size(), "pass the --config the checkpoint was trained with",
                    "'{}': the optimizer covers {} parameters, the network has {}", path, ids->items.size(),
                    params.size());
  for (size_t i = 0; i < ids->items.size(); ++i)
    SCORCH_CHECK(ids->items[i]->kind == py::Kind::Int && ids->items[i]->i == static_cast<int64_t>(i),
                 "'{}': param_groups[0]['params'][{}] is {}, expected {}", path, i, ids->items[i]->describe(), i);

  const auto betas = need(g, "betas", py::Kind::Tuple, path, "param_groups[0]");
  SCORCH_CHECK(betas->items.size() == 2, "'{}': param_groups[0]['betas'] has {} values", path, betas->items.size());
  const auto amsgrad_v = g->get("amsgrad");
  const bool amsgrad = amsgrad_v && amsgrad_v->kind == py::Kind::Bool && amsgrad_v->b;
  auto field = [&](const char* key, double fallback) {
    const auto v = g->get(key);
    return v ? number(v, path, fmt::format("param_groups[0]['{}']", key)) : fallback;
  };
  SCORCH_CHECK(g->get("lr") && g->get("eps"), "'{}': param_groups[0] lacks 'lr' or 'eps': not an Adam state_dict",
               path);
  nlohmann::json hyper = {
      {"lr", field("lr", 0)},
      {"betas", {number(betas->items[0], path, "betas[0]"), number(betas->items[1], path, "betas[1]")}},
      {"eps", field("eps", 0)},
      {"weight_decay", field("weight_decay", 0)},
      {"amsgrad", amsgrad}};
  warn_if_differs("Adam beta1", hyper["betas"][0], config.get_float("optim.beta1"));
  warn_if_differs("Adam beta2", hyper["betas"][1], config.get_float("optim.beta2"));
  warn_if_differs("Adam eps", hyper["eps"], config.get_float("optim.eps"));
  warn_if_differs("Adam weight_decay", hyper["weight_decay"], config.get_float("optim.weight_decay"));

  std::set<std::string> moments = {"exp_avg", "exp_avg_sq"};
  if (amsgrad) moments.insert("max_exp_avg_sq");
  std::vector<std::string> without_state;
  std::optional<int64_t> step;
  Problems problems;
  for (const auto& [k, v] : state->entries) {
    SCORCH_CHECK(k->kind == py::Kind::Int && k->i >= 0 && k->i < static_cast<int64_t>(params.size()),
                 "'{}': optimizer state key {} is not a parameter index below {}", path, k->describe(), params.size());
    const Param& p = params[static_cast<size_t>(k->i)];
    const std::string where = fmt::format("optimizer.state[{}] ({})", k->i, p.name);
    SCORCH_CHECK(p.trainable, "'{}': {} is frozen but has Adam state", path, where);
    SCORCH_CHECK(v->is_dict(), "'{}': {} is a {}, expected a dict", path, where, v->describe());
    for (const auto& [mk, mv] : v->entries) {
      SCORCH_CHECK(mk->kind == py::Kind::Str, "'{}': {} has a non-string key {}", path, where, mk->describe());
      if (mk->s == "step") {
        const auto s = whole_number(mv, path, where + "['step']");
        SCORCH_CHECK(!step || *step == s, "'{}': {} has step {}, other parameters have {}", path, where, s, *step);
        step = s;
      } else if (!moments.count(mk->s)) {
        problems.extra(where + "['" + mk->s + "']");
      } else if (mv->kind != py::Kind::Tensor) {
        SCORCH_FAIL("'{}': {}['{}'] is a {}, expected a tensor", path, where, mk->s, mv->describe());
      } else if (mv->tensor.sizes() != p.tensor.sizes() || mv->tensor.scalar_type() != p.tensor.scalar_type()) {
        problems.wrong(where + "['" + mk->s + "']", mv->tensor, p.tensor);
      } else {
        out.tensors.optimizer[mk->s + "." + p.name] = mv->tensor.clone();
      }
    }
    for (const auto& m : moments)
      if (!v->get(m)) problems.missing(where + "['" + m + "']");
    SCORCH_CHECK(v->get("step"), "'{}': {} has no 'step'", path, where);
  }
  if (!state->entries.empty())
    for (size_t i = 0; i < params.size(); ++i)
      if (params[i].trainable && !state->get(static_cast<int64_t>(i)))
        problems.missing(fmt::format("optimizer.state[{}] ({})", i, params[i].name));
  problems.check(path, "'optimizer'");
  SCORCH_CHECK(state->entries.empty() || amsgrad == config.get_bool("optim.amsgrad"),
               "'{}': the checkpoint's Adam has amsgrad={}, the config says optim.amsgrad={}", path, amsgrad,
               config.get_bool("optim.amsgrad"));
  out.tensors.optimizer_step = step.value_or(0);
  hyper["step"] = out.tensors.optimizer_step;
  out.source["optimizer"] = hyper;
}

std::map<std::string, torch::Tensor> import_model(const py::Ref& m, const std::map<std::string, torch::Tensor>& want,
                                                  const std::string& path, bool* prefixed) {
  SCORCH_CHECK(m->is_dict(), "'{}': 'model' is a {}, expected a state_dict", path, m->describe());
  size_t with_prefix = 0;
  for (const auto& [k, v] : m->entries) {
    SCORCH_CHECK(k->kind == py::Kind::Str, "'{}': 'model' has a non-string key {}", path, k->describe());
    with_prefix += k->s.rfind("module.", 0) == 0;
  }
  SCORCH_CHECK(with_prefix == 0 || with_prefix == m->entries.size(),
               "'{}': only {} of {} 'model' keys carry the DataParallel prefix 'module.'", path, with_prefix,
               m->entries.size());
  *prefixed = with_prefix > 0;
  std::map<std::string, torch::Tensor> out;
  Problems problems;
  for (const auto& [k, v] : m->entries) {
    const std::string name = *prefixed ? k->s.substr(7) : k->s;
    SCORCH_CHECK(v->kind == py::Kind::Tensor, "'{}': model['{}'] is a {}, expected a tensor", path, k->s,
                 v->describe());
    auto it = want.find(name);
    if (it == want.end())
      problems.extra(k->s);
    else if (v->tensor.sizes() != it->second.sizes() || v->tensor.scalar_type() != it->second.scalar_type())
      problems.wrong(k->s, v->tensor, it->second);
    else
      out[name] = v->tensor.clone();
  }
  for (const auto& [name, t] : want)
    if (!m->get(*prefixed ? "module." + name : name)) problems.missing(name);
  problems.check(path, "'model'");
  return out;
}

void check_imported(const io::CheckpointTensors& t, const std::map<std::string, torch::Tensor>& want,
                    const Config& config, const std::string& path) {
  check_noise_levels(t.model, want, config, path);
  for (const auto& [section, tensors] : {std::pair{"model", &t.model}, std::pair{"EMA", &t.ema}}) {
    std::vector<std::string> nonfinite;
    for (const auto& [name, v] : *tensors)
      if (v.is_floating_point() && !torch::isfinite(v).all().item<bool>()) nonfinite.push_back(name);
    if (!nonfinite.empty())
      spdlog::warn("'{}': {} {} tensor(s) hold NaN or infinite values ({}): the run that wrote it had diverged", path,
                   nonfinite.size(), section, some(nonfinite));
  }
}

Network network_of(const Config& config) { return network_of(*models::make_model(config)); }

Network network_of(torch::nn::Module& model) {
  Network n;
  for (const auto& p : model.named_parameters()) {
    n.params.push_back({p.key(), p.value(), p.value().requires_grad()});
    n.tensors[p.key()] = p.value();
  }
  for (const auto& b : model.named_buffers()) n.tensors[b.key()] = b.value();
  return n;
}

}  // namespace scorch::io::state_import
