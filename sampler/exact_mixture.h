// The exact score of a Gaussian mixture under noise: a stand-in for a trained network that lets samplers,
// losses and `scorch lab` be checked against a problem whose answer is known. If x0 ~ sum_k w_k N(mu_k, s_k^2 I)
// and x | x0 ~ N(alpha x0, sigma^2 I), then x ~ sum_k w_k N(alpha mu_k, (alpha^2 s_k^2 + sigma^2) I).
#pragma once
#include <torch/torch.h>

#include <memory>

#include "core/sdes/score_fn.h"
#include "core/sdes/sde.h"
#include "data/synth.h"
#include "sampler/classifier_guidance.h"

namespace scorch::sampler {

// grad_x log p(x) of the mixture scaled by alpha and perturbed by sigma, per example: x (B, D, 1, 1) or (B, D),
// alpha and sigma (B,). Computed in float64 (the responsibilities of modes 14 units apart underflow in
// float32) and returned in x's dtype and shape.
torch::Tensor perturbed_mixture_score(const data::Mixture& mixture, const torch::Tensor& x, const torch::Tensor& alpha,
                                      const torch::Tensor& sigma);

// The score of the marginal p_t of `sde` started from the mixture (alpha and sigma from sde.marginal_prob).
sdes::ScoreFn exact_mixture_score(const data::Mixture& mixture, std::shared_ptr<sdes::Sde> sde);

// A noise-conditional "network" for annealed Langevin: label i is the score of the mixture plus N(0, sigma_i^2 I),
// sigmas (L,) in the order AldSampler expects (descending).
sdes::ModelFn exact_mixture_levels(const data::Mixture& mixture, torch::Tensor sigmas);

// The exact time-dependent classifier of the mixture's components: logits (B, K) whose softmax is
// p_t(y = k | x) (log w_k + log N(x; alpha mu_k, v_k I)), differentiable in x. Its guidance gradient plus the
// mixture's score is component k's own score, so guided sampling at scale 1 must return component k.
LogitFn exact_mixture_logits(const data::Mixture& mixture, std::shared_ptr<sdes::Sde> sde);

}  // namespace scorch::sampler
