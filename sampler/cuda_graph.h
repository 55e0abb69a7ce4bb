// CUDA-graph replay of a network call for fixed input shapes (the sampler's batch shape never changes).
#pragma once
#include "core/sdes/score_fn.h"

namespace scorch::sampler {

// Wraps `eager`: on CUDA inputs with grad mode off, the first call per (shape, dtype) warms up on a side
// stream, captures one call into a CUDA graph with static input/output buffers, and later calls copy their
// inputs in, replay and return a copy of the output. Other calls run eager, and so does a shape whose capture
// failed (with one warning). Without CUDA in this build it
// returns `eager` unchanged.
sdes::ModelFn graphed(sdes::ModelFn eager);

// While one is alive on this thread, graphed() calls run eager: an enclosing graph (the PC sampler's whole
// step, pc_step_graph.h) warms the network up and captures it with the rest of the step.
class NetworkGraphsOff {
 public:
  NetworkGraphsOff();
  ~NetworkGraphsOff();
  NetworkGraphsOff(const NetworkGraphsOff&) = delete;
  NetworkGraphsOff& operator=(const NetworkGraphsOff&) = delete;

 private:
  bool was_off_;
};

// Whether this build can capture CUDA graphs.
bool cuda_graphs_compiled();

// Process-wide counts of captures that succeeded and of those that failed and fell back to eager calls.
struct CudaGraphStats {
  int64_t captured = 0, fell_back = 0;
};
CudaGraphStats cuda_graph_stats();

}  // namespace scorch::sampler
