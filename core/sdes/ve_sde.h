// Variance-exploding SDE (SMLD/NCSN): dx = sqrt(d sigma^2/dt) dw with sigma(t) = smin (smax/smin)^t.
#pragma once
#include "core/sdes/sde.h"

namespace scorch::sdes {

class VESDE : public Sde {
 public:
  VESDE(double sigma_min, double sigma_max, int64_t num_scales);

  SdeKind kind() const override { return SdeKind::VE; }
  double sigma_min() const { return sigma_min_; }
  double sigma_max() const { return sigma_max_; }
  // sigma(t), (B,), in t's dtype.
  torch::Tensor sigma(const torch::Tensor& t) const;
  // exp(linspace(log smin, log smax, N)) in float32, ASCENDING (index 0 = sigma_min), as the reference's
  // discrete_sigmas. (The model's own `sigmas` buffer is float64 and descending; that lives in core/models.)
  const torch::Tensor& discrete_sigmas() const { return discrete_sigmas_; }

  DriftDiffusion sde(const torch::Tensor& x, const torch::Tensor& t) const override;
  MeanStd marginal_prob(const torch::Tensor& x, const torch::Tensor& t) const override;
  torch::Tensor prior_sampling(torch::IntArrayRef shape, torch::Generator& gen,
                               const torch::TensorOptions& options = {}) const override;
  torch::Tensor prior_logp(const torch::Tensor& z) const override;
  // SMLD chain: f = 0, G = sqrt(sigma_i^2 - sigma_{i-1}^2) with i = floor(t (N-1)) and sigma_{-1} = 0.
  DriftDiffusion discretize(const torch::Tensor& x, const torch::Tensor& t) const override;
  void to(const torch::Device& device) override;

 private:
  double sigma_min_, sigma_max_;
  torch::Tensor discrete_sigmas_;  // (N,) float32
};

}  // namespace scorch::sdes
