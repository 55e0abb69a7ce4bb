// DDIM (Song, Meng & Ermon 2021) generalised to any Gaussian perturbation: eta 0 is deterministic, 1 ancestral.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "sampler/noise_schedule.h"

namespace scorch::sampler {

struct DdimOptions {
  double eta = 0.0;                      // DDIM's eta: the share of the posterior noise re-injected per step
  std::string spacing = "time_uniform";  // of the time grid (time_steps.h)
  bool denoise_to_zero = false;          // one more evaluation: return the x_0 prediction at the last time
};

// Each step from s to t: x_0 = D(x_s), eps = (x_s - alpha_s x_0) / sigma_s,
// x_t = alpha_t x_0 + sqrt(sigma_t^2 - c^2) eps + c z with c = eta sigma_t sqrt(1 - (sigma~_t / sigma~_s)^2)
// (DDIM's sigma_tau written through sigma~ = sigma / alpha, which makes it hold for VE as well). With eta = 0
// this is the first-order DPM-Solver step. `steps` network evaluations (plus one with denoise_to_zero).
class DdimSampler {
 public:
  DdimSampler(const NoiseSchedule& schedule, DataPrediction& model, DdimOptions options);
  torch::Tensor run(const torch::Tensor& x_T, double t_T, double t_0, int64_t steps, torch::Generator& gen);
  // The same on a given grid (options.spacing unused): x at t.front(), a step between neighbours, then with
  // denoise_to_zero the x_0 prediction at t.back(). Decreasing times sample; increasing ones (with eta 0) are
  // DDIM inversion, each step's x_0 and noise predicted at its lower end.
  torch::Tensor run(const torch::Tensor& x_T, const std::vector<double>& t, torch::Generator& gen);

 private:
  const NoiseSchedule& schedule_;
  DataPrediction& model_;
  DdimOptions o_;
};

}  // namespace scorch::sampler
