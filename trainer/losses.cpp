// The three score_sde objectives and the config-driven choice between them.
#include "trainer/losses.h"

#include "core/config.h"
#include "core/error.h"
#include "core/sdes/ve_sde.h"
#include "core/sdes/vp_sde.h"
#include "trainer/classifier_loss.h"
#include "trainer/ssm_loss.h"

namespace scorch::trainer {

namespace {

// Mean over pixels, or half the sum (the reference's two reductions), of (B, ...) -> (B,).
torch::Tensor reduce(const torch::Tensor& per_pixel, bool reduce_mean) {
  auto flat = per_pixel.flatten(1);
  return reduce_mean ? flat.mean(1) : 0.5 * flat.sum(1);
}

torch::Tensor bcast(const torch::Tensor& v) { return v.view({-1, 1, 1, 1}); }

}  // namespace

DsmLoss::DsmLoss(std::shared_ptr<sdes::Sde> sde, bool reduce_mean, bool likelihood_weighting, double eps)
    : sde_(std::move(sde)), reduce_mean_(reduce_mean), likelihood_weighting_(likelihood_weighting), eps_(eps) {
  SCORCH_CHECK(eps > 0 && eps < sde_->T(), "training.eps must lie in (0, T), got {}", eps);
}

torch::Tensor DsmLoss::per_example(const sdes::ModelFn& model, const torch::Tensor& batch, LossNoise& noise) const {
  const auto opts = batch.options();
  auto score_fn = sdes::make_score_fn(sde_, model, /*continuous=*/true);
  auto t = noise.uniform(batch.size(0), opts) * (sde_->T() - eps_) + eps_;  // (B,)
  auto z = noise.normal(batch.sizes(), opts);                               // (B, C, H, W)
  auto [mean, std] = sde_->marginal_prob(batch, t);
  auto score = score_fn(mean + bcast(std) * z, t);
  if (!likelihood_weighting_) return reduce((score * bcast(std) + z).square(), reduce_mean_);
  auto g2 = sde_->sde(torch::zeros_like(batch), t).diffusion.square();
  return reduce((score + z / bcast(std)).square(), reduce_mean_) * g2;
}

SmldLoss::SmldLoss(std::shared_ptr<sdes::Sde> sde, bool reduce_mean, double anneal_power)
    : sde_(std::move(sde)), reduce_mean_(reduce_mean), anneal_power_(anneal_power) {
  SCORCH_CHECK(sde_->kind() == sdes::SdeKind::VE, "SMLD (discrete VE) training needs training.sde=vesde, got {}",
               sdes::sde_name(sde_->kind()));
}

torch::Tensor SmldLoss::per_example(const sdes::ModelFn& model, const torch::Tensor& batch, LossNoise& noise) const {
  const auto& ve = static_cast<const sdes::VESDE&>(*sde_);
  auto labels = noise.labels(batch.size(0), ve.N(), batch.device());  // (B,)
  // Label 0 is sigma_max: the discrete models index a descending table.
  auto sigmas = ve.discrete_sigmas().flip(0).to(batch.device()).index({labels}).to(batch.dtype());
  auto perturbation = noise.normal(batch.sizes(), batch.options()) * bcast(sigmas);
  auto score = model(batch + perturbation, labels);
  auto target = -perturbation / bcast(sigmas.square());
  return reduce((score - target).square(), reduce_mean_) * sigmas.pow(anneal_power_);
}

DdpmLoss::DdpmLoss(std::shared_ptr<sdes::Sde> sde, bool reduce_mean) : sde_(std::move(sde)), reduce_mean_(reduce_mean) {
  SCORCH_CHECK(sde_->kind() == sdes::SdeKind::VP, "DDPM (discrete VP) training needs training.sde=vpsde, got {}",
               sdes::sde_name(sde_->kind()));
}

torch::Tensor DdpmLoss::per_example(const sdes::ModelFn& model, const torch::Tensor& batch, LossNoise& noise) const {
  const auto& vp = static_cast<const sdes::VPSDE&>(*sde_);
  auto labels = noise.labels(batch.size(0), vp.N(), batch.device());  // (B,)
  auto a = vp.sqrt_alphas_cumprod().to(batch.device()).index({labels}).to(batch.dtype());
  auto s = vp.sqrt_1m_alphas_cumprod().to(batch.device()).index({labels}).to(batch.dtype());
  auto z = noise.normal(batch.sizes(), batch.options());
  auto out = model(bcast(a) * batch + bcast(s) * z, labels);
  return reduce((out - z).square(), reduce_mean_);
}

std::unique_ptr<Loss> make_loss(const Config& config, std::shared_ptr<sdes::Sde> sde) {
  const bool reduce_mean = config.get_bool("training.reduce_mean");
  const bool weighting = config.get_bool("training.likelihood_weighting");
  const double anneal_power = config.get_float("training.anneal_power");
  const bool smld = !config.get_bool("training.continuous") && sde->kind() == sdes::SdeKind::VE;
  SCORCH_CHECK_HINT(smld || anneal_power == 2.0,
                    "remove training.anneal_power, or train discrete VE (training.continuous: false, sde: vesde)",
                    "training.anneal_power = {} (from {}) weights only the discrete VE losses (SMLD, annealed SSM), "
                    "but this run trains {} "
                    "with training.continuous = {}",
                    anneal_power, config.source_of("training.anneal_power"), sdes::sde_name(sde->kind()),
                    config.get_bool("training.continuous"));
  const std::string task = config.get_string("training.task"), model = config.get_string("model.name");
  SCORCH_CHECK(task == "score" || task == "classifier", "training.task = '{}' (from {}): expected score or classifier",
               task, config.source_of("training.task"));
  const bool classifier_net = model == "wideresnet_noise_conditional";
  SCORCH_CHECK_HINT((task == "classifier") == classifier_net,
                    classifier_net ? "set training.task: classifier" : "set model.name: wideresnet_noise_conditional",
                    "training.task = {} (from {}) with model.name = {} (from {}): the classifier network trains only "
                    "as the classifier task, and the classifier task only trains it",
                    task, config.source_of("training.task"), model, config.source_of("model.name"));
  if (task == "classifier") {
    SCORCH_CHECK_HINT(config.get_bool("training.continuous"), "set training.continuous: true",
                      "training.task = classifier samples continuous times, as the continuous score loss");
    SCORCH_CHECK_HINT(config.get_string("training.loss") == "dsm", "remove training.loss",
                      "training.loss = {} (from {}) is a score model's objective; the classifier trains on "
                      "cross-entropy",
                      config.get_string("training.loss"), config.source_of("training.loss"));
    return std::make_unique<ClassifierLoss>(std::move(sde), config.get_float("training.eps"));
  }
  const std::string loss = config.get_string("training.loss");
  SCORCH_CHECK(loss == "dsm" || loss == "ssm" || loss == "ssm_vr",
               "training.loss = '{}' (from {}): expected dsm, ssm or ssm_vr", loss, config.source_of("training.loss"));
  if (loss != "dsm") {
    SCORCH_CHECK_HINT(config.get_bool("training.continuous") || smld,
                      "set training.continuous: true, or train discrete VE (training.sde: vesde)",
                      "training.loss = {} needs continuous training or the discrete VE levels (NCSN's annealed form); "
                      "this run trains {} with training.continuous = false",
                      loss, sdes::sde_name(sde->kind()));
    // Each recomputes or fuses the backward with kernels that have no second derivative.
    // model.fused_group_norm's auto stays off here (ModelConfig::from); only an explicit true is refused.
    for (const char* key : {"model.grad_checkpointing", "model.fused_attention", "model.fused_group_norm"}) {
      const bool on =
          std::string(key) == "model.fused_group_norm" ? config.get_switch(key) == Switch::On : config.get_bool(key);
      SCORCH_CHECK_HINT(!on, fmt::format("set {}: false", key),
                        "training.loss = {} takes a double backward, which {} = true does not support", loss, key);
    }
    const std::string projections = config.get_string("training.ssm_projections");
    SCORCH_CHECK(projections == "rademacher" || projections == "gaussian",
                 "training.ssm_projections = '{}' (from {}): expected rademacher or gaussian", projections,
                 config.source_of("training.ssm_projections"));
    const auto projection = projections == "rademacher" ? SsmProjection::Rademacher : SsmProjection::Gaussian;
    if (smld) {
      SCORCH_CHECK_HINT(!weighting, "set training.likelihood_weighting: false or training.continuous: true",
                        "training.likelihood_weighting needs continuous training (the discrete levels have no g(t))");
      return std::make_unique<AnnealedSsmLoss>(std::move(sde), loss == "ssm_vr", projection, reduce_mean, anneal_power);
    }
    return std::make_unique<SsmLoss>(std::move(sde), loss == "ssm_vr", projection, reduce_mean, weighting,
                                     config.get_float("training.eps"));
  }
  if (config.get_bool("training.continuous"))
    return std::make_unique<DsmLoss>(std::move(sde), reduce_mean, weighting, config.get_float("training.eps"));
  SCORCH_CHECK_HINT(!weighting, "set training.likelihood_weighting: false or training.continuous: true",
                    "training.likelihood_weighting needs continuous training (the SMLD/DDPM losses have no g(t))");
  switch (sde->kind()) {
    case sdes::SdeKind::VE: return std::make_unique<SmldLoss>(std::move(sde), reduce_mean, anneal_power);
    case sdes::SdeKind::VP: return std::make_unique<DdpmLoss>(std::move(sde), reduce_mean);
    case sdes::SdeKind::SubVP: break;
  }
  SCORCH_FAIL(
      "training.sde=subvpsde with training.continuous=false: the sub-VP SDE has no discrete training "
      "objective; set training.continuous: true");
}

}  // namespace scorch::trainer
