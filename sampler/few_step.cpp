// FewStepSampler: maps the sampling.* keys onto DpmSolver, EdmSampler, DdimSampler and DdpmSampler.
#include "sampler/few_step.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/sdes/ve_sde.h"
#include "sampler/ddim_sampler.h"
#include "sampler/ddpm_sampler.h"
#include "sampler/dpm_solver.h"
#include "sampler/edm_sampler.h"
#include "sampler/time_steps.h"

namespace scorch::sampler {

bool is_few_step(const std::string& method) {
  return method == "dpm_solver" || method == "edm" || method == "ddim" || method == "ddpm";
}

void check_ddim_encode(const SamplingOptions& o) {
  SCORCH_CHECK_HINT(o.method == "ddim", "set sampling.method ddim (DDIM inversion) or ode",
                    "internal: DDIM inversion asked of sampling.method {}", o.method);
  SCORCH_CHECK_HINT(o.ddim_eta == 0, "set sampling.ddim_eta 0",
                    "encoding with sampling.method ddim inverts deterministic DDIM; sampling.ddim_eta = {} draws noise",
                    o.ddim_eta);
  SCORCH_CHECK_HINT(!is_ddim_labels(o.spacing), "use sampling.spacing time_uniform, time_quadratic or logsnr",
                    "sampling.spacing {} ends with ermongroup/ddim's x_0 prediction at label 0, which no DDIM step "
                    "inverts",
                    o.spacing);
}

FewStepSampler::FewStepSampler(std::shared_ptr<sdes::Sde> sde, sdes::ScoreFn score, const SamplingOptions& options)
    : schedule_(std::move(sde), options.continuous), score_(std::move(score)), o_(options) {
  SCORCH_CHECK(is_few_step(o_.method), "internal: FewStepSampler for method {}", o_.method);
  if (is_ddim_labels(o_.spacing)) {
    check_ddim_labels_method(o_.method, o_.spacing);
    SCORCH_CHECK_HINT(schedule_.discrete_vp(), "use sampling.spacing time_uniform or time_quadratic",
                      "sampling.spacing {} steps between the labels of a DDPM chain: the network must be a VP one "
                      "trained on it (training.sde vpsde, training.continuous false)",
                      o_.spacing);
    SCORCH_CHECK_HINT(o_.noise_removal, "set sampling.noise_removal true",
                      "sampling.spacing {} ends as ermongroup/ddim does, with the x_0 prediction at label 0; "
                      "sampling.noise_removal false asks for no final denoising",
                      o_.spacing);
    ddim_times_ = ddim_label_times(schedule_.sde()->N(), o_.spacing, o_.steps);
    return;
  }
  const int64_t least = o_.method == "edm" ? (o_.edm_solver == "heun" ? 3 : 2) : (o_.noise_removal ? 2 : 1);
  SCORCH_CHECK_HINT(o_.steps >= least, fmt::format("set sampling.steps to {} or more", least),
                    "sampling.steps = {} is too small a budget for {} (at least {} network evaluations{})", o_.steps,
                    o_.method, least, o_.method != "edm" && o_.noise_removal ? " with sampling.noise_removal" : "");
  // A network trained on a discrete VE ladder (training.continuous false) knows only its rungs: between them it
  // is called at the nearest rung and divides by that rung's sigma_i, while these solvers take x0 as
  // x + sigma(t)^2 s, so the noise they remove is scaled by (sigma(t) / sigma_i)^2, up to the ratio of
  // neighbouring rungs half a rung away: under 1 % at score_sde's 1000 levels, 1.67x at NCSN's 10.
  if (const auto* ve = dynamic_cast<const sdes::VESDE*>(schedule_.sde().get()); ve && !o_.continuous && ve->N() > 1) {
    // The ladder is geometric: neighbouring rungs differ by this factor (no read of the table, which may sit on
    // the GPU: the sampler is built per batch).
    const double off = std::pow(ve->sigma_max() / ve->sigma_min(), 1.0 / static_cast<double>(ve->N() - 1));
    SCORCH_CHECK_HINT(off <= 1.1, "sample it with sampling.method ald or pc, which stay on the ladder",
                      "sampling.method {} on a network trained on {} discrete VE levels (training.continuous: false): "
                      "between its levels the noise its x0 estimate removes would be scaled by up to {:.2f}x",
                      o_.method, ve->N(), off);
  }
}

torch::Tensor FewStepSampler::run(const torch::Tensor& x_T, torch::Generator& gen) {
  DataPrediction model(schedule_, score_);
  if (hook_) model.set_time_hook(hook_);
  const double t_T = schedule_.T(), t_0 = o_.eps;
  torch::Tensor x;
  if (o_.method == "dpm_solver") {
    DpmSolverOptions d{o_.solver_order, o_.dpm_method, o_.spacing, true, o_.noise_removal};
    x = DpmSolver(schedule_, model, d).run(x_T, t_T, t_0, o_.steps - (o_.noise_removal ? 1 : 0));
  } else if (o_.method == "ddim" && is_ddim_labels(o_.spacing)) {
    DdimSampler ddim(schedule_, model, {o_.ddim_eta, o_.spacing, true});
    x = ddim.run(x_T, ddim_times_, gen);
  } else if (o_.method == "ddim") {
    DdimOptions d{o_.ddim_eta, o_.spacing, o_.noise_removal};
    x = DdimSampler(schedule_, model, d).run(x_T, t_T, t_0, o_.steps - (o_.noise_removal ? 1 : 0), gen);
  } else if (o_.method == "ddpm") {
    // ermongroup/ddim clips to its data range [-1, 1]; scorch's model space is [0, 1] unless data.centered.
    DdpmSampler ddpm(schedule_, model, {o_.centered ? -1.0 : 0.0, 1.0, o_.noise_removal});
    const auto t = ddim_times_.empty()
                       ? time_steps(schedule_, o_.spacing, t_T, t_0, o_.steps - (o_.noise_removal ? 1 : 0))
                       : ddim_times_;
    x = ddpm.run(x_T, t, gen);
  } else {
    EdmOptions e{o_.edm_solver, o_.spacing, o_.edm_rho, o_.edm_churn, o_.edm_s_min, o_.edm_s_max, o_.edm_s_noise};
    const int64_t levels = o_.edm_solver == "heun" ? (o_.steps + 1) / 2 : o_.steps;
    x = EdmSampler(schedule_, model, e).run(x_T, t_T, t_0, levels, gen);
  }
  nfe_ = model.nfe();
  return x;
}

torch::Tensor FewStepSampler::encode(const torch::Tensor& x) {
  check_ddim_encode(o_);
  torch::NoGradGuard no_grad;  // each step's activations would otherwise stay linked through x to the end
  DataPrediction model(schedule_, score_);
  auto t = time_steps(schedule_, o_.spacing, schedule_.T(), o_.eps, o_.steps);
  std::reverse(t.begin(), t.end());
  auto unused = at::make_generator<at::CPUGeneratorImpl>(0);  // eta 0 draws nothing
  const auto z = DdimSampler(schedule_, model, {0.0, o_.spacing, false}).run(x, t, unused);
  nfe_ = model.nfe();
  return z;
}

}  // namespace scorch::sampler
