// VESDE: closed forms of sigma(t), g(t), the marginal, the prior and the SMLD discretisation.
#include "core/sdes/ve_sde.h"

#include <cmath>

#include "core/error.h"

namespace scorch::sdes {

VESDE::VESDE(double sigma_min, double sigma_max, int64_t num_scales)
    : Sde(num_scales), sigma_min_(sigma_min), sigma_max_(sigma_max) {
  SCORCH_CHECK(sigma_min > 0 && sigma_max > sigma_min,
               "VE SDE needs 0 < model.sigma_min < model.sigma_max, got {} and {}", sigma_min, sigma_max);
  // Built like the reference (float32 linspace of the float64 logs, then exp) so the table matches it exactly.
  discrete_sigmas_ = torch::linspace(std::log(sigma_min), std::log(sigma_max), num_scales, torch::kFloat32).exp();
}

torch::Tensor VESDE::sigma(const torch::Tensor& t) const {
  // Same operation order as the reference: smin * (smax/smin)^t, evaluated in t's dtype.
  return sigma_min_ * torch::pow(sigma_max_ / sigma_min_, t);
}

DriftDiffusion VESDE::sde(const torch::Tensor& x, const torch::Tensor& t) const {
  // d sigma^2 / dt = 2 sigma^2 log(smax/smin), so g = sigma * sqrt(2 (log smax - log smin)).
  const double rate = std::sqrt(2.0 * (std::log(sigma_max_) - std::log(sigma_min_)));
  return {torch::zeros_like(x), sigma(t) * rate};
}

MeanStd VESDE::marginal_prob(const torch::Tensor& x, const torch::Tensor& t) const {
  // The reference's convention: std is sigma(t), not sqrt(sigma(t)^2 - sigma_min^2); p_0 already
  // carries sigma_min noise.
  return {x, sigma(t)};
}

torch::Tensor VESDE::prior_sampling(torch::IntArrayRef shape, torch::Generator& gen,
                                    const torch::TensorOptions& options) const {
  return randn_with(shape, gen, options) * sigma_max_;
}

torch::Tensor VESDE::prior_logp(const torch::Tensor& z) const {
  const double d = static_cast<double>(z[0].numel());
  const double var = sigma_max_ * sigma_max_;
  return -0.5 * d * std::log(2.0 * M_PI * var) - z.square().flatten(1).sum(1) / (2.0 * var);
}

DriftDiffusion VESDE::discretize(const torch::Tensor& x, const torch::Tensor& t) const {
  auto i = (t * static_cast<double>(N() - 1) / T()).to(torch::kLong);  // (B,)
  auto table = discrete_sigmas_.to(t.device());
  auto s = table.index({i}).to(t.dtype());
  auto prev = torch::where(i == 0, torch::zeros_like(s), table.index({(i - 1).clamp_min(0)}).to(t.dtype()));
  return {torch::zeros_like(x), (s.square() - prev.square()).sqrt()};
}

void VESDE::to(const torch::Device& device) { discrete_sigmas_ = discrete_sigmas_.to(device); }

}  // namespace scorch::sdes
