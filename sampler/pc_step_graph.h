// CUDA-graph replay of a whole predictor-corrector step: network calls, corrector and predictor arithmetic,
// and their noise draws, one launch per noise level.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "sampler/cuda_graph.h"
#include "sampler/predictors.h"

namespace scorch::sampler {

class PcStepGraphs {
 public:
  // One step at time t (B,) from x (B, C, H, W), noise from `gen`; adds its score evaluations to `nfe`.
  using Step =
      std::function<Update(const torch::Tensor& x, const torch::Tensor& t, torch::Generator& gen, int64_t& nfe)>;
  struct Replayed {
    Update u;
    int64_t nfe = 0;  // score evaluations the captured step made
  };

  PcStepGraphs();
  ~PcStepGraphs();
  PcStepGraphs(const PcStepGraphs&) = delete;
  PcStepGraphs& operator=(const PcStepGraphs&) = delete;

  // For x on CUDA: the first call per (shape, dtype, device) warms `step` up twice with noise of its own and
  // captures it; later calls replay that capture, whatever `step` they pass (the graph keeps the captured
  // step, and what its predictor and corrector hold, alive). The graph draws its noise from gen's seed and
  // offset and moves gen's offset on as the eager step would, so a replayed step equals an eager one with
  // the same generator. Returns nullopt when x is not on CUDA (having run nothing) or this shape's capture
  // failed (one warning; the first time after the warm-up and the failed capture ran, drawing no noise
  // from `gen`): the caller then steps eagerly.
  std::optional<Replayed> run(const Step& step, const torch::Tensor& x, const torch::Tensor& t, torch::Generator& gen);

 private:
  struct Entry;
  std::map<std::string, std::unique_ptr<Entry>> entries_;
};

// Process-wide counts of whole-step captures that succeeded and of those that fell back to eager steps.
CudaGraphStats pc_step_graph_stats();

}  // namespace scorch::sampler
