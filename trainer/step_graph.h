// The whole training step (forward, backward, clipping, Adam, EMA, interval sums) as one CUDA graph.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "trainer/loss_noise.h"

namespace scorch::trainer {

// The step's inputs live in static buffers the graph reads: the images, every draw the loss makes from its
// LossNoise (recorded at capture in the order the loss asks, refilled before each replay from the step's own
// per-example streams, so a replayed step sees exactly the noise of the eager one) and the learning rate.
// Dropout draws from the CUDA generator inside the graph: the caller seeds it before each replay, as before
// each eager step, and the replay takes the generator's seed and offset at that moment.
class StepGraph {
 public:
  // The step body. It must touch the device only through `images`, `noise`, `lr` and tensors that outlive
  // the graph (parameters, gradients, optimizer and EMA state, the trainer's interval sums).
  using Body = std::function<void(const torch::Tensor& images, LossNoise& noise, const torch::Tensor& lr)>;

  StepGraph();
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  // Captures `body` for batches shaped as `images` (on a CUDA device). The parameters' gradients are dropped
  // first, so backward allocates them in the graph's memory; they stay there. Nothing runs: the caller replays
  // for the step itself. On failure (a host synchronisation in the body, an op CUDA graphs cannot hold)
  // throws scorch::Error with CUDA's reason, and the device is left usable for eager steps.
  void capture(const Body& body, const torch::Tensor& images, const std::vector<torch::Tensor>& params);
  bool captured() const;

  // One step: copies `images`, the draws `noise` makes (the same calls as at capture) and `lr` into the static
  // buffers and replays on the current stream; the parameters' .grad() are the graph's afterwards.
  void replay(const torch::Tensor& images, LossNoise& noise, double lr, const std::vector<torch::Tensor>& params);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Whether this build can capture CUDA graphs.
bool step_graphs_compiled();

}  // namespace scorch::trainer
