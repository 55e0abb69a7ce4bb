// DDPM's ancestral step on a few-step grid with the larger variance: ermongroup/ddim's ddpm_noisy, DDIM's sigma-hat.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "sampler/noise_schedule.h"

namespace scorch::sampler {

struct DdpmOptions {
  double clip_lo = -1.0, clip_hi = 1.0;  // the data range of model space: each x_0 prediction is clipped to it
  bool denoise_to_zero = false;          // one more evaluation: return the clipped x_0 prediction at the last time
};

// Each step from s down to t draws x_t from the forward posterior q(x_t | x_s, x_0) around the clipped x_0
// prediction, with DDPM's beta of the skipped step as its variance instead of the posterior's:
//   x_0 = clip(D(x_s)),  alpha_{s|t} = alpha_s / alpha_t,  var = sigma_s^2 - alpha_{s|t}^2 sigma_t^2,
//   x_t = (alpha_t var x_0 + alpha_{s|t} sigma_t^2 x_s) / sigma_s^2 + sqrt(var) z.
// On a DDPM chain var is 1 - abar_s / abar_t, the sigma-hat row of the DDIM paper's Table 1 (its eta 1 takes
// the posterior's smaller variance); written through alpha and sigma it holds for VE and sub-VP as well.
// One normal draw per step, after the network call, as ermongroup/ddim's ddpm_steps.
class DdpmSampler {
 public:
  DdpmSampler(const NoiseSchedule& schedule, DataPrediction& model, DdpmOptions options);
  // Decreasing times t: x at t.front(), a step between neighbours, then with denoise_to_zero the clipped x_0
  // prediction at t.back(). t.size() - 1 network evaluations, one more with denoise_to_zero.
  torch::Tensor run(const torch::Tensor& x_T, const std::vector<double>& t, torch::Generator& gen);

 private:
  torch::Tensor x0(const torch::Tensor& x, double t);

  const NoiseSchedule& schedule_;
  DataPrediction& model_;
  DdpmOptions o_;
};

}  // namespace scorch::sampler
