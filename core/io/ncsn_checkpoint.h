// Checkpoints of the original NCSN and NCSNv2 code (ermongroup/ncsn, ermongroup/ncsnv2): torch.save of a
// list, [model state_dict ("module." keys), Adam state_dict, epoch, step, EMA shadow {name: tensor}] for
// NCSNv2 (the shadow only when the run kept an EMA) and [model state_dict, Adam state_dict] for NCSN.
#pragma once
#include <string>

#include "core/config.h"
#include "core/io/py_value.h"
#include "core/io/score_sde_checkpoint.h"

namespace scorch::io {

// Maps the list onto the network `config` builds, checking every tensor (as from_score_sde does). NCSNv2's
// EMA has no warm-up: the import records num_updates = step, where scorch's warm-up min(rate, (1+n)/(10+n))
// has reached the rate; without a shadow the EMA starts as the weights. NCSN's files carry no step: the
// Adam step count stands in for it.
ScoreSdeCheckpoint from_ncsn(const py::Ref& root, const Config& config, const std::string& path);

// The inverse, for `scorch convert export --layout ncsn`: NCSN's 2-entry list or NCSNv2's 5-entry one (with
// the EMA shadow; `epoch` is recorded as given, scorch counts steps, not epochs).
py::Ref to_ncsn(const CheckpointTensors& tensors, const Config& config, int64_t step, int64_t epoch,
                const std::string& source);

// True when `root` has the list layout above (so `scorch convert import` can tell the two apart).
bool is_ncsn_checkpoint(const py::Ref& root);

}  // namespace scorch::io
