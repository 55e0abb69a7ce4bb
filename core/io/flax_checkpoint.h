// score_sde's noise-conditional classifier as its Flax code keeps it: models/utils.py create_classifier
// restores a bare params tree (flax.training.checkpoints, msgpack), which this maps onto the network a config
// builds (`model.name: wideresnet_noise_conditional`, the same module names).
#pragma once
#include <string>
#include <vector>

#include "core/config.h"
#include "core/io/flax_msgpack.h"
#include "core/io/score_sde_checkpoint.h"

namespace scorch::io {

// One parameter in both layouts: Flax's Dense kernels are (in, out) and its convolution kernels (kh, kw, in, out)
// where torch has (out, in) and (out, in, kh, kw); GroupNorm's weight is Flax's `scale`.
struct FlaxParam {
  std::string torch_name, flax_name;  // "init_conv.weight", "init_conv.kernel"
  std::vector<int64_t> flax_shape;
};
std::vector<FlaxParam> flax_params(const Config& config);

// Every array of the tree (bare, or under a top-level "params" as flax.linen's variables) must be one of the
// network's parameters with its Flax shape and float32; a missing, extra or mismatched one throws naming it. The
// EMA starts as the weights (the file holds one set) and Adam fresh; the step is N of a `checkpoint_N` name, else 0.
ScoreSdeCheckpoint from_flax_classifier(const FlaxTree& tree, const Config& config, const std::string& path);

}  // namespace scorch::io
