// A time-conditional MLP score model for D-dimensional points, stored as (B, D, 1, 1) like one-pixel images.
#pragma once
#include <torch/torch.h>

#include "core/models/layers.h"
#include "core/models/score_model.h"

namespace scorch::models {

// No reference network exists for vector data, so this follows NCSN++'s conventions: the same time
// embedding (Gaussian Fourier features of log σ, or the sinusoidal embedding of a timestep label) through two
// Linear layers, residual hidden layers each adding a projection of the embedding, and a final Linear
// initialised at model.init_scale (0: 1e-10, so training starts from a near-zero score). All layers sit in
// one ModuleList, `all_modules`, as in NCSN++:
//   [0 GaussianFourierProjection (fourier only)], Linear(embedding, nf), Linear(nf, nf), Linear(D, nf),
//   then per hidden layer Linear(nf, nf) (the embedding's projection) and Linear(nf, nf), and Linear(nf, D).
// model.nf is the width, model.num_res_blocks the number of hidden layers; model.scale_by_sigma divides the
// output by σ (Fourier embedding only: σ is then the time input).
class MLPImpl : public ScoreModelImpl {
 public:
  explicit MLPImpl(const ModelConfig& config);
  // x (B, D, 1, 1), time_cond (B,) -> (B, D, 1, 1).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& time_cond) override;

 private:
  ModelConfig config_;
  Activation act_;
  torch::nn::ModuleList all_modules{nullptr};
};

}  // namespace scorch::models
