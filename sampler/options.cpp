// SamplingOptions::from: one place that validates the sampling.* names.
#include "sampler/options.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "sampler/time_steps.h"

namespace scorch::sampler {

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

void check_member(const std::string& key, const std::string& value, const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  SCORCH_FAIL("{}: unknown value '{}' (expected one of: {})", key, value, list);
}
}  // namespace

SamplingOptions SamplingOptions::from(const Config& config) {
  SamplingOptions o;
  // score_sde lower-cases these names before looking them up; so do we.
  o.method = lower(config.get_string("sampling.method"));
  o.predictor = lower(config.get_string("sampling.predictor"));
  o.corrector = lower(config.get_string("sampling.corrector"));
  o.n_steps_each = config.get_int("sampling.n_steps_each");
  o.noise_removal = config.get_bool("sampling.noise_removal");
  o.probability_flow = config.get_bool("sampling.probability_flow");
  o.snr = config.get_float("sampling.snr");
  o.step_lr = config.get_float("sampling.step_lr");
  o.eps = config.get_float("sampling.eps");
  o.inverse_eps = config.get_float("sampling.inverse_eps");
  o.rtol = config.get_float("sampling.rtol");
  o.atol = config.get_float("sampling.atol");
  o.ode_solver = lower(config.get_string("sampling.ode_solver"));
  o.ode_steps = config.get_int("sampling.ode_steps");
  o.precision = lower(config.get_string("sampling.precision"));
  o.cuda_graph = config.get_bool("sampling.cuda_graph");
  o.steps = config.get_int("sampling.steps");
  o.spacing = lower(config.get_string("sampling.spacing"));
  o.solver_order = config.get_int("sampling.solver_order");
  o.dpm_method = lower(config.get_string("sampling.dpm_method"));
  o.edm_solver = lower(config.get_string("sampling.edm_solver"));
  o.edm_rho = config.get_float("sampling.edm_rho");
  o.edm_churn = config.get_float("sampling.edm_churn");
  o.edm_s_min = config.get_float("sampling.edm_s_min");
  o.edm_s_max = config.get_float("sampling.edm_s_max");
  o.edm_s_noise = config.get_float("sampling.edm_s_noise");
  o.ddim_eta = config.get_float("sampling.ddim_eta");
  o.continuous = config.get_bool("training.continuous");
  o.centered = config.get_bool("data.centered");

  check_member("sampling.method", o.method, {"pc", "ode", "ald", "dpm_solver", "edm", "ddim", "ddpm"});
  check_member("sampling.spacing", o.spacing,
               {"auto", "time_uniform", "time_quadratic", "logsnr", "edm", "ddim_uniform", "ddim_quad"});
  check_ddim_labels_method(o.method, o.spacing);
  if (o.spacing == "auto") {
    o.spacing = o.method == "edm" ? "edm" : o.method == "ddim" || o.method == "ddpm" ? "time_uniform" : "logsnr";
  }
  check_member("sampling.dpm_method", o.dpm_method, {"multistep", "singlestep"});
  check_member("sampling.edm_solver", o.edm_solver, {"heun", "euler"});
  SCORCH_CHECK(o.solver_order >= 1 && o.solver_order <= 3, "sampling.solver_order must be 1, 2 or 3, got {}",
               o.solver_order);
  SCORCH_CHECK(o.steps >= 1, "sampling.steps must be at least 1, got {}", o.steps);
  SCORCH_CHECK(o.ddim_eta >= 0 && o.ddim_eta <= 1, "sampling.ddim_eta must lie in [0, 1], got {}", o.ddim_eta);
  SCORCH_CHECK(o.edm_rho > 0, "sampling.edm_rho must be positive, got {}", o.edm_rho);
  SCORCH_CHECK(o.edm_churn >= 0 && o.edm_s_noise > 0,
               "sampling.edm_churn must be >= 0 and sampling.edm_s_noise > 0, got {} and {}", o.edm_churn,
               o.edm_s_noise);
  check_member("sampling.predictor", o.predictor,
               {"euler_maruyama", "reverse_diffusion", "ancestral_sampling", "none"});
  check_member("sampling.corrector", o.corrector, {"langevin", "ald", "none"});
  check_member("sampling.ode_solver", o.ode_solver, {"rk45", "euler", "heun"});
  check_member("sampling.precision", o.precision, {"fp32", "bf16"});
  SCORCH_CHECK(o.n_steps_each >= 1, "sampling.n_steps_each must be at least 1, got {}", o.n_steps_each);
  SCORCH_CHECK(o.snr > 0, "sampling.snr must be positive, got {}", o.snr);
  SCORCH_CHECK(o.step_lr > 0, "sampling.step_lr must be positive, got {}", o.step_lr);
  SCORCH_CHECK(o.eps > 0 && o.eps < 1, "sampling.eps must lie in (0, 1), got {}", o.eps);
  SCORCH_CHECK(o.inverse_eps > 0 && o.inverse_eps < 1, "sampling.inverse_eps must lie in (0, 1), got {}",
               o.inverse_eps);
  SCORCH_CHECK(o.rtol > 0 && o.atol > 0, "sampling.rtol and sampling.atol must be positive, got {} and {}", o.rtol,
               o.atol);
  SCORCH_CHECK(o.ode_steps >= 1, "sampling.ode_steps must be at least 1, got {}", o.ode_steps);
  return o;
}

torch::Tensor to_unit_range(const torch::Tensor& x, bool centered) { return centered ? (x + 1.0) / 2.0 : x; }
torch::Tensor from_unit_range(const torch::Tensor& x, bool centered) { return centered ? x * 2.0 - 1.0 : x; }

}  // namespace scorch::sampler
