// The few-step samplers chosen by sampling.method (dpm_solver | edm | ddim | ddpm), with sampling.steps as the budget.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "sampler/batch_progress.h"
#include "sampler/noise_schedule.h"
#include "sampler/options.h"

namespace scorch::sampler {

bool is_few_step(const std::string& method);

// What FewStepSampler::encode needs of the options: sampling.method ddim with ddim_eta 0 on a grid from
// sampling.spacing (ermongroup/ddim's label sequences end in an x_0 prediction, which has no inverse step).
void check_ddim_encode(const SamplingOptions& o);

// sampling.steps network evaluations per batch, exactly:
//   dpm_solver, ddim, ddpm   steps solver steps from T to sampling.eps, or steps - 1 and the final denoising
//                      evaluation (the x_0 prediction at eps) when sampling.noise_removal is on;
//   ddim, ddpm on ddim_uniform / ddim_quad   one evaluation per label of ermongroup/ddim's sequence (time_steps.h),
//                      the last the x_0 prediction at label 0: `steps` for ddim_quad, and for ddim_uniform
//                      when steps divides the chain's labels (more otherwise);
//   edm                (steps + 1) / 2 noise levels with heun (2 levels - 1 evaluations: 35 -> EDM's 18
//                      levels), `steps` levels with euler; it always ends at sigma~ = 0.
// The score is the one scorch sample's PC samplers use (training.continuous labels).
class FewStepSampler {
 public:
  FewStepSampler(std::shared_ptr<sdes::Sde> sde, sdes::ScoreFn score, const SamplingOptions& options);
  // x_T (B, C, H, W) from the SDE's prior -> the sample in model space. `gen` feeds edm churn, ddim eta and ddpm.
  torch::Tensor run(const torch::Tensor& x_T, torch::Generator& gen);
  // DDIM inversion: data x (B, C, H, W, model space) taken as x at sampling.eps -> its latent at T, up the
  // grid of `steps` moves that run() with sampling.noise_removal off comes down, each move DDIM's step with x_0
  // and the noise predicted at its lower end. run() maps the latent back to first order in the step (the
  // probability-flow ODE it discretises is one-to-one). `steps` network evaluations; see check_ddim_encode.
  torch::Tensor encode(const torch::Tensor& x);
  int64_t nfe() const { return nfe_; }
  void set_time_hook(TimeHook hook) { hook_ = std::move(hook); }

 private:
  NoiseSchedule schedule_;
  sdes::ScoreFn score_;
  SamplingOptions o_;
  TimeHook hook_;
  std::vector<double> ddim_times_;  // ddim_uniform / ddim_quad: the times of ermongroup/ddim's labels
  int64_t nfe_ = 0;
};

}  // namespace scorch::sampler
