// Latent codes x_T: reading them for `scorch sample --latents`, and encoding a dataset into them through the
// probability-flow ODE or DDIM inversion (`scorch sample encode`).
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "sampler/diffusion_sampler.h"

namespace scorch::dist {
class Communicator;
}

namespace scorch::sampler {

// Whether the configured sampler maps x_T to a sample without drawing noise (so that given latents decide
// the result): ode; dpm_solver; ddim with eta 0; edm without churn.
bool is_deterministic(const SamplingOptions& o);

// An (N, C, H, W) float32 array from FILE.npy or FILE.safetensors (its one tensor, or the one named
// "latents"), checked against the model's (C, H, W): --latents, and likelihood's --dequant and --probes.
// Errors name `flag`, the file and what was expected.
torch::Tensor read_image_array(const std::string& path, const std::vector<int64_t>& image_shape,
                               const std::string& flag = "--latents");

struct EncodeOptions {
  std::string data;  // dataset directory (scorch data pack)
  std::string out;   // FILE.npy
  int64_t num = 0;   // first `num` images (0: all)
  int64_t batch = 64;
};

struct EncodeReport {
  int64_t count = 0;
  double mean_nfe = 0, seconds = 0;
};

// Runs the probability-flow ODE from sampling.eps to T (the configured ode_solver and tolerances) on the
// first `num` images, batches handed out to all ranks, and writes their latents in dataset order to `out`
// (rank 0, atomically). With sampling.method ddim (eta 0) DDIM inversion takes the ODE's place
// (FewStepSampler::encode). Collective over `comm`.
EncodeReport encode_dataset(DiffusionSampler& sampler, const EncodeOptions& o, dist::Communicator& comm);

// What encode_dataset checks before it starts (the data against the model, --batch, --out); `scorch sample
// encode --dry-run` runs it alone. Returns the number of images to encode.
int64_t check_encode(const DiffusionSampler& sampler, const EncodeOptions& o);

}  // namespace scorch::sampler
