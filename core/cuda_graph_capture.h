// Capturing a CUDA graph so that a failure leaves the device as it was (the trainer's step, the sampler's net).
#pragma once
#include <functional>
#include <string>

#if SCORCH_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>

namespace scorch {

// at::cuda::CUDAGraph with what a failed capture needs and LibTorch 2.11 does not do: capture_begin puts the
// CUDA generators it registers (the default one) in capture mode, and only a successful capture_end takes them
// out of it, so after a failed capture every eager draw from them (dropout) would throw.
class CudaGraph : public at::cuda::CUDAGraph {
 public:
  void end_generator_capture();
};

// Captures what `body` enqueues into `graph`, on the current stream (never the default one), in thread-local
// mode (other threads' CUDA calls, such as the loader's pinned allocations, neither break the capture nor fail;
// but a draw from the default CUDA generator on another thread would throw, as that generator is in capture
// mode until the capture ends) and in a memory pool of the graph's own. Returns "" on success, else the reason
// (body's exception or CUDA's verdict on the capture). After a failure the stream has left capture mode, the
// caching allocators no longer route allocations to the graph's pool and have let go of it, the generators draw
// eagerly again, and CUDA's error state is cleared: eager work goes on as before.
std::string capture_cuda_graph(CudaGraph& graph, const std::function<void()>& body);

}  // namespace scorch
#endif
