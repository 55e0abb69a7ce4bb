// OdeSampler: the reference's get_ode_sampler on our own RK45, plus fixed-step solvers and encoding.
#include "sampler/ode_sampler.h"

#include "core/error.h"

namespace scorch::sampler {

OdeSampler::OdeSampler(std::shared_ptr<sdes::Sde> sde, sdes::ScoreFn score, const SamplingOptions& o)
    : sde_(sde), score_(score), flow_(sde, score, /*probability_flow=*/true), o_(o) {}

torch::Tensor OdeSampler::drift(const torch::Tensor& x, double t) const {
  auto vec_t = torch::full({x.size(0)}, t, x.options());
  return flow_.sde(x, vec_t).drift;
}

torch::Tensor OdeSampler::solve(const torch::Tensor& x, double t0, double t1) {
  SCORCH_CHECK(x.dim() == 4, "the ODE sampler expects (B, C, H, W), got {}", c10::str(x.sizes()));
  torch::NoGradGuard no_grad;
  const auto dtype = x.scalar_type();
  OdeFn f = [&](double t, const torch::Tensor& y) {
    if (time_hook_) time_hook_(t);
    return drift(y.to(dtype), t).to(torch::kDouble);
  };
  last_ = solve_ode(o_.ode_solver, f, x.to(torch::kDouble), t0, t1, o_.rtol, o_.atol, o_.ode_steps);
  return last_.y.to(dtype);
}

torch::Tensor OdeSampler::sample(const torch::Tensor& z) {
  auto x = solve(z, sde_->T(), o_.eps);
  if (!o_.noise_removal) return x;
  // Denoising = the mean of one reverse-diffusion step at eps (SDE form, not the ODE), one more score call.
  torch::NoGradGuard no_grad;
  sdes::ReverseSde rsde(sde_, score_, /*probability_flow=*/false);
  auto vec_eps = torch::full({x.size(0)}, o_.eps, x.options());
  last_.nfe += 1;
  return x - rsde.discretize(x, vec_eps).drift;
}

torch::Tensor OdeSampler::encode(const torch::Tensor& x) { return solve(x, o_.eps, sde_->T()); }

}  // namespace scorch::sampler
