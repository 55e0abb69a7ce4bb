// Controllable generation with a time-dependent classifier (Song et al. 2021, §5 and App. I): the score of
// p_t(x | y) is s(x, t) + grad_x log p_t(y | x), so an unconditional score model and a classifier trained on
// noisy inputs sample a requested class. Every predictor, corrector and the probability-flow ODE take the
// guided score in place of the model's, as score_sde's conditional PC sampler does.
#pragma once
#include <torch/torch.h>

#include <functional>

#include "core/models/score_model.h"
#include "core/sdes/score_fn.h"
#include "core/sdes/sde.h"

namespace scorch::sampler {

// The classifier as a function: x (B, C, H, W) at time t (B,) -> logits (B, K), differentiable in x.
using LogitFn = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t)>;

// s(x, t) + scale * grad_x log softmax(logits(x, t))[y], y = labels (B,) int64, one per example of every batch
// the sampler passes. The gradient of the batch's summed log-probabilities is each example's own, since
// nothing in a classifier mixes examples. scale 1 is Bayes' rule; larger values sharpen p(y | x)^scale.
sdes::ScoreFn classifier_guided(sdes::ScoreFn score, LogitFn logits, torch::Tensor labels, double scale);

// A trained noise-conditional classifier (training.task: classifier) as a LogitFn: the network sees x and the
// marginal std of `sde` at t, as it was trained and as score_sde's guided sampler calls it. `classifier` must
// outlive the function.
LogitFn classifier_logits(models::ScoreModelImpl& classifier, std::shared_ptr<sdes::Sde> sde);

}  // namespace scorch::sampler
