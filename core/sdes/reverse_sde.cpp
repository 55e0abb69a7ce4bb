// ReverseSde: reverse-time drift/diffusion and the reversed discrete chains.
#include "core/sdes/reverse_sde.h"

#include "core/error.h"

namespace scorch::sdes {

ReverseSde::ReverseSde(std::shared_ptr<Sde> sde, ScoreFn score_fn, bool probability_flow)
    : sde_(std::move(sde)), score_fn_(std::move(score_fn)), probability_flow_(probability_flow) {
  SCORCH_CHECK(sde_ != nullptr && score_fn_, "ReverseSde needs an SDE and a score function");
}

DriftDiffusion ReverseSde::sde(const torch::Tensor& x, const torch::Tensor& t) const {
  auto dd = sde_->sde(x, t);
  const double weight = probability_flow_ ? 0.5 : 1.0;
  auto drift = dd.drift - dd.diffusion.square().view({-1, 1, 1, 1}) * score_fn_(x, t) * weight;
  auto diffusion = probability_flow_ ? torch::zeros_like(dd.diffusion) : dd.diffusion;
  return {drift, diffusion};
}

DriftDiffusion ReverseSde::discretize(const torch::Tensor& x, const torch::Tensor& t) const {
  auto fg = sde_->discretize(x, t);
  const double weight = probability_flow_ ? 0.5 : 1.0;
  auto f = fg.drift - fg.diffusion.square().view({-1, 1, 1, 1}) * score_fn_(x, t) * weight;
  auto g = probability_flow_ ? torch::zeros_like(fg.diffusion) : fg.diffusion;
  return {f, g};
}

}  // namespace scorch::sdes
