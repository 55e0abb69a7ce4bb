// Inpainting and colorization of a dataset's images with the sampler farm (`scorch sample inpaint|colorize`):
// the inverse problems of inverse.h over many images, distributed and resumable like unconditional samples.
#pragma once
#include <string>

#include "core/config.h"
#include "sampler/diffusion_sampler.h"
#include "sampler/farm.h"

namespace scorch::sampler {

struct InverseProblem {
  std::string data;             // dataset dir holding images of the model's shape
  bool colorization = false;    // false: inpainting
  std::string mask = "center";  // inpainting: make_mask's spec (its "random" mask is drawn from the farm's seed)
};

// Solves the problem for the first o.num images of the dataset (all of them when it holds fewer), batch k
// holding images [k o.batch, (k + 1) o.batch) with noise from (o.seed, k) only; pixels are rounded, not
// truncated, so known 8-bit pixels come back as they went in. With o.grid > 0, rank 0 also writes
// o.out/input-grid.png: what the model was given (masked inputs with gray holes, or the gray images).
// Needs the PC sampler (sampling.method pc). Collective over `comm`.
FarmReport run_inverse_farm(DiffusionSampler& sampler, const InverseProblem& problem, const Config& config,
                            FarmOptions o, dist::Communicator& comm);

// `o` as run_inverse_farm runs it: at most the dataset's images, pixels rounded, and the problem (task, the
// data's manifest digest, mask) recorded in farm.json, so that no other problem, data or mask resumes into o.out.
FarmOptions inverse_farm_options(const InverseProblem& problem, FarmOptions o);

// What run_inverse_farm checks before it starts (the data against the model, RGB for colorization, the PC
// sampler, the mask); `scorch sample inpaint|colorize --dry-run` runs it alone. Returns the mask, (1, 1, H, W)
// with 1 = known on the sampler's device (undefined for colorization).
torch::Tensor check_inverse(const DiffusionSampler& sampler, const InverseProblem& problem, uint64_t seed);

}  // namespace scorch::sampler
