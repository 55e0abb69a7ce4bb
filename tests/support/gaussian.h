// Test support: Gaussian data N(mu, s^2 I), whose every marginal p_t = N(a mu, (a^2 s^2 + std^2) I) has a
// closed-form score, used as the "model" for the samplers.
#pragma once
#include <cmath>

#include "core/sdes/score_fn.h"
#include "core/sdes/sde.h"

namespace scorch::test {

struct Gaussian {
  double mu, s;
  // Mean coefficient a(t) and marginal std at time t (B,), each (B,).
  static std::pair<torch::Tensor, torch::Tensor> coeffs(const sdes::Sde& sde, const torch::Tensor& t) {
    auto ms = sde.marginal_prob(torch::ones({t.size(0), 1, 1, 1}, t.options()), t);
    return {ms.mean.flatten(), ms.std};
  }
  sdes::ScoreFn score(const std::shared_ptr<sdes::Sde>& sde) const {
    return [sde, mu = mu, s = s](const torch::Tensor& x, const torch::Tensor& t) {
      auto [a, sd] = coeffs(*sde, t.to(x.dtype()));
      auto var = (a.square() * s * s + sd.square()).view({-1, 1, 1, 1});
      return -(x - a.view({-1, 1, 1, 1}) * mu) / var;
    };
  }
  // Mean and std of p_t at scalar time t.
  std::pair<double, double> marginal(const sdes::Sde& sde, double t) const {
    auto [a, sd] = coeffs(sde, torch::full({1}, t, torch::kFloat64));
    const double av = a.item<double>(), sv = sd.item<double>();
    return {av * mu, std::sqrt(av * av * s * s + sv * sv)};
  }
  // Where the exact probability-flow map sends the prior N(0, prior_std^2 I) at T: the flow is affine
  // here, x_eps - m_eps = (x_T - m_T) sd_eps / sd_T, so the prior's mismatch with p_T (e.g. the VE prior's
  // mean 0 instead of mu) is carried down, scaled.
  std::pair<double, double> flow_of_prior(const sdes::Sde& sde, double eps, double prior_std) const {
    const auto [m_eps, sd_eps] = marginal(sde, eps);
    const auto [m_t, sd_t] = marginal(sde, sde.T());
    return {m_eps - m_t * sd_eps / sd_t, prior_std * sd_eps / sd_t};
  }
};

}  // namespace scorch::test
