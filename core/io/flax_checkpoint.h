// score_sde's Flax (JAX) checkpoints mapped onto the network a config builds: the training state its run_lib
// saves for NCSN++, DDPM++ and DDPM (flax.training.checkpoints, msgpack: params, EMA and Adam moments), and bare
// params trees such as the noise-conditional classifier that models/utils.py create_classifier restores. Flax
// names a model's modules by class and call order (ResnetBlockBigGANpp_3.Conv_0.kernel) where torch keeps
// all_modules.<i> (all_modules.9.Conv_0.weight); the blocks' own names are the same in both.
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
  std::string torch_name, flax_name;  // "all_modules.3.weight", "Dense_1.kernel"
  std::vector<int64_t> flax_shape;
  bool kernel = false;  // a Dense or convolution kernel, whose layout differs (the rest share torch's)
};
// In registration order; throws for networks score_sde has no Flax code for (NCSN, NCSNv2).
std::vector<FlaxParam> flax_params(const Config& config);
// A Flax-layout array back in torch's layout (contiguous, a copy).
torch::Tensor from_flax_layout(const torch::Tensor& t);

// A params tree (bare, or under a top-level "params" as flax.linen's variables): every array must be one of the
// network's parameters with its Flax shape and float32; a missing, extra or mismatched one throws naming it. The
// EMA starts as the weights (the file holds one set) and Adam fresh; the step is N of a `checkpoint_N` name, else 0.
ScoreSdeCheckpoint from_flax_params(const FlaxTree& tree, const Config& config, const std::string& path);

// score_sde's training state: the weights from optimizer.target, the EMA from params_ema, Adam's moments from
// optimizer.state.param_states (grad_ema, grad_sq_ema) and its step, the training step from `step`; lr and
// ema_rate are compared with the config (a warning when they differ). Every array is checked as above, and a
// key the state does not hold is refused.
ScoreSdeCheckpoint from_flax_state(const FlaxTree& tree, const Config& config, const std::string& path);

// The state when the tree holds one (a top-level params_ema), else a params tree.
ScoreSdeCheckpoint from_flax(const FlaxTree& tree, const Config& config, const std::string& path);

}  // namespace scorch::io
