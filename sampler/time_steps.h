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

// ermongroup/ddim's label sequences (its --skip_type) for a network trained on a DDPM chain of `num_labels`:
//   ddim_uniform  labels 0, k, 2k, ... below num_labels, k = num_labels // steps: `steps` of them when steps
//                 divides num_labels, up to steps - 1 more otherwise (30 of 1000 gives 31), as ddim's range
//   ddim_quad     labels int(linspace(0, sqrt(0.8 num_labels), steps)^2), 0 to 800 of 1000
// as the times u / (num_labels - 1) of those labels (score_sde's discrete VP labelling), decreasing; the last is
// label 0, where ddim takes its final x_0 prediction.
bool is_ddim_labels(const std::string& spacing);
// Refuses the label sequences for any sampling.method but ddim and ddpm, naming both keys.
void check_ddim_labels_method(const std::string& method, const std::string& spacing);
std::vector<double> ddim_label_times(int64_t num_labels, const std::string& spacing, int64_t steps);

}  // namespace scorch::sampler
