// Reading a score_sde_pytorch checkpoint dict into CheckpointTensors, checking every tensor against the
// network the config builds.
#include <fmt/ranges.h>

#include "core/error.h"
#include "core/io/score_sde_checkpoint.h"
#include "core/io/state_dict_import.h"

namespace scorch::io {

namespace {

using namespace state_import;

void import_ema(const py::Ref& e, const std::vector<Param>& params, const Config& config, const std::string& path,
                ScoreSdeCheckpoint& out) {
  SCORCH_CHECK(e->is_dict(), "'{}': 'ema' is a {}, expected a dict", path, e->describe());
  only_keys(e, {"decay", "num_updates", "shadow_params"}, path, "'ema'");
  const auto shadow = need(e, "shadow_params", py::Kind::List, path, "'ema'");
  const auto updates = e->get("num_updates");
  SCORCH_CHECK(updates, "'{}': 'ema' has no 'num_updates'", path);
  SCORCH_CHECK(updates->kind != py::Kind::None,
               "'{}': ema num_updates is None (use_num_updates=False); scorch's EMA always counts updates", path);
  out.tensors.ema_num_updates = whole_number(updates, path, "ema['num_updates']");
  const auto decay = e->get("decay");
  SCORCH_CHECK(decay, "'{}': 'ema' has no 'decay'", path);
  out.tensors.ema_rate = number(decay, path, "ema['decay']");
  warn_if_differs("EMA decay", out.tensors.ema_rate, config.get_float("model.ema_rate"));
  std::vector<const Param*> trainable;
  for (const auto& p : params)
    if (p.trainable) trainable.push_back(&p);
  SCORCH_CHECK_HINT(shadow->items.size() == trainable.size(), "pass the --config the checkpoint was trained with",
                    "'{}': ema['shadow_params'] has {} tensors, the network has {} trainable parameters", path,
                    shadow->items.size(), trainable.size());
  Problems problems;
  for (size_t i = 0; i < trainable.size(); ++i) {
    const auto& v = shadow->items[i];
    const std::string where = fmt::format("ema.shadow_params[{}] ({})", i, trainable[i]->name);
    SCORCH_CHECK(v->kind == py::Kind::Tensor, "'{}': {} is a {}, expected a tensor", path, where, v->describe());
    if (v->tensor.sizes() != trainable[i]->tensor.sizes() ||
        v->tensor.scalar_type() != trainable[i]->tensor.scalar_type())
      problems.wrong(where, v->tensor, trainable[i]->tensor);
    else
      out.tensors.ema[trainable[i]->name] = v->tensor.clone();
  }
  problems.check(path, "'ema'");
  out.source["ema"] = {{"decay", out.tensors.ema_rate}, {"num_updates", out.tensors.ema_num_updates}};
}

}  // namespace

ScoreSdeCheckpoint from_score_sde(const py::Ref& root, const Config& config, const std::string& path) {
  SCORCH_CHECK(root->is_dict(), "'{}' holds a {}, not a score_sde checkpoint dict", path, root->describe());
  state_import::only_keys(root, {"model", "ema", "optimizer", "step"}, path, "the top level");
  for (const char* key : {"model", "ema", "optimizer", "step"})
    SCORCH_CHECK_HINT(root->get(key), "`scorch convert inspect` lists what the file holds",
                      "'{}' has no '{}': not a score_sde_pytorch checkpoint", path, key);

  const auto network = state_import::network_of(config);
  const auto& params = network.params;

  ScoreSdeCheckpoint out;
  bool prefixed = false;
  out.tensors.model = state_import::import_model(root->get("model"), network.tensors, path, &prefixed);
  import_ema(root->get("ema"), params, config, path, out);
  state_import::import_optimizer(root->get("optimizer"), params, config, path, out);
  state_import::check_imported(out.tensors, network.tensors, config, path);
  const auto step = root->get("step");
  out.step = state_import::whole_number(step, path, "'step'");
  SCORCH_CHECK(out.step >= 0, "'{}': step {} is negative", path, out.step);
  out.source["format"] = "score_sde_pytorch";
  out.source["dataparallel_prefix"] = prefixed;
  return out;
}

}  // namespace scorch::io
