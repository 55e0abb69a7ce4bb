// A score network as the samplers call it: eval mode, optional bf16 autocast, optional CUDA-graph replay.
#pragma once
#include "core/models/score_model.h"
#include "core/sdes/score_fn.h"
#include "sampler/options.h"

namespace scorch::sampler {

// Calls `model` (which the caller keeps alive and in eval mode). With o.precision == "bf16" the forward
// runs under autocast to bfloat16 and returns float32. With o.cuda_graph on a CUDA device, calls without
// autograd are captured once per input shape into a CUDA graph and replayed (see cuda_graph.h).
// The output is contiguous (NCHW) whatever the network's layout, so the samplers' arithmetic on it and on x runs
// in one layout.
sdes::ModelFn make_model_fn(models::ScoreModelImpl& model, const SamplingOptions& o, const torch::Device& device);

// Puts a network that a sampling command owns on `device`, its weights channels_last where sampling.channels_last
// applies there (models::to_channels_last; on for CUDA under auto). Not for a network shared with training: the
// trainer's snapshot samples use its own layout.
void place_for_sampling(models::ScoreModelImpl& model, const Config& config, const torch::Device& device);

// The process-wide settings a sampling command runs under on `device`: sampling.deterministic (its thread count,
// deterministic kernels, TF32 off), else the CPU's threads per rank and TF32 as sampling.tf32 asks. `scorch fid
// --ckpts` calls it before each checkpoint's samples, since its Inception sets TF32 for itself (--precision).
void set_sampling_runtime(const Config& config, const torch::Device& device);

// A fresh generator for noise stream `stream` of `seed` on `device`: the CPU one of core/rng.h, or a CUDA
// generator seeded with mix_seed(seed, stream) (same stream, different numbers from the CPU's).
torch::Generator make_generator(const torch::Device& device, uint64_t seed, uint64_t stream);

}  // namespace scorch::sampler
