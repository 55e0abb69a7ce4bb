// Sliced score matching (ssm_loss.h): the trace term by a double backward, so one step costs a forward, a
// backward that keeps its graph, and a backward through both.
#include "trainer/ssm_loss.h"

#include "core/error.h"
#include "core/sdes/ve_sde.h"

namespace scorch::trainer {

std::pair<torch::Tensor, torch::Tensor> sliced_terms(const sdes::ScoreFn& score, const torch::Tensor& x,
                                                     const torch::Tensor& t, const torch::Tensor& v,
                                                     bool variance_reduced) {
  SCORCH_CHECK(x.requires_grad(), "sliced score matching: x must require grad");
  const auto s = score(x, t);                                                 // (B, C, H, W)
  const auto sv = (s * v).flatten(1).sum(1);                                  // (B,) v^T s
  const auto jv = torch::autograd::grad({sv.sum()}, {x}, {}, true, true)[0];  // (B, C, H, W) (grad s)^T v
  const auto trace = (jv * v).flatten(1).sum(1);                              // (B,) v^T (grad s) v
  const auto square = variance_reduced ? 0.5 * s.square().flatten(1).sum(1) : 0.5 * sv.square();
  return {trace, square};
}

SsmLoss::SsmLoss(std::shared_ptr<sdes::Sde> sde, bool variance_reduced, SsmProjection projection, bool reduce_mean,
                 bool likelihood_weighting, double eps)
    : sde_(std::move(sde)),
      variance_reduced_(variance_reduced),
      projection_(projection),
      reduce_mean_(reduce_mean),
      likelihood_weighting_(likelihood_weighting),
      eps_(eps) {
  SCORCH_CHECK(eps > 0 && eps < sde_->T(), "training.eps must lie in (0, T), got {}", eps);
}

torch::Tensor SsmLoss::per_example(const sdes::ModelFn& model, const torch::Tensor& batch, LossNoise& noise) const {
  const auto opts = batch.options();
  const auto score_fn = sdes::make_score_fn(sde_, model, /*continuous=*/true);
  const auto t = noise.uniform(batch.size(0), opts) * (sde_->T() - eps_) + eps_;  // (B,)
  const auto z = noise.normal(batch.sizes(), opts);                               // (B, C, H, W)
  auto v = noise.normal(batch.sizes(), opts);                                     // (B, C, H, W)
  if (projection_ == SsmProjection::Rademacher) v = v.sign();
  // Evaluation runs under NoGradGuard; the trace term needs a gradient even there.
  torch::AutoGradMode on(true);
  const auto [mean, std] = sde_->marginal_prob(batch, t);
  const auto x = (mean + std.view({-1, 1, 1, 1}) * z).detach().requires_grad_(true);
  const auto [trace, square] = sliced_terms(score_fn, x, t, v, variance_reduced_);
  const auto weight = likelihood_weighting_ ? sde_->sde(torch::zeros_like(batch), t).diffusion.square() : std.square();
  const double scale = reduce_mean_ ? 2.0 / static_cast<double>(batch[0].numel()) : 1.0;
  return (trace + square) * weight * scale;
}

AnnealedSsmLoss::AnnealedSsmLoss(std::shared_ptr<sdes::Sde> sde, bool variance_reduced, SsmProjection projection,
                                 bool reduce_mean, double anneal_power)
    : sde_(std::move(sde)),
      variance_reduced_(variance_reduced),
      projection_(projection),
      reduce_mean_(reduce_mean),
      anneal_power_(anneal_power) {
  SCORCH_CHECK(sde_->kind() == sdes::SdeKind::VE,
               "annealed sliced score matching (discrete) needs training.sde=vesde, got {}",
               sdes::sde_name(sde_->kind()));
}

torch::Tensor AnnealedSsmLoss::per_example(const sdes::ModelFn& model, const torch::Tensor& batch,
                                           LossNoise& noise) const {
  const auto& ve = static_cast<const sdes::VESDE&>(*sde_);
  const auto opts = batch.options();
  // Drawn in SmldLoss's order (labels, then z), so the two pair example by example on one stream.
  const auto labels = noise.labels(batch.size(0), ve.N(), batch.device());                                // (B,)
  const auto sigmas = ve.discrete_sigmas().flip(0).to(batch.device()).index({labels}).to(batch.dtype());  // (B,)
  const auto z = noise.normal(batch.sizes(), opts);  // (B, C, H, W)
  auto v = noise.normal(batch.sizes(), opts);        // (B, C, H, W)
  if (projection_ == SsmProjection::Rademacher) v = v.sign();
  torch::AutoGradMode on(true);
  const auto x = (batch + sigmas.view({-1, 1, 1, 1}) * z).detach().requires_grad_(true);
  const sdes::ScoreFn score = [&](const torch::Tensor& xt, const torch::Tensor& l) { return model(xt, l); };
  const auto [trace, square] = sliced_terms(score, x, labels, v, variance_reduced_);
  const double scale = reduce_mean_ ? 2.0 / static_cast<double>(batch[0].numel()) : 1.0;
  return (trace + square) * sigmas.pow(anneal_power_) * scale;
}

}  // namespace scorch::trainer
