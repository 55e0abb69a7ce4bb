// Reading the originals' list checkpoints with the state_dict and Adam readers score_sde's import uses.
#include <fmt/format.h>

#include "core/error.h"
#include "core/io/ncsn_checkpoint.h"
#include "core/io/state_dict_import.h"

namespace scorch::io {

using namespace state_import;

bool is_ncsn_checkpoint(const py::Ref& root) {
  return root->kind == py::Kind::List && root->items.size() >= 2 && root->items[0]->is_dict() &&
         root->items[1]->is_dict();
}

ScoreSdeCheckpoint from_ncsn(const py::Ref& root, const Config& config, const std::string& path) {
  SCORCH_CHECK(is_ncsn_checkpoint(root), "'{}' holds a {}, not an NCSN/NCSNv2 checkpoint list", path, root->describe());
  const auto& items = root->items;
  const size_t n = items.size();
  SCORCH_CHECK(n == 2 || n == 4 || n == 5,
               "'{}': an NCSN checkpoint list has 2 entries (NCSN) or 4-5 (NCSNv2: model, optimizer, epoch, step[, "
               "ema]), this one {}",
               path, n);
  const auto network = network_of(config);
  ScoreSdeCheckpoint out;
  bool prefixed = false;
  out.tensors.model = import_model(items[0], network.tensors, path, &prefixed);
  import_optimizer(items[1], network.params, config, path, out);
  out.source["format"] = n == 2 ? "ncsn" : "ncsnv2";
  out.source["dataparallel_prefix"] = prefixed;
  if (n == 2) {
    out.step = out.tensors.optimizer_step;
  } else {
    out.source["epoch"] = whole_number(items[2], path, "entry 2 (epoch)");
    out.step = whole_number(items[3], path, "entry 3 (step)");
  }
  SCORCH_CHECK(out.step >= 0, "'{}': step {} is negative", path, out.step);

  Problems problems;
  if (n == 5) {
    const auto& shadow = items[4];
    SCORCH_CHECK(shadow->is_dict(), "'{}': entry 4 (EMA shadow) is a {}, expected a dict", path, shadow->describe());
    std::set<std::string> trainable;
    for (const auto& p : network.params) {
      if (!p.trainable) continue;
      trainable.insert(p.name);
      const auto v = shadow->get(p.name);
      if (!v) {
        problems.missing("ema['" + p.name + "']");
      } else if (v->kind != py::Kind::Tensor || v->tensor.sizes() != p.tensor.sizes() ||
                 v->tensor.scalar_type() != p.tensor.scalar_type()) {
        SCORCH_CHECK(v->kind == py::Kind::Tensor, "'{}': ema['{}'] is a {}, expected a tensor", path, p.name,
                     v->describe());
        problems.wrong("ema['" + p.name + "']", v->tensor, p.tensor);
      } else {
        out.tensors.ema[p.name] = v->tensor.clone();
      }
    }
    for (const auto& [k, v] : shadow->entries)
      if (k->kind != py::Kind::Str || !trainable.count(k->s)) problems.extra("ema[" + k->key_text() + "]");
    problems.check(path, "the EMA shadow");
  } else {
    for (const auto& p : network.params)
      if (p.trainable) out.tensors.ema[p.name] = out.tensors.model.at(p.name).clone();
  }
  check_imported(out.tensors, network.tensors, config, path);
  out.tensors.ema_rate = config.get_float("model.ema_rate");
  out.tensors.ema_num_updates = out.step;
  out.source["ema"] = {{"in_file", n == 5}, {"num_updates", out.step}};
  return out;
}

}  // namespace scorch::io
