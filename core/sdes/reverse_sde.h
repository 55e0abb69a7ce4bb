// The reverse-time SDE of a forward SDE and a score, or its probability-flow ODE.
#pragma once
#include "core/sdes/score_fn.h"

namespace scorch::sdes {

// Reverse SDE:  dx = [f - g^2 score] dt + g dw̄;  probability flow:  dx = [f - g^2 score / 2] dt.
// Time runs from T down to 0; samplers step with dt < 0.
class ReverseSde {
 public:
  ReverseSde(std::shared_ptr<Sde> sde, ScoreFn score_fn, bool probability_flow);

  const Sde& forward() const { return *sde_; }
  bool probability_flow() const { return probability_flow_; }
  int64_t N() const { return sde_->N(); }
  double T() const { return sde_->T(); }

  // Drift (B, C, H, W) and diffusion (B,); the diffusion is a zero tensor for the ODE (the reference
  // returns a Python float there, which crashes Euler-Maruyama with probability_flow).
  DriftDiffusion sde(const torch::Tensor& x, const torch::Tensor& t) const;
  // Reverse of the forward chain at t: rev_f = f - G^2 score (x 1/2 for the ODE), rev_G = G (0 for the ODE).
  DriftDiffusion discretize(const torch::Tensor& x, const torch::Tensor& t) const;

 private:
  std::shared_ptr<Sde> sde_;
  ScoreFn score_fn_;
  bool probability_flow_;
};

}  // namespace scorch::sdes
