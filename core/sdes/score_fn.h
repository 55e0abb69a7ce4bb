// Score functions: network output -> grad_x log p_t(x), with the conditioning labels each SDE expects.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>

#include "core/sdes/sde.h"
#include "core/sdes/vp_sde.h"

namespace scorch::sdes {

// The network as a function: x (B, C, H, W), labels (B,) -> output (B, C, H, W). Train/eval mode is
// the caller's business (set it on the module before wrapping).
using ModelFn = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& labels)>;
// x (B, C, H, W), t (B,) -> score (B, C, H, W).
using ScoreFn = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t)>;

// The network's conditioning input at time t (B,):
//   VE continuous: sigma(t) (the network takes log sigma and divides its output by sigma);
//   VE discrete:   round((T - t)(N - 1)) as long (t = T -> 0 -> sigma_max, the model's descending sigmas);
//   VP / sub-VP continuous: 999 t;   VP discrete: t (N - 1), as float (not rounded).
// Sub-VP with continuous = false is refused: it has no discrete form.
torch::Tensor model_labels(const Sde& sde, const torch::Tensor& t, bool continuous);

// The std a discrete VP network's noise prediction is divided by: sqrt(1 - alphas_cumprod[label]), the label
// t (N - 1) truncated as the reference indexes it. labels (B,) from model_labels -> (B,) float32 on their device.
torch::Tensor discrete_vp_std(const VPSDE& vp, const torch::Tensor& labels);

// VE: the network output is the score already; VP / sub-VP: the network predicts the noise, so
// score = -output / std, std from marginal_prob (continuous) or sqrt(1 - alphas_cumprod[label]) (discrete VP).
ScoreFn make_score_fn(const std::shared_ptr<Sde>& sde, ModelFn model, bool continuous);

}  // namespace scorch::sdes
