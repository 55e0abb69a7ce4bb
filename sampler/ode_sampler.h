// Probability-flow ODE sampling (prior -> data) and encoding (data -> latent) with an ODE solver.
#pragma once
#include <memory>

#include "core/sdes/reverse_sde.h"
#include "sampler/batch_progress.h"
#include "sampler/ode_solver.h"
#include "sampler/options.h"

namespace scorch::sampler {

class OdeSampler {
 public:
  // `score` as the reference's ODE sampler builds it: continuous labels whatever training.continuous was.
  // Uses o.ode_solver, o.rtol, o.atol, o.ode_steps, o.eps, o.noise_removal.
  OdeSampler(std::shared_ptr<sdes::Sde> sde, sdes::ScoreFn score, const SamplingOptions& o);

  // Integrates dx/dt = f - g^2 score / 2 from T down to eps starting at z (B, C, H, W); with noise_removal,
  // then one noise-free reverse-diffusion step at eps. The solver state is float64 (as scipy's), the drift is
  // evaluated in z's dtype. Model space in and out.
  torch::Tensor sample(const torch::Tensor& z);
  // The same ODE forward from eps to T: the latent code of data x (model space).
  torch::Tensor encode(const torch::Tensor& x);
  const OdeResult& last() const { return last_; }  // NFE and steps of the last solve
  // Called with the time of every drift evaluation (progress reporting).
  void set_time_hook(TimeHook hook) { time_hook_ = std::move(hook); }

  // The probability-flow drift at scalar time t for x (B, C, H, W).
  torch::Tensor drift(const torch::Tensor& x, double t) const;

 private:
  torch::Tensor solve(const torch::Tensor& x, double t0, double t1);
  std::shared_ptr<sdes::Sde> sde_;
  sdes::ScoreFn score_;
  sdes::ReverseSde flow_;
  SamplingOptions o_;
  OdeResult last_;
  TimeHook time_hook_;
};

}  // namespace scorch::sampler
