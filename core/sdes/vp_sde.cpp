// VPSDE: closed forms of beta(t), the marginal, the N(0, I) prior and the DDPM discretisation.
#include "core/sdes/vp_sde.h"

#include <cmath>

#include "core/error.h"

namespace scorch::sdes {

VPSDE::VPSDE(double beta_min, double beta_max, int64_t num_scales)
    : Sde(num_scales), beta_0_(beta_min), beta_1_(beta_max) {
  SCORCH_CHECK(beta_min > 0 && beta_max > beta_min, "VP SDE needs 0 < model.beta_min < model.beta_max, got {} and {}",
               beta_min, beta_max);
  const double n = static_cast<double>(num_scales);
  discrete_betas_ = torch::linspace(beta_min / n, beta_max / n, num_scales, torch::kFloat32);
  alphas_ = 1.0 - discrete_betas_;
  auto cumprod = torch::cumprod(alphas_, 0);
  sqrt_alphas_cumprod_ = cumprod.sqrt();
  sqrt_1m_alphas_cumprod_ = (1.0 - cumprod).sqrt();
}

torch::Tensor VPSDE::beta(const torch::Tensor& t) const { return beta_0_ + t * (beta_1_ - beta_0_); }

torch::Tensor VPSDE::log_mean_coeff(const torch::Tensor& t) const {
  return -0.25 * t.square() * (beta_1_ - beta_0_) - 0.5 * t * beta_0_;
}

DriftDiffusion VPSDE::sde(const torch::Tensor& x, const torch::Tensor& t) const {
  auto b = beta(t);
  return {-0.5 * b.view({-1, 1, 1, 1}) * x, b.sqrt()};
}

MeanStd VPSDE::marginal_prob(const torch::Tensor& x, const torch::Tensor& t) const {
  auto m = log_mean_coeff(t);
  return {m.exp().view({-1, 1, 1, 1}) * x, (1.0 - (2.0 * m).exp()).sqrt()};
}

torch::Tensor VPSDE::prior_sampling(torch::IntArrayRef shape, torch::Generator& gen,
                                    const torch::TensorOptions& options) const {
  return randn_with(shape, gen, options);
}

torch::Tensor standard_normal_logp(const torch::Tensor& z) {
  const double d = static_cast<double>(z[0].numel());
  return -0.5 * d * std::log(2.0 * M_PI) - z.square().flatten(1).sum(1) / 2.0;
}

torch::Tensor VPSDE::prior_logp(const torch::Tensor& z) const { return standard_normal_logp(z); }

DriftDiffusion VPSDE::discretize(const torch::Tensor& x, const torch::Tensor& t) const {
  auto i = (t * static_cast<double>(N() - 1) / T()).to(torch::kLong);  // (B,)
  auto b = discrete_betas_.to(t.device()).index({i}).to(t.dtype());
  auto a = alphas_.to(t.device()).index({i}).to(t.dtype());
  return {a.sqrt().view({-1, 1, 1, 1}) * x - x, b.sqrt()};
}

void VPSDE::to(const torch::Device& device) {
  discrete_betas_ = discrete_betas_.to(device);
  alphas_ = alphas_.to(device);
  sqrt_alphas_cumprod_ = sqrt_alphas_cumprod_.to(device);
  sqrt_1m_alphas_cumprod_ = sqrt_1m_alphas_cumprod_.to(device);
}

}  // namespace scorch::sdes
