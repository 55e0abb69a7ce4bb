// PcSampler: the reference's get_pc_sampler loop, with NFE counted rather than assumed.
#include "sampler/pc_sampler.h"

#include <algorithm>

#include "core/error.h"

namespace scorch::sampler {

CountedScore count_calls(sdes::ScoreFn score) {
  auto calls = std::make_shared<int64_t>(0);
  return {[score = std::move(score), calls](const torch::Tensor& x, const torch::Tensor& t) {
            ++*calls;
            return score(x, t);
          },
          calls};
}

PcSampler::PcSampler(std::shared_ptr<sdes::Sde> sde, sdes::ScoreFn score, const SamplingOptions& o)
    : sde_(std::move(sde)), score_(count_calls(std::move(score))), denoise_(o.noise_removal), eps_(o.eps) {
  predictor_ = make_predictor(o.predictor, sde_, score_.fn, o.probability_flow);
  corrector_ = make_corrector(o.corrector, sde_, score_.fn, o.snr, o.n_steps_each);
}

torch::Tensor PcSampler::run(torch::Tensor x, torch::Generator& gen, const Projection& project) {
  SCORCH_CHECK(x.dim() == 4, "PcSampler::run expects (B, C, H, W), got {}", c10::str(x.sizes()));
  torch::NoGradGuard no_grad;
  *score_.calls = 0;
  const int64_t n = sde_->N();
  // float32 linspace, as the reference builds its time grid.
  auto ts = torch::linspace(sde_->T(), eps_, n, x.options().dtype(torch::kFloat32));
  auto ones = torch::ones({x.size(0)}, x.options().dtype(torch::kFloat32));
  Update u{x, x};
  // ts[i] on the host for the time hook (reading ts would wait for the device).
  const double dt_host = (eps_ - sde_->T()) / static_cast<double>(std::max<int64_t>(n - 1, 1));
  PcStepGraphs::Step step;
  // A projection reads its batch's data, which a graph would bake in.
  if (graphs_ && !project) {
    step = [predictor = predictor_, corrector = corrector_, calls = score_.calls](
               const torch::Tensor& x, const torch::Tensor& t, torch::Generator& gen, int64_t& nfe) {
      const int64_t before = *calls;
      auto v = corrector->update(x, t, gen);
      v = predictor->update(v.x, t, gen);
      nfe += *calls - before;
      return v;
    };
  }
  for (int64_t i = 0; i < n; ++i) {
    auto t = ones * ts[i];  // (B,)
    if (time_hook_) time_hook_(sde_->T() + dt_host * static_cast<double>(i));
    if (step) {
      // The first replay's warm-up and capture call the score too: count what one step evaluates.
      const int64_t calls = *score_.calls;
      auto replayed = graphs_->run(step, u.x, t, gen);
      *score_.calls = calls + (replayed ? replayed->nfe : 0);
      if (replayed) {
        u = replayed->u;
        continue;
      }
    }
    u = corrector_->update(u.x, t, gen);
    if (project) u = project(u, t, gen);
    u = predictor_->update(u.x, t, gen);
    if (project) u = project(u, t, gen);
  }
  last_nfe_ = *score_.calls;
  return denoise_ ? u.x_mean : u.x;
}

}  // namespace scorch::sampler
