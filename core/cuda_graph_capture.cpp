// Capturing a CUDA graph with a clean failure (see cuda_graph_capture.h).
#include "core/cuda_graph_capture.h"

#if SCORCH_WITH_CUDA
#include <ATen/core/CachingHostAllocator.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

namespace scorch {

void CudaGraph::end_generator_capture() {
  // The flag is what capture_epilogue would clear; that function is not exported from libtorch_cuda.
  for (auto& entry : captured_generator_states_) entry.first->capturing_ = false;
}

namespace {

// Each step on its own: some fail when the capture failed before that step was reached.
void let_go_of_pool(c10::DeviceIndex device, const c10::MempoolId_t& pool) {
  for (const auto& step : std::initializer_list<std::function<void()>>{
           [&] { c10::cuda::CUDACachingAllocator::endAllocateToPool(device, pool); },
           [&] { at::getHostAllocator(at::kCUDA)->end_allocate_to_pool(pool); },
           [&] { c10::cuda::CUDACachingAllocator::releasePool(device, pool); },
           [&] { at::getHostAllocator(at::kCUDA)->release_pool(pool); }}) {
    try {
      step();
    } catch (const std::exception&) {
    }
  }
}

// A body that left another stream current, or a capture_end that threw before ending the capture: end it.
void leave_capture_mode(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &status) != cudaSuccess || status == cudaStreamCaptureStatusNone) return;
  cudaGraph_t partial = nullptr;
  (void)cudaStreamEndCapture(stream, &partial);
  if (partial) (void)cudaGraphDestroy(partial);
}

}  // namespace

std::string capture_cuda_graph(CudaGraph& graph, const std::function<void()>& body) {
  // A pool of our own making, so that a failed capture can still be let go of.
  const auto pool = at::cuda::graph_pool_handle();
  const auto device = c10::cuda::current_device();
  const auto stream = c10::cuda::getCurrentCUDAStream(device);
  std::string failure;
  bool begun = false;
  try {
    graph.capture_begin(pool, cudaStreamCaptureModeThreadLocal);
    begun = true;
    body();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (begun) {
    try {
      c10::cuda::CUDAStreamGuard same(stream);
      graph.capture_end();  // also after a failure: it is what takes the stream out of capture mode
    } catch (const std::exception& e) {
      if (failure.empty()) failure = e.what();
    }
  }
  if (failure.empty()) return failure;
  leave_capture_mode(stream.stream());
  bool ended = true;
  try {
    (void)graph.pool();  // throws unless capture_end got through cudaStreamEndCapture and its checks
  } catch (const std::exception&) {
    ended = false;
  }
  // Once ended, the graph's reset() releases the pool; before that, LibTorch 2.11 leaves the allocators routing
  // to it through a filter that points into the graph, and releases nothing.
  if (!ended) let_go_of_pool(device, pool);
  graph.end_generator_capture();
  (void)cudaGetLastError();  // a failed capture's error is not sticky: clear it for the eager launches
  return failure;
}

}  // namespace scorch
#endif
