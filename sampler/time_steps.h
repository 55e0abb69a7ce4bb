// Time grids of the few-step samplers: time-uniform, time-quadratic, logSNR-uniform and EDM's rho schedule.
#pragma once
#include <string>
#include <vector>

#include "sampler/noise_schedule.h"

namespace scorch::sampler {

// `steps` + 1 decreasing times from t_T down to t_0 (both included), spaced by `spacing`:
//   time_uniform    linear in t (DDIM; DPM-Solver's choice for high resolutions)
//   time_quadratic  linear in sqrt(t) (DPM-Solver's; DDIM's CIFAR-10 "quad" grid is this shape but stops at 0.8 T)
//   logsnr          linear in lambda = log(alpha / sigma) (DPM-Solver's choice for 32^2-64^2)
//   edm             EDM's rho schedule: linear in edm_sigma^(1/rho) (Karras et al. 2022, eq. 5)
// Names are matched exactly; anything else fails naming sampling.spacing.
std::vector<double> time_steps(const NoiseSchedule& schedule, const std::string& spacing, double t_T, double t_0,
                               int64_t steps, double rho = 7.0);

}  // namespace scorch::sampler
