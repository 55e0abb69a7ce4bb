// Variance-preserving SDE (DDPM): dx = -beta(t) x / 2 dt + sqrt(beta(t)) dw, beta linear in t.
#pragma once
#include "core/sdes/sde.h"

namespace scorch::sdes {

class VPSDE : public Sde {
 public:
  VPSDE(double beta_min, double beta_max, int64_t num_scales);

  SdeKind kind() const override { return SdeKind::VP; }
  double beta_min() const { return beta_0_; }
  double beta_max() const { return beta_1_; }
  torch::Tensor beta(const torch::Tensor& t) const;
  // log of the marginal mean coefficient, -t^2 (b1 - b0)/4 - t b0/2, (B,).
  torch::Tensor log_mean_coeff(const torch::Tensor& t) const;

  // DDPM tables, float32 as in the reference: betas_i = linspace(b0/N, b1/N, N), alphas = 1 - betas, ...
  const torch::Tensor& discrete_betas() const { return discrete_betas_; }
  const torch::Tensor& alphas() const { return alphas_; }
  const torch::Tensor& sqrt_alphas_cumprod() const { return sqrt_alphas_cumprod_; }
  const torch::Tensor& sqrt_1m_alphas_cumprod() const { return sqrt_1m_alphas_cumprod_; }

  DriftDiffusion sde(const torch::Tensor& x, const torch::Tensor& t) const override;
  MeanStd marginal_prob(const torch::Tensor& x, const torch::Tensor& t) const override;
  torch::Tensor prior_sampling(torch::IntArrayRef shape, torch::Generator& gen,
                               const torch::TensorOptions& options = {}) const override;
  torch::Tensor prior_logp(const torch::Tensor& z) const override;
  // DDPM chain: f = sqrt(1 - beta_i) x - x, G = sqrt(beta_i) with i = floor(t (N-1)).
  DriftDiffusion discretize(const torch::Tensor& x, const torch::Tensor& t) const override;
  void to(const torch::Device& device) override;

 private:
  double beta_0_, beta_1_;
  torch::Tensor discrete_betas_, alphas_, sqrt_alphas_cumprod_, sqrt_1m_alphas_cumprod_;  // (N,) float32
};

// log N(z; 0, I) per example, shared by VP and sub-VP (both have a standard normal prior).
torch::Tensor standard_normal_logp(const torch::Tensor& z);

}  // namespace scorch::sdes
