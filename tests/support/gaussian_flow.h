// Gaussian data under an SDE, and the exact probability-flow map of it: the truth the few-step sampler tests
// measure discretisation error against.
//
// Data x0 ~ N(mu, s^2) per pixel. At time t the marginal is N(alpha_t mu, v_t), v_t = alpha_t^2 s^2 + sigma_t^2,
// its score -(x - alpha_t mu) / v_t, and the probability-flow ODE moves every point along
// x_t - alpha_t mu = (x_T - alpha_T mu) sqrt(v_t / v_T), for VE, VP and sub-VP alike.
#pragma once
#include <torch/torch.h>

#include <cmath>
#include <memory>

#include "core/sdes/score_fn.h"
#include "core/sdes/subvp_sde.h"
#include "core/sdes/ve_sde.h"
#include "core/sdes/vp_sde.h"
#include "sampler/noise_schedule.h"

namespace scorch::sampler::gaussian_flow {

inline constexpr double kMu = 0.3, kS = 0.5, kT = 1.0, kEps = 1e-3;

inline std::shared_ptr<sdes::Sde> sde_named(sdes::SdeKind k) {
  if (k == sdes::SdeKind::VE) return std::make_shared<sdes::VESDE>(0.01, 50.0, 1000);
  if (k == sdes::SdeKind::VP) return std::make_shared<sdes::VPSDE>(0.1, 20.0, 1000);
  return std::make_shared<sdes::SubVPSDE>(0.1, 20.0, 1000);
}

struct Gaussian {
  NoiseSchedule schedule;
  double mu = kMu, s = kS;  // the data's mean and standard deviation
  double v(double t) const {
    const double a = schedule.alpha(t), sig = schedule.sigma(t);
    return a * a * s * s + sig * sig;
  }
  sdes::ScoreFn score() const {
    return [this](const torch::Tensor& x, const torch::Tensor& t) {
      const double tt = t[0].item<double>();
      return -(x - schedule.alpha(tt) * mu) / v(tt);
    };
  }
  // The exact flow from t_T to t of the points x_T.
  torch::Tensor flow(const torch::Tensor& x_T, double t_T, double t) const {
    return schedule.alpha(t) * mu + (x_T - schedule.alpha(t_T) * mu) * std::sqrt(v(t) / v(t_T));
  }
  torch::Tensor start() const {
    auto g = at::make_generator<at::CPUGeneratorImpl>(5);
    return torch::randn({64, 1, 1, 1}, g, torch::kFloat64) * std::sqrt(v(kT)) + schedule.alpha(kT) * mu;
  }
};

}  // namespace scorch::sampler::gaussian_flow
