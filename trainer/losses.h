// Training objectives of score_sde: continuous denoising score matching, discrete SMLD, discrete DDPM.
#pragma once
#include <torch/torch.h>

#include <memory>

#include "core/sdes/score_fn.h"
#include "trainer/loss_noise.h"

namespace scorch {
class Config;
}  // namespace scorch

namespace scorch::trainer {

// One objective. Randomness (times, labels, noise) comes only from `noise` (CPU streams moved to the
// batch's device), so a loss value depends on the seed alone, not on the device.
class Loss {
 public:
  virtual ~Loss() = default;
  // Per-example losses, (B,), for a batch (B, C, H, W) already scaled as the model expects.
  virtual torch::Tensor per_example(const sdes::ModelFn& model, const torch::Tensor& batch, LossNoise& noise) const = 0;
  // The same with the examples' class labels (B,) int64, which only a classifier's objective reads.
  virtual bool needs_labels() const { return false; }
  virtual torch::Tensor per_example(const sdes::ModelFn& model, const torch::Tensor& batch, const torch::Tensor& labels,
                                    LossNoise& noise) const {
    return per_example(model, batch, noise);
  }
  torch::Tensor per_example(const sdes::ModelFn& model, const torch::Tensor& batch, torch::Generator& gen) const {
    GeneratorNoise noise(gen);
    return per_example(model, batch, noise);
  }
  // The scalar that is minimised: the batch mean of per_example.
  torch::Tensor operator()(const sdes::ModelFn& model, const torch::Tensor& batch, torch::Generator& gen) const {
    return per_example(model, batch, gen).mean();
  }
};

// Continuous DSM: t ~ U(eps, T), x_t = mean + std z, loss = reduce((score std + z)^2), or with
// likelihood weighting reduce((score + z / std)^2) g(t)^2. reduce = mean over pixels or 1/2 sum.
class DsmLoss : public Loss {
 public:
  DsmLoss(std::shared_ptr<sdes::Sde> sde, bool reduce_mean, bool likelihood_weighting, double eps);
  using Loss::per_example;
  torch::Tensor per_example(const sdes::ModelFn& model, const torch::Tensor& batch, LossNoise& noise) const override;

 private:
  std::shared_ptr<sdes::Sde> sde_;
  bool reduce_mean_, likelihood_weighting_;
  double eps_;
};

// Discrete SMLD (NCSN) for the VE SDE: label l ~ U{0..N-1}, sigma = sigma_max-first table[l],
// loss = reduce((model(x + sigma z, l) + z / sigma)^2) sigma^p. p = anneal_power: 2 is the papers'
// lambda(sigma) = sigma^2 and every shipped config; ncsn/ncsnv2 expose p as `anneal_power`.
class SmldLoss : public Loss {
 public:
  SmldLoss(std::shared_ptr<sdes::Sde> sde, bool reduce_mean, double anneal_power = 2.0);
  using Loss::per_example;
  torch::Tensor per_example(const sdes::ModelFn& model, const torch::Tensor& batch, LossNoise& noise) const override;

 private:
  std::shared_ptr<sdes::Sde> sde_;
  bool reduce_mean_;
  double anneal_power_;
};

// Discrete DDPM for the VP SDE: label l ~ U{0..N-1}, x_l = sqrt(abar_l) x + sqrt(1 - abar_l) z,
// loss = reduce((model(x_l, l) - z)^2).
class DdpmLoss : public Loss {
 public:
  DdpmLoss(std::shared_ptr<sdes::Sde> sde, bool reduce_mean);
  using Loss::per_example;
  torch::Tensor per_example(const sdes::ModelFn& model, const torch::Tensor& batch, LossNoise& noise) const override;

 private:
  std::shared_ptr<sdes::Sde> sde_;
  bool reduce_mean_;
};

// The objective the config asks for: training.continuous -> DsmLoss (training.reduce_mean,
// likelihood_weighting, eps); otherwise SMLD (training.anneal_power) for vesde, DDPM for vpsde; sub-VP
// discrete, likelihood weighting with discrete training and an anneal_power other than 2 for any loss but
// SMLD are refused.
std::unique_ptr<Loss> make_loss(const Config& config, std::shared_ptr<sdes::Sde> sde);

}  // namespace scorch::trainer
