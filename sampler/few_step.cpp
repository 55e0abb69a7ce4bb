// FewStepSampler: maps the sampling.* keys onto DpmSolver, EdmSampler and DdimSampler.
#include "sampler/few_step.h"

#include "core/error.h"
#include "sampler/ddim_sampler.h"
#include "sampler/dpm_solver.h"
#include "sampler/edm_sampler.h"

namespace scorch::sampler {

bool is_few_step(const std::string& method) { return method == "dpm_solver" || method == "edm" || method == "ddim"; }

FewStepSampler::FewStepSampler(std::shared_ptr<sdes::Sde> sde, sdes::ScoreFn score, const SamplingOptions& options)
    : schedule_(std::move(sde)), score_(std::move(score)), o_(options) {
  SCORCH_CHECK(is_few_step(o_.method), "internal: FewStepSampler for method {}", o_.method);
  const int64_t least = o_.method == "edm" ? (o_.edm_solver == "heun" ? 3 : 2) : (o_.noise_removal ? 2 : 1);
  SCORCH_CHECK_HINT(o_.steps >= least, fmt::format("set sampling.steps to {} or more", least),
                    "sampling.steps = {} is too small a budget for {} (at least {} network evaluations{})", o_.steps,
                    o_.method, least, o_.method != "edm" && o_.noise_removal ? " with sampling.noise_removal" : "");
}

torch::Tensor FewStepSampler::run(const torch::Tensor& x_T, torch::Generator& gen) {
  DataPrediction model(schedule_, score_);
  if (hook_) model.set_time_hook(hook_);
  const double t_T = schedule_.T(), t_0 = o_.eps;
  torch::Tensor x;
  if (o_.method == "dpm_solver") {
    DpmSolverOptions d{o_.solver_order, o_.dpm_method, o_.spacing, true, o_.noise_removal};
    x = DpmSolver(schedule_, model, d).run(x_T, t_T, t_0, o_.steps - (o_.noise_removal ? 1 : 0));
  } else if (o_.method == "ddim") {
    DdimOptions d{o_.ddim_eta, o_.spacing, o_.noise_removal};
    x = DdimSampler(schedule_, model, d).run(x_T, t_T, t_0, o_.steps - (o_.noise_removal ? 1 : 0), gen);
  } else {
    EdmOptions e{o_.edm_solver, o_.spacing, o_.edm_rho, o_.edm_churn, o_.edm_s_min, o_.edm_s_max, o_.edm_s_noise};
    const int64_t levels = o_.edm_solver == "heun" ? (o_.steps + 1) / 2 : o_.steps;
    x = EdmSampler(schedule_, model, e).run(x_T, t_T, t_0, levels, gen);
  }
  nfe_ = model.nfe();
  return x;
}

}  // namespace scorch::sampler
