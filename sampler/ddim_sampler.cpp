// DdimSampler: the DDIM update on the model's x_0 prediction, deterministic or with eta-scaled fresh noise.
#include "sampler/ddim_sampler.h"

#include <cmath>

#include "core/error.h"
#include "core/sdes/sde.h"
#include "sampler/time_steps.h"

namespace scorch::sampler {

DdimSampler::DdimSampler(const NoiseSchedule& schedule, DataPrediction& model, DdimOptions options)
    : schedule_(schedule), model_(model), o_(std::move(options)) {
  SCORCH_CHECK(o_.eta >= 0 && o_.eta <= 1, "sampling.ddim_eta must lie in [0, 1], got {}", o_.eta);
}

torch::Tensor DdimSampler::run(const torch::Tensor& x_T, double t_T, double t_0, int64_t steps, torch::Generator& gen) {
  return run(x_T, time_steps(schedule_, o_.spacing, t_T, t_0, steps), gen);
}

torch::Tensor DdimSampler::run(const torch::Tensor& x_T, const std::vector<double>& t, torch::Generator& gen) {
  SCORCH_CHECK(!t.empty(), "internal: DDIM on an empty time grid");
  auto x = x_T;
  for (size_t i = 0; i + 1 < t.size(); ++i) {
    const double a_s = schedule_.alpha(t[i]), sig_s = schedule_.sigma(t[i]);
    const double a_t = schedule_.alpha(t[i + 1]), sig_t = schedule_.sigma(t[i + 1]);
    const auto x0 = model_(x, t[i]);
    const auto eps = (x - a_s * x0) / sig_s;
    const double ratio = (sig_t / a_t) / (sig_s / a_s);
    const double c = o_.eta * sig_t * std::sqrt(std::max(1 - ratio * ratio, 0.0));
    x = a_t * x0 + std::sqrt(sig_t * sig_t - c * c) * eps;
    if (c > 0) x = x + c * sdes::randn_with(x.sizes(), gen, x.options());
  }
  return o_.denoise_to_zero ? model_(x, t.back()) : x;
}

}  // namespace scorch::sampler
