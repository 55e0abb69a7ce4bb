// Cross-entropy of the noise-conditional classifier on perturbed data, and its accuracy per noise band.
#include "trainer/classifier_loss.h"

#include "core/error.h"
#include "core/sdes/sde.h"

namespace scorch::trainer {

namespace {

torch::Tensor per_sample(const torch::Tensor& v) { return v.view({-1, 1, 1, 1}); }

}  // namespace

ClassifierLoss::ClassifierLoss(std::shared_ptr<sdes::Sde> sde, double eps) : sde_(std::move(sde)), eps_(eps) {}

torch::Tensor ClassifierLoss::per_example(const sdes::ModelFn&, const torch::Tensor&, LossNoise&) const {
  SCORCH_FAIL("training.task = classifier needs the labels of the examples (a dataset with labels)");
}

torch::Tensor ClassifierLoss::per_example(const sdes::ModelFn& model, const torch::Tensor& batch,
                                          const torch::Tensor& labels, LossNoise& noise) const {
  SCORCH_CHECK(labels.defined() && labels.size(0) == batch.size(0), "classifier loss: {} labels for {} examples",
               labels.defined() ? labels.size(0) : 0, batch.size(0));
  auto t = noise.uniform(batch.size(0), batch.options()) * (1.0 - eps_) + eps_;  // (B,)
  auto z = noise.normal(batch.sizes(), batch.options());                         // (B, C, H, W)
  auto m = sde_->marginal_prob(batch, t);
  auto logits = model(m.mean + per_sample(m.std) * z, m.std).to(torch::kFloat32);  // (B, K)
  return torch::nn::functional::cross_entropy(logits, labels,
                                              torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
}

std::pair<torch::Tensor, torch::Tensor> ClassifierLoss::band_accuracy(const sdes::ModelFn& model,
                                                                      const torch::Tensor& batch,
                                                                      const torch::Tensor& labels, LossNoise& noise,
                                                                      int64_t bands) const {
  const int64_t n = batch.size(0);
  const auto band = torch::arange(n, torch::TensorOptions(torch::kLong).device(batch.device())) % bands;  // (B,)
  const double width = (1.0 - eps_) / static_cast<double>(bands);
  auto t = eps_ + (band.to(batch.dtype()) + noise.uniform(n, batch.options())) * width;  // (B,)
  auto z = noise.normal(batch.sizes(), batch.options());
  auto m = sde_->marginal_prob(batch, t);
  auto right = (model(m.mean + per_sample(m.std) * z, m.std).argmax(1) == labels).to(torch::kFloat64);  // (B,)
  auto onehot = torch::one_hot(band, bands).to(torch::kFloat64);                                        // (B, bands)
  return {(onehot * right.unsqueeze(1)).sum(0), onehot.sum(0)};
}

std::pair<double, double> ClassifierLoss::band_sigmas(int64_t b, int64_t bands) const {
  const double width = (1.0 - eps_) / static_cast<double>(bands);
  auto t = torch::tensor({eps_ + b * width, eps_ + (b + 1) * width}, torch::kFloat64);
  auto s = sde_->marginal_prob(torch::zeros({2, 1, 1, 1}, torch::kFloat64), t).std;
  return {s[0].item<double>(), s[1].item<double>()};
}

}  // namespace scorch::trainer
