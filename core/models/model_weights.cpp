// Loading and saving a network's state under the reference state_dict names.
#include "core/models/model_weights.h"

#include <vector>

#include "core/error.h"

namespace scorch::models {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string shape_text(const torch::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

}  // namespace

std::map<std::string, torch::Tensor> state_dict(const torch::nn::Module& model) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : model.named_parameters()) out[p.key()] = p.value();
  for (const auto& b : model.named_buffers()) out[b.key()] = b.value();
  return out;
}

void load_reference_weights(torch::nn::Module& model, const std::map<std::string, torch::Tensor>& tensors,
                            const std::string& source) {
  bool prefixed = false;
  for (const auto& kv : tensors) prefixed = prefixed || starts_with(kv.first, "param/");
  std::map<std::string, torch::Tensor> given;
  for (const auto& [key, t] : tensors) {
    std::string name = key;
    if (prefixed) {
      if (!starts_with(name, "param/")) continue;
      name = name.substr(6);
    }
    if (starts_with(name, "module.")) name = name.substr(7);
    // DataParallel's prefix is dropped, so `x` and `module.x` in one file are two values for one tensor.
    SCORCH_CHECK(given.emplace(name, t).second,
                 "weights {}: tensor '{}' is given twice (as '{}' and '{}'); which one is meant is not clear", source,
                 name, name, "module." + name);
  }
  auto own = state_dict(model);
  std::vector<std::string> missing, extra;
  for (const auto& kv : own)
    if (!given.count(kv.first)) missing.push_back(kv.first);
  for (const auto& kv : given)
    if (!own.count(kv.first)) extra.push_back(kv.first);
  SCORCH_CHECK(missing.empty(), "weights {}: missing tensor '{}' ({} missing in all)", source, missing.front(),
               missing.size());
  SCORCH_CHECK(extra.empty(), "weights {}: unexpected tensor '{}' ({} extra in all)", source, extra.front(),
               extra.size());
  for (const auto& [name, target] : own) {
    const auto& src = given.at(name);
    SCORCH_CHECK(src.sizes() == target.sizes(), "weights {}: tensor '{}' has shape {}, the network needs {}", source,
                 name, shape_text(src), shape_text(target));
    SCORCH_CHECK(src.scalar_type() == target.scalar_type(),
                 "weights {}: tensor '{}' has dtype {}, the network needs {}", source, name,
                 c10::toString(src.scalar_type()), c10::toString(target.scalar_type()));
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : own) target.copy_(given.at(name));
}

}  // namespace scorch::models
