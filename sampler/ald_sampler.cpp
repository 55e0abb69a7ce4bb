// The originals' loop, not score_sde's `ald` corrector: that one starts from the Gaussian prior, sizes its
// steps from a rounded snr and t_i slightly above the ladder, and never denoises (docs/sampling.md).
#include "sampler/ald_sampler.h"

#include <fmt/ranges.h>

#include "core/error.h"

namespace scorch::sampler {

AldSampler::AldSampler(sdes::ModelFn model, torch::Tensor sigmas, const SamplingOptions& o)
    : model_(std::move(model)), sigmas_(sigmas.to(torch::kCPU, torch::kFloat64).contiguous()), o_(o) {
  SCORCH_CHECK(sigmas_.dim() == 1 && sigmas_.size(0) >= 1, "ALD needs a ladder of noise levels, got shape [{}]",
               fmt::join(sigmas_.sizes(), ", "));
  SCORCH_CHECK(o.step_lr > 0, "sampling.step_lr must be positive, got {}", o.step_lr);
}

torch::Tensor AldSampler::run(torch::Tensor x, const Noise& noise) {
  const int64_t levels = sigmas_.size(0), batch = x.size(0);
  const auto* sigma = sigmas_.data_ptr<double>();
  const auto labels = [&](int64_t i) { return torch::full({batch}, static_cast<double>(i), x.options()); };
  nfe_ = 0;
  for (int64_t i = 0; i < levels; ++i) {
    // The originals compute the step in float32 from float32 levels; so does this.
    const float ratio = static_cast<float>(sigma[i]) / static_cast<float>(sigma[levels - 1]);
    const float step = static_cast<float>(o_.step_lr) * (ratio * ratio);
    const double noise_scale = std::sqrt(static_cast<double>(step) * 2.0);
    for (int64_t k = 0; k < o_.n_steps_each; ++k) {
      const auto grad = model_(x, labels(i));  // (B, C, H, W)
      ++nfe_;
      x = x + static_cast<double>(step) * grad + noise(x) * noise_scale;
    }
  }
  if (o_.noise_removal) {
    const double last = sigma[levels - 1];
    x = x + last * last * model_(x, labels(levels - 1));
    ++nfe_;
  }
  return x;
}

}  // namespace scorch::sampler
