// DPM-Solver++ (Lu et al. 2022): exponential-integrator ODE steps on the data prediction, multistep or singlestep.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "sampler/noise_schedule.h"

namespace scorch::sampler {

struct DpmSolverOptions {
  int64_t order = 2;                 // 1 (= DDIM), 2 or 3
  std::string method = "multistep";  // multistep (2M / 3M) | singlestep (2S / 3S, "DPM-Solver-fast")
  std::string spacing = "logsnr";    // of the time grid (time_steps.h)
  bool lower_order_final = true;     // multistep under 10 steps: the last steps drop to lower orders
  bool denoise_to_zero = false;      // one more evaluation: return the x_0 prediction at the last time
};

// Integrates the probability-flow ODE from t_T to t_0 in `steps` network evaluations (plus one with
// denoise_to_zero), in the SDE's own alpha/sigma (VE: alpha = 1, lambda = -log sigma; sub-VP: sigma =
// 1 - alpha^2), so one solver serves all three SDEs.
class DpmSolver {
 public:
  DpmSolver(const NoiseSchedule& schedule, DataPrediction& model, DpmSolverOptions options);
  // x_T (B, C, H, W) at t_T -> x at t_0 (or its x_0 prediction). The grid has `steps` + 1 times.
  torch::Tensor run(const torch::Tensor& x_T, double t_T, double t_0, int64_t steps);

 private:
  torch::Tensor multistep(torch::Tensor x, const std::vector<double>& t);
  torch::Tensor singlestep(torch::Tensor x, double t_T, double t_0, int64_t steps);
  // One singlestep update of `order` from s to t with inner points at lambda fractions r1, r2 of the step.
  torch::Tensor singlestep_update(const torch::Tensor& x, double s, double t, int64_t order, double r1, double r2);

  const NoiseSchedule& schedule_;
  DataPrediction& model_;
  DpmSolverOptions o_;
};

}  // namespace scorch::sampler
