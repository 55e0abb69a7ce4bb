// EdmSampler: EDM's deterministic Heun steps, and its stochastic churn, on the model's x_0 prediction.
#include "sampler/edm_sampler.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/sdes/sde.h"
#include "sampler/time_steps.h"

namespace scorch::sampler {

EdmSampler::EdmSampler(const NoiseSchedule& schedule, DataPrediction& model, EdmOptions options)
    : schedule_(schedule), model_(model), o_(std::move(options)) {
  SCORCH_CHECK(o_.solver == "heun" || o_.solver == "euler",
               "sampling.edm_solver: unknown value '{}' (expected one of: heun, euler)", o_.solver);
  SCORCH_CHECK(o_.churn >= 0 && o_.s_noise > 0, "sampling.edm_churn must be >= 0 and sampling.edm_s_noise > 0");
}

torch::Tensor EdmSampler::run(const torch::Tensor& x_T, double t_T, double t_0, int64_t levels, torch::Generator& gen) {
  SCORCH_CHECK(levels >= 2, "sampling.steps must be at least 2 for edm (noise levels, the last one then 0), got {}",
               levels);
  auto t = time_steps(schedule_, o_.spacing, t_T, t_0, levels - 1, o_.rho);
  std::vector<double> sig;  // sigma~ per level, then 0
  for (double ti : t) sig.push_back(schedule_.edm_sigma(ti));
  sig.push_back(0.0);
  // D(x~; sigma~) evaluated where the network lives: x_t = alpha_t x~ at the time of that level.
  auto denoise = [&](const torch::Tensor& xs, double ti) { return model_(schedule_.alpha(ti) * xs, ti); };
  const double gamma_max = std::min(o_.churn / static_cast<double>(levels), std::sqrt(2.0) - 1);
  auto x = x_T / schedule_.alpha(t_T);  // (B, C, H, W) at sigma~(t_T)
  for (int64_t i = 0; i < levels; ++i) {
    double t_hat = t[i], s_hat = sig[i];
    if (gamma_max > 0 && sig[i] >= o_.s_min && sig[i] <= o_.s_max) {
      // Churn: raise the noise to sigma~ (1 + gamma) by adding fresh noise, no further than the model's T.
      s_hat = std::min(sig[i] * (1 + gamma_max), schedule_.edm_sigma(t_T));
      t_hat = schedule_.t_of_edm_sigma(s_hat);
      s_hat = schedule_.edm_sigma(t_hat);
      const double add = std::sqrt(std::max(s_hat * s_hat - sig[i] * sig[i], 0.0)) * o_.s_noise;
      x = x + add * sdes::randn_with(x.sizes(), gen, x.options());
    }
    const double s_next = sig[i + 1];
    const auto d = (x - denoise(x, t_hat)) / s_hat;  // dx~/dsigma~
    auto x_next = x + (s_next - s_hat) * d;
    if (o_.solver == "heun" && i + 1 < levels) {
      const auto d_next = (x_next - denoise(x_next, t[i + 1])) / s_next;
      x_next = x + (s_next - s_hat) * 0.5 * (d + d_next);
    }
    x = x_next;
  }
  return x;
}

}  // namespace scorch::sampler
