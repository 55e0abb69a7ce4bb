// SubVPSDE: closed forms of the drift, diffusion and marginal; Euler-Maruyama discretisation.
#include "core/sdes/subvp_sde.h"

#include "core/error.h"

namespace scorch::sdes {

SubVPSDE::SubVPSDE(double beta_min, double beta_max, int64_t num_scales)
    : Sde(num_scales), beta_0_(beta_min), beta_1_(beta_max) {
  SCORCH_CHECK(beta_min > 0 && beta_max > beta_min,
               "sub-VP SDE needs 0 < model.beta_min < model.beta_max, got {} and {}", beta_min, beta_max);
}

DriftDiffusion SubVPSDE::sde(const torch::Tensor& x, const torch::Tensor& t) const {
  auto beta = beta_0_ + t * (beta_1_ - beta_0_);
  auto discount = 1.0 - (-2.0 * beta_0_ * t - (beta_1_ - beta_0_) * t.square()).exp();
  return {-0.5 * beta.view({-1, 1, 1, 1}) * x, (beta * discount).sqrt()};
}

MeanStd SubVPSDE::marginal_prob(const torch::Tensor& x, const torch::Tensor& t) const {
  auto m = -0.25 * t.square() * (beta_1_ - beta_0_) - 0.5 * t * beta_0_;
  return {m.exp().view({-1, 1, 1, 1}) * x, 1.0 - (2.0 * m).exp()};
}

torch::Tensor SubVPSDE::prior_sampling(torch::IntArrayRef shape, torch::Generator& gen,
                                       const torch::TensorOptions& options) const {
  return randn_with(shape, gen, options);
}

torch::Tensor SubVPSDE::prior_logp(const torch::Tensor& z) const { return standard_normal_logp(z); }

}  // namespace scorch::sdes
