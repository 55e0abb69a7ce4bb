// Writing CheckpointTensors as the originals' checkpoint lists: the same model and Adam state_dicts as the
// score_sde export (which checks every tensor against the network), arranged as ncsn/ncsnv2 save them.
#include "core/error.h"
#include "core/io/ncsn_checkpoint.h"
#include "core/models/score_model.h"

namespace scorch::io {

py::Ref to_ncsn(const CheckpointTensors& t, const Config& config, int64_t step, int64_t epoch,
                const std::string& source) {
  const auto name = models::ModelConfig::from(config).name;
  SCORCH_CHECK_HINT(
      models::is_refinenet(name), "`scorch convert export` writes score_sde's layout for it",
      "checkpoint '{}': model.name {} is not an NCSN/NCSNv2 network; the original layout holds only those", source,
      name);
  const auto dict = to_score_sde(t, config, step, source);
  if (name == "ncsn") return py::list({dict->get("model"), dict->get("optimizer")});
  // ncsnv2's EMAHelper keeps {parameter name: tensor}, names without DataParallel's prefix, in the
  // state_dict's order, which the exported model dict already has (to_score_sde checked every EMA tensor).
  auto shadow = py::dict(/*ordered=*/true);
  for (const auto& [key, value] : dict->get("model")->entries) {
    const std::string name = key->s.substr(std::string("module.").size());
    if (t.ema.count(name)) shadow->set(py::str(name), py::tensor(t.ema.at(name)));
  }
  return py::list({dict->get("model"), dict->get("optimizer"), py::integer(epoch), py::integer(step), shadow});
}

}  // namespace scorch::io
