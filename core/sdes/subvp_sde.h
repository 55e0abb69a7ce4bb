// Sub-VP SDE: the VP drift with diffusion sqrt(beta(t) (1 - exp(-2 int_0^t beta))); variance below VP's.
#pragma once
#include "core/sdes/vp_sde.h"

namespace scorch::sdes {

// Not a VPSDE subclass on purpose: it has no DDPM tables, and the reference gives it none either.
class SubVPSDE : public Sde {
 public:
  SubVPSDE(double beta_min, double beta_max, int64_t num_scales);

  SdeKind kind() const override { return SdeKind::SubVP; }
  double beta_min() const { return beta_0_; }
  double beta_max() const { return beta_1_; }

  DriftDiffusion sde(const torch::Tensor& x, const torch::Tensor& t) const override;
  // std = 1 - exp(2 m(t)) with no square root: the sub-VP variance is (1 - exp(-int beta))^2.
  MeanStd marginal_prob(const torch::Tensor& x, const torch::Tensor& t) const override;
  torch::Tensor prior_sampling(torch::IntArrayRef shape, torch::Generator& gen,
                               const torch::TensorOptions& options = {}) const override;
  torch::Tensor prior_logp(const torch::Tensor& z) const override;

 private:
  double beta_0_, beta_1_;
};

}  // namespace scorch::sdes
