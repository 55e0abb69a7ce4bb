// An SDE seen as a Gaussian perturbation x_t = alpha_t x_0 + sigma_t z: alpha, sigma, log-SNR and their inverses.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

#include "core/sdes/score_fn.h"

namespace scorch::sampler {

// The reparametrisation the exponential-integrator and EDM samplers work in (DPM-Solver's alpha_t, sigma_t,
// lambda_t = log(alpha_t / sigma_t); EDM's sigma~ = sigma_t / alpha_t). VE: alpha = 1, sigma = sigma(t);
// VP: alpha = exp(-int beta / 2), sigma = sqrt(1 - alpha^2); sub-VP: the same alpha, sigma = 1 - alpha^2.
// Values come from the SDE's own marginal_prob, in float64, so they agree with what the network was trained on.
// A VP network trained on the DDPM chain (training.continuous false) was trained on its table instead:
// log alpha is then the table's 0.5 cumsum log(1 - beta_i) at label u = t (N - 1), linear between labels, as
// DPM-Solver's discrete schedule (its time (u + 1) / N), and sigma = sqrt(1 - alpha^2).
class NoiseSchedule {
 public:
  explicit NoiseSchedule(std::shared_ptr<sdes::Sde> sde, bool continuous = true);

  double alpha(double t) const;
  double sigma(double t) const;
  double lambda(double t) const;
  // sigma_t / alpha_t: the noise level of x_t / alpha_t, EDM's sigma.
  double edm_sigma(double t) const;
  // The inverses, on [0, T] (all three are monotone in t); bisection in float64 to the last bit.
  double t_of_lambda(double lambda) const;
  double t_of_edm_sigma(double edm_sigma) const;
  double T() const { return sde_->T(); }
  const std::shared_ptr<sdes::Sde>& sde() const { return sde_; }
  // Whether alpha and sigma come from the DDPM table (a discrete VP network).
  bool discrete_vp() const { return !log_alpha_.empty(); }
  // The std the discrete VP score divided the network's noise prediction by at t (B,): its table's entry at the
  // truncated label, which is sigma(t) only at whole labels. (B,) in t's dtype.
  torch::Tensor score_std(const torch::Tensor& t) const;

 private:
  double log_alpha(double t) const;

  std::shared_ptr<sdes::Sde> sde_;
  std::vector<double> log_alpha_;  // (N,) discrete VP only: 0.5 cumsum log(1 - beta_i), float64
};

// The denoiser of a score model: x_0 prediction (x + sigma_t^2 score(x, t)) / alpha_t (Tweedie's formula),
// with t filled in per example; for a discrete VP network (x - sigma_t eps) / alpha_t with the noise prediction
// eps = -score * score_std(t), as DPM-Solver's. Counts network evaluations.
class DataPrediction {
 public:
  DataPrediction(const NoiseSchedule& schedule, sdes::ScoreFn score) : schedule_(schedule), score_(std::move(score)) {}
  // x (B, C, H, W) at time t -> x_0 estimate (B, C, H, W).
  torch::Tensor operator()(const torch::Tensor& x, double t);
  int64_t nfe() const { return nfe_; }
  // Called with t before each evaluation (progress reports).
  void set_time_hook(std::function<void(double)> hook) { hook_ = std::move(hook); }

 private:
  const NoiseSchedule& schedule_;
  sdes::ScoreFn score_;
  std::function<void(double)> hook_;
  int64_t nfe_ = 0;
};

}  // namespace scorch::sampler
