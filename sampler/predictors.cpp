// The four predictors: Euler-Maruyama, reverse diffusion (the reversed forward chain), ancestral sampling
// (SMLD / DDPM posteriors), none.
#include "sampler/predictors.h"

#include <cmath>

#include "core/error.h"
#include "core/sdes/ve_sde.h"
#include "core/sdes/vp_sde.h"

namespace scorch::sampler {

namespace {

torch::Tensor noise_like(const torch::Tensor& x, torch::Generator& gen) {
  return sdes::randn_with(x.sizes(), gen, x.options());
}

// x <- x + drift dt + g sqrt(-dt) z with dt = -1/N: the reverse SDE (or ODE) integrated by Euler-Maruyama.
class EulerMaruyama : public Predictor {
 public:
  EulerMaruyama(std::shared_ptr<sdes::Sde> sde, sdes::ScoreFn score, bool pf)
      : rsde_(std::move(sde), std::move(score), pf) {}
  Update update(const torch::Tensor& x, const torch::Tensor& t, torch::Generator& gen) override {
    const double dt = -1.0 / static_cast<double>(rsde_.N());
    auto dd = rsde_.sde(x, t);
    auto x_mean = x + dd.drift * dt;
    // The ODE adds no noise, and drawing none keeps the generator's stream for what follows.
    if (rsde_.probability_flow()) return {x_mean, x_mean};
    return {x_mean + sdes::per_sample(dd.diffusion) * std::sqrt(-dt) * noise_like(x, gen), x_mean};
  }

 private:
  sdes::ReverseSde rsde_;
};

// x <- x - f + G z with (f, G) the reversed discrete forward chain (SMLD for VE, DDPM for VP, EM for sub-VP).
class ReverseDiffusion : public Predictor {
 public:
  ReverseDiffusion(std::shared_ptr<sdes::Sde> sde, sdes::ScoreFn score, bool pf)
      : rsde_(std::move(sde), std::move(score), pf) {}
  Update update(const torch::Tensor& x, const torch::Tensor& t, torch::Generator& gen) override {
    auto fg = rsde_.discretize(x, t);
    auto x_mean = x - fg.drift;
    if (rsde_.probability_flow()) return {x_mean, x_mean};
    return {x_mean + sdes::per_sample(fg.diffusion) * noise_like(x, gen), x_mean};
  }

 private:
  sdes::ReverseSde rsde_;
};

// Samples the SMLD / DDPM posterior p(x_{i-1} | x_i) with the score in place of the unknown x_0.
class Ancestral : public Predictor {
 public:
  Ancestral(std::shared_ptr<sdes::Sde> sde, sdes::ScoreFn score) : sde_(std::move(sde)), score_(std::move(score)) {}
  Update update(const torch::Tensor& x, const torch::Tensor& t, torch::Generator& gen) override {
    auto i = discrete_index(*sde_, t);
    auto score = score_(x, t);
    if (sde_->kind() == sdes::SdeKind::VE) {
      const auto table = static_cast<const sdes::VESDE&>(*sde_).discrete_sigmas().to(t.device());
      auto sigma = table.index({i}).to(t.dtype());
      auto prev = torch::where(i == 0, torch::zeros_like(t), table.index({(i - 1).clamp_min(0)}).to(t.dtype()));
      auto var_step = sigma.square() - prev.square();  // (B,)
      auto x_mean = x + score * sdes::per_sample(var_step);
      auto std = (prev.square() * var_step / sigma.square()).sqrt();
      return {x_mean + sdes::per_sample(std) * noise_like(x, gen), x_mean};
    }
    const auto& vp = static_cast<const sdes::VPSDE&>(*sde_);
    auto beta = vp.discrete_betas().to(t.device()).index({i}).to(t.dtype());  // (B,)
    auto x_mean = (x + sdes::per_sample(beta) * score) / sdes::per_sample((1.0 - beta).sqrt());
    return {x_mean + sdes::per_sample(beta.sqrt()) * noise_like(x, gen), x_mean};
  }

 private:
  std::shared_ptr<sdes::Sde> sde_;
  sdes::ScoreFn score_;
};

class NonePredictor : public Predictor {
 public:
  Update update(const torch::Tensor& x, const torch::Tensor&, torch::Generator&) override { return {x, x}; }
};

}  // namespace

torch::Tensor discrete_index(const sdes::Sde& sde, const torch::Tensor& t) {
  return (t * static_cast<double>(sde.N() - 1) / sde.T()).to(torch::kLong);
}

std::unique_ptr<Predictor> make_predictor(const std::string& name, std::shared_ptr<sdes::Sde> sde, sdes::ScoreFn score,
                                          bool probability_flow) {
  SCORCH_CHECK(sde != nullptr, "make_predictor needs an SDE");
  if (name == "none") return std::make_unique<NonePredictor>();
  if (name == "euler_maruyama")
    return std::make_unique<EulerMaruyama>(std::move(sde), std::move(score), probability_flow);
  if (name == "reverse_diffusion")
    return std::make_unique<ReverseDiffusion>(std::move(sde), std::move(score), probability_flow);
  if (name == "ancestral_sampling") {
    SCORCH_CHECK_HINT(!probability_flow, "use predictor reverse_diffusion or euler_maruyama with probability_flow",
                      "sampling.predictor=ancestral_sampling with sampling.probability_flow=true: ancestral sampling "
                      "draws from the discrete posterior and has no probability-flow form");
    SCORCH_CHECK_HINT(sde->kind() != sdes::SdeKind::SubVP,
                      "use predictor euler_maruyama or reverse_diffusion for sub-VP",
                      "sampling.predictor=ancestral_sampling with training.sde=subvpsde: ancestral sampling needs "
                      "the SMLD (VE) or DDPM (VP) chain, and the sub-VP SDE has neither");
    return std::make_unique<Ancestral>(std::move(sde), std::move(score));
  }
  SCORCH_FAIL(
      "sampling.predictor: unknown predictor '{}' (expected euler_maruyama, reverse_diffusion, "
      "ancestral_sampling or none)",
      name);
}

}  // namespace scorch::sampler
