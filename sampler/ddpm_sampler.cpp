// DdpmSampler: DDPM's ancestral step with the larger variance on any grid, around the clipped x_0 prediction.
#include "sampler/ddpm_sampler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/sdes/sde.h"

namespace scorch::sampler {

DdpmSampler::DdpmSampler(const NoiseSchedule& schedule, DataPrediction& model, DdpmOptions options)
    : schedule_(schedule), model_(model), o_(options) {
  SCORCH_CHECK(o_.clip_lo < o_.clip_hi, "internal: ddpm clip range [{}, {}]", o_.clip_lo, o_.clip_hi);
}

torch::Tensor DdpmSampler::x0(const torch::Tensor& x, double t) { return model_(x, t).clamp(o_.clip_lo, o_.clip_hi); }

torch::Tensor DdpmSampler::run(const torch::Tensor& x_T, const std::vector<double>& t, torch::Generator& gen) {
  SCORCH_CHECK(!t.empty(), "internal: DDPM on an empty time grid");
  auto x = x_T;  // (B, C, H, W)
  for (size_t i = 0; i + 1 < t.size(); ++i) {
    SCORCH_CHECK(t[i + 1] < t[i], "internal: DDPM steps down in time, got {} after {}", t[i + 1], t[i]);
    const double a_s = schedule_.alpha(t[i]), sig_s = schedule_.sigma(t[i]);
    const double a_t = schedule_.alpha(t[i + 1]), sig_t = schedule_.sigma(t[i + 1]);
    const double a_st = a_s / a_t;
    // Positive while the noise-to-signal ratio falls from s to t; max() keeps rounding from making it negative.
    const double var = std::max(sig_s * sig_s - a_st * a_st * sig_t * sig_t, 0.0);
    const auto mean = (a_t * var / (sig_s * sig_s)) * x0(x, t[i]) + (a_st * sig_t * sig_t / (sig_s * sig_s)) * x;
    x = mean + std::sqrt(var) * sdes::randn_with(x.sizes(), gen, x.options());
  }
  return o_.denoise_to_zero ? x0(x, t.back()) : x;
}

}  // namespace scorch::sampler
