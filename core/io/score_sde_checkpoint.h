// score_sde_pytorch checkpoints — torch.save of {'model': DataParallel state_dict ("module." keys),
// 'ema': {'decay', 'num_updates', 'shadow_params': [trainable parameters in order]}, 'optimizer': Adam
// state_dict, 'step'} — mapped to and from scorch's CheckpointTensors through the network a config builds.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "core/config.h"
#include "core/io/checkpoint_files.h"
#include "core/io/py_value.h"

namespace scorch::io {

struct ScoreSdeCheckpoint {
  CheckpointTensors tensors;
  int64_t step = 0;
  nlohmann::json source;  // provenance for meta.json: format, DataParallel prefix, EMA and Adam settings
};

// Maps what torch.load returns for a score_sde checkpoint onto the network `config` builds. The EMA list
// is named by the network's trainable parameters in registration order (= the reference's), the Adam
// state by parameter index. Every tensor must be used: a missing, extra or mis-shaped / mis-typed entry
// throws scorch::Error naming it (and counting the rest); `path` names the file in messages.
ScoreSdeCheckpoint from_score_sde(const py::Ref& root, const Config& config, const std::string& path);

// The inverse: a dict that score_sde's restore_checkpoint accepts (model keys with "module.", an EMA list,
// an Adam state_dict with one param group over all parameters, frozen ones included, and int steps).
// `source` names the checkpoint in messages.
py::Ref to_score_sde(const CheckpointTensors& tensors, const Config& config, int64_t step, const std::string& source);

}  // namespace scorch::io
