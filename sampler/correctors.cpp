// Langevin and annealed Langevin (ALD) correctors, and the identity.
#include "sampler/correctors.h"

#include "core/error.h"
#include "core/sdes/subvp_sde.h"
#include "core/sdes/vp_sde.h"

namespace scorch::sampler {

namespace {

// Batch mean of the per-example L2 norms, a 0-d tensor.
torch::Tensor mean_norm(const torch::Tensor& v) { return v.flatten(1).norm(2, 1).mean(); }

class Langevin : public Corrector {
 public:
  Langevin(std::shared_ptr<sdes::Sde> sde, sdes::ScoreFn score, double snr, int64_t n, bool annealed)
      : sde_(std::move(sde)),
        score_(std::move(score)),
        snr_(snr),
        n_(n),
        annealed_(annealed),
        alphas_(corrector_alphas(*sde_)) {}

  Update update(const torch::Tensor& x0, const torch::Tensor& t, torch::Generator& gen) override {
    torch::Tensor alpha;  // (B,)
    if (alphas_.defined()) {
      // Moved once, by the first (eager) call: a copy from the host cannot be captured in a CUDA graph.
      if (alphas_.device() != t.device()) alphas_ = alphas_.to(t.device());
      alpha = alphas_.index({discrete_index(*sde_, t)}).to(t.dtype());
    } else {
      alpha = torch::ones_like(t);
    }
    torch::Tensor step_ald;
    if (annealed_) {
      auto std = sde_->marginal_prob(x0, t).std;
      step_ald = (snr_ * std).square() * 2.0 * alpha;
    }
    torch::Tensor x = x0, x_mean = x0;
    for (int64_t k = 0; k < n_; ++k) {
      auto grad = score_(x, t);
      auto noise = sdes::randn_with(x.sizes(), gen, x.options());
      torch::Tensor step;  // (B,)
      if (annealed_) {
        step = step_ald;
      } else {
        step = (snr_ * mean_norm(noise) / mean_norm(grad)).square() * 2.0 * alpha;
      }
      x_mean = x + sdes::per_sample(step) * grad;
      x = x_mean + sdes::per_sample((step * 2.0).sqrt()) * noise;
    }
    return {x, x_mean};
  }

 private:
  std::shared_ptr<sdes::Sde> sde_;
  sdes::ScoreFn score_;
  double snr_;
  int64_t n_;
  bool annealed_;
  torch::Tensor alphas_;  // (N,) float32; undefined for VE
};

class NoneCorrector : public Corrector {
 public:
  Update update(const torch::Tensor& x, const torch::Tensor&, torch::Generator&) override { return {x, x}; }
};

}  // namespace

torch::Tensor corrector_alphas(const sdes::Sde& sde) {
  if (sde.kind() == sdes::SdeKind::VE) return {};
  if (sde.kind() == sdes::SdeKind::VP) return static_cast<const sdes::VPSDE&>(sde).alphas();
  // Sub-VP: the DDPM table of the same linear beta(t), built as VPSDE builds it (float32).
  const auto& sub = static_cast<const sdes::SubVPSDE&>(sde);
  const double n = static_cast<double>(sde.N());
  return 1.0 - torch::linspace(sub.beta_min() / n, sub.beta_max() / n, sde.N(), torch::kFloat32);
}

std::unique_ptr<Corrector> make_corrector(const std::string& name, std::shared_ptr<sdes::Sde> sde, sdes::ScoreFn score,
                                          double snr, int64_t n_steps) {
  SCORCH_CHECK(sde != nullptr, "make_corrector needs an SDE");
  SCORCH_CHECK(n_steps >= 1, "sampling.n_steps_each must be at least 1, got {}", n_steps);
  if (name == "none") return std::make_unique<NoneCorrector>();
  if (name == "langevin") return std::make_unique<Langevin>(std::move(sde), std::move(score), snr, n_steps, false);
  if (name == "ald") return std::make_unique<Langevin>(std::move(sde), std::move(score), snr, n_steps, true);
  SCORCH_FAIL("sampling.corrector: unknown corrector '{}' (expected langevin, ald or none)", name);
}

}  // namespace scorch::sampler
