// The noise-conditional classifier's objective: cross-entropy on perturbed inputs, as the score loss perturbs.
#pragma once
#include <torch/torch.h>

#include <memory>

#include "trainer/losses.h"

namespace scorch::trainer {

// t ~ U(eps, 1), x_t = mean(x, t) + std(t) z, per-example -log softmax(model(x_t, std(t)))[label]: the
// classifier sees the noise level as the marginal std, as score_sde's guided sampler hands it. Randomness
// in the order t, z from the LossNoise, so per-example streams make it rank-count invariant as the score loss.
class ClassifierLoss : public Loss {
 public:
  ClassifierLoss(std::shared_ptr<sdes::Sde> sde, double eps);
  bool needs_labels() const override { return true; }
  using Loss::per_example;
  torch::Tensor per_example(const sdes::ModelFn& model, const torch::Tensor& batch, const torch::Tensor& labels,
                            LossNoise& noise) const override;
  // Without labels there is nothing to classify: refused.
  torch::Tensor per_example(const sdes::ModelFn& model, const torch::Tensor& batch, LossNoise& noise) const override;

  // Accuracy by noise band: example i is perturbed at a time uniform in band i mod `bands` (equal parts of
  // [eps, 1]); returns (correct, total) per band, float64 (bands,) each, on the batch's device.
  std::pair<torch::Tensor, torch::Tensor> band_accuracy(const sdes::ModelFn& model, const torch::Tensor& batch,
                                                        const torch::Tensor& labels, LossNoise& noise,
                                                        int64_t bands) const;
  // The marginal std at the edges of band b of `bands` (for the log).
  std::pair<double, double> band_sigmas(int64_t b, int64_t bands) const;

 private:
  std::shared_ptr<sdes::Sde> sde_;
  double eps_;
};

}  // namespace scorch::trainer
