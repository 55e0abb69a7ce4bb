// Sliced score matching (Song, Garg, Shi & Ermon 2019) on perturbed data: the score-matching objective
// E[tr grad_x s + 1/2 |s|^2] with the trace estimated by random projections, v^T (grad_x s) v, which one
// double backward gives without the Jacobian. No denoising target: only the model's score at x_t.
#pragma once
#include <torch/torch.h>

#include <memory>

#include "trainer/losses.h"

namespace scorch::trainer {

enum class SsmProjection { Rademacher, Gaussian };  // both have E[v v^T] = I

// t ~ U(eps, T), x_t = mean + std z, v ~ projection; per example
//   ssm:    v^T (grad s) v + 1/2 (v^T s)^2,     ssm_vr: v^T (grad s) v + 1/2 |s|^2 (the second term exactly),
// weighted by std(t)^2 as DsmLoss is (g(t)^2 with likelihood weighting), and scaled by 2/D for reduce_mean
// to match DSM's mean over pixels. For any model, E[DSM] - E[SSM] is a constant, E_t[w(t) D / (2 std(t)^2)]
// for the weight w (D/2 with std(t)^2, 1 with reduce_mean as well): the two objectives have the same minimiser.
class SsmLoss : public Loss {
 public:
  SsmLoss(std::shared_ptr<sdes::Sde> sde, bool variance_reduced, SsmProjection projection, bool reduce_mean,
          bool likelihood_weighting, double eps);
  using Loss::per_example;
  torch::Tensor per_example(const sdes::ModelFn& model, const torch::Tensor& batch, LossNoise& noise) const override;

 private:
  std::shared_ptr<sdes::Sde> sde_;
  bool variance_reduced_;
  SsmProjection projection_;
  bool reduce_mean_, likelihood_weighting_;
  double eps_;
};

// NCSN's annealed sliced score matching (ermongroup/ncsn losses/sliced_sm.py, its `training.algo: ssm`), for
// discrete VE training (training.continuous: false) as SmldLoss: a level i ~ U{0..N-1} per example, sigma_i
// from the descending table (label 0 is sigma_max), x~ = x + sigma_i z, and the sliced terms above of the
// network's score at (x~, i), weighted by sigma_i^anneal_power (2: NCSN's) and scaled as SsmLoss. For any
// model, E[SMLD] - E[this] is D/2 (1 with reduce_mean) at anneal_power 2: the same minimiser as SmldLoss.
// ncsn has the variance-reduced form only (ssm_vr) and draws its projections from N(0, I) (its comment says
// Rademacher): training.ssm_projections: gaussian reproduces it.
class AnnealedSsmLoss : public Loss {
 public:
  AnnealedSsmLoss(std::shared_ptr<sdes::Sde> sde, bool variance_reduced, SsmProjection projection, bool reduce_mean,
                  double anneal_power);
  using Loss::per_example;
  torch::Tensor per_example(const sdes::ModelFn& model, const torch::Tensor& batch, LossNoise& noise) const override;

 private:
  std::shared_ptr<sdes::Sde> sde_;
  bool variance_reduced_;
  SsmProjection projection_;
  bool reduce_mean_;
  double anneal_power_;
};

// The two sliced terms of one batch for a score function at (x, t) with projections v, each (B,):
// v^T (grad_x s) v, and 1/2 (v^T s)^2 (or 1/2 |s|^2 when variance_reduced). x must require grad; the result
// keeps the graph, so a backward through it reaches the model's parameters (a double backward).
std::pair<torch::Tensor, torch::Tensor> sliced_terms(const sdes::ScoreFn& score, const torch::Tensor& x,
                                                     const torch::Tensor& t, const torch::Tensor& v,
                                                     bool variance_reduced);

}  // namespace scorch::trainer
