// EDM's sampler (Karras et al. 2022, Algorithm 2): Heun or Euler steps in sigma~ with optional churn.
#pragma once
#include <torch/torch.h>

#include <limits>
#include <string>

#include "sampler/noise_schedule.h"

namespace scorch::sampler {

struct EdmOptions {
  std::string solver = "heun";  // heun | euler
  std::string spacing = "edm";  // of the sigma levels (time_steps.h); rho is used by "edm"
  double rho = 7.0;
  double churn = 0.0;  // S_churn: 0 is the deterministic sampler
  double s_min = 0.0, s_max = std::numeric_limits<double>::infinity(), s_noise = 1.0;
};

// Works on x~ = x_t / alpha_t, whose noise level is sigma~ = sigma_t / alpha_t, so VE, VP and sub-VP models
// all become EDM's dx~/dsigma~ = (x~ - D(x~; sigma~)) / sigma~ with D the model's x_0 prediction. `levels`
// noise levels from sigma~(t_T) to sigma~(t_0), then a last Euler step to sigma~ = 0: 2 levels - 1
// network evaluations with heun, `levels` with euler.
class EdmSampler {
 public:
  EdmSampler(const NoiseSchedule& schedule, DataPrediction& model, EdmOptions options);
  // x_T (B, C, H, W) drawn from the SDE's prior at t_T -> the sample at sigma~ = 0. `gen` feeds the churn.
  torch::Tensor run(const torch::Tensor& x_T, double t_T, double t_0, int64_t levels, torch::Generator& gen);

 private:
  const NoiseSchedule& schedule_;
  DataPrediction& model_;
  EdmOptions o_;
};

}  // namespace scorch::sampler
