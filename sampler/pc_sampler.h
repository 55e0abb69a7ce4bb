// The predictor-corrector sampler: N noise levels from T down to eps, corrector then predictor at each.
#pragma once
#include <functional>
#include <memory>

#include "sampler/batch_progress.h"
#include "sampler/correctors.h"
#include "sampler/options.h"
#include "sampler/pc_step_graph.h"
#include "sampler/predictors.h"

namespace scorch::sampler {

// Called after every corrector and predictor update with the update and t (B,): inverse problems use it to
// put the known part of the data back (inpainting, colorization).
using Projection = std::function<Update(const Update& u, const torch::Tensor& t, torch::Generator& gen)>;

// Counts the calls of a score function: the number of function evaluations (NFE) a sampler really made.
struct CountedScore {
  sdes::ScoreFn fn;
  std::shared_ptr<int64_t> calls;
};
CountedScore count_calls(sdes::ScoreFn score);

class PcSampler {
 public:
  // Uses o.predictor, o.corrector, o.snr, o.n_steps_each, o.probability_flow, o.noise_removal, o.eps.
  PcSampler(std::shared_ptr<sdes::Sde> sde, sdes::ScoreFn score, const SamplingOptions& o);

  // From x (B, C, H, W), a draw of the prior, to the sample in model space: the last predictor mean when
  // noise_removal (no extra network call), else the last state. Noise comes from `gen` only.
  torch::Tensor run(torch::Tensor x, torch::Generator& gen, const Projection& project = {});
  // Score evaluations of the last run (per batch; 0 for predictor=none, corrector=none).
  int64_t nfe() const { return last_nfe_; }
  // Called with each noise level's time before its updates (progress reporting).
  void set_time_hook(TimeHook hook) { time_hook_ = std::move(hook); }
  // Replays whole steps from `graphs` (shared by the batches of one sampler) when x is on CUDA and run has no
  // projection; a shape whose capture failed steps eagerly.
  void set_step_graphs(std::shared_ptr<PcStepGraphs> graphs) { graphs_ = std::move(graphs); }

 private:
  std::shared_ptr<sdes::Sde> sde_;
  CountedScore score_;
  // Shared with a captured step, which must keep what its graph reads alive.
  std::shared_ptr<Predictor> predictor_;
  std::shared_ptr<Corrector> corrector_;
  std::shared_ptr<PcStepGraphs> graphs_;
  bool denoise_;
  double eps_;
  int64_t last_nfe_ = 0;
  TimeHook time_hook_;
};

}  // namespace scorch::sampler
