// bits/dim of a dataset under a model, distributed over ranks in fixed batches (the reference's bpd eval).
#pragma once
#include <string>

#include "sampler/diffusion_sampler.h"
#include "sampler/likelihood.h"

namespace scorch::dist {
class Communicator;
}

namespace scorch::sampler {

struct BpdOptions {
  std::string data;     // dataset directory (scorch data pack)
  int64_t num = 0;      // first `num` images (0: all)
  int64_t batch = 64;   // images per ODE solve (one ODE per batch, as the reference)
  int64_t repeats = 1;  // passes over the data with fresh dequantisation noise (the reference: 5 on test)
  uint64_t seed = 0;
  LikelihoodOptions likelihood;
  // Given noise instead of draws, row i for image i (repeats must be 1): the dequantisation u in [0, 1)
  // and the Hutchinson probe, each (N, C, H, W) with N >= the images evaluated. Undefined: drawn.
  torch::Tensor dequant, probe;
};

struct BpdReport {
  double mean = 0, std_error = 0;  // over all images x repeats; std error = sample std / sqrt(count)
  int64_t count = 0;
  double mean_nfe = 0;  // per batch
  double seconds = 0;
  // bits/dim of every image: per_image[r][i] is image i (dataset order) in repeat r.
  std::vector<std::vector<double>> per_image;
};

// Work unit u = (repeat, batch) with all its noise (dequantisation, Hutchinson probe) from (seed, u), handed
// out dynamically; per-image results are gathered and summed in unit order, so the report does not depend on
// the number of ranks. Collective over `comm`.
BpdReport evaluate_bpd(DiffusionSampler& sampler, const BpdOptions& o, dist::Communicator& comm);

// What evaluate_bpd checks before it starts (the data against the model, the counts, --dequant and --probes);
// `scorch sample likelihood --dry-run` runs it alone. Returns the number of images evaluated.
int64_t check_bpd(const DiffusionSampler& sampler, const BpdOptions& o);

}  // namespace scorch::sampler
