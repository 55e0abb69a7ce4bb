// Capturing a CUDA graph with a clean failure (see cuda_graph_capture.h).
#include "core/cuda_graph_capture.h"

#if SCORCH_WITH_CUDA
#include <ATen/core/CachingHostAllocator.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>

namespace scorch {

std::string capture_cuda_graph(at::cuda::CUDAGraph& graph, const std::function<void()>& body) {
  // A pool of our own making, so that a failed capture can still be let go of (below).
  const auto pool = at::cuda::graph_pool_handle();
  const auto device = c10::cuda::current_device();
  std::string failure;
  try {
    graph.capture_begin(pool, cudaStreamCaptureModeThreadLocal);
  } catch (const std::exception& e) {
    // It may have failed before or after it started routing allocations to the pool: undo what was done.
    try {
      c10::cuda::CUDACachingAllocator::endAllocateToPool(device, pool);
      c10::cuda::CUDACachingAllocator::releasePool(device, pool);
      at::getHostAllocator(at::kCUDA)->end_allocate_to_pool(pool);
      at::getHostAllocator(at::kCUDA)->release_pool(pool);
    } catch (const std::exception&) {
    }
    (void)cudaGetLastError();
    return e.what();
  }
  try {
    body();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  try {
    graph.capture_end();  // also after a failure: it is what takes the stream out of capture mode
  } catch (const std::exception& e) {
    if (failure.empty()) failure = e.what();
  }
  if (failure.empty()) return failure;
  bool ended = true;
  try {
    (void)graph.pool();  // throws unless cudaStreamEndCapture succeeded
  } catch (const std::exception&) {
    ended = false;
  }
  if (!ended) {
    // LibTorch 2.11's capture_end throws at cudaStreamEndCapture before it stops sending allocations to the
    // graph's pool, and the graph's destructor then releases nothing: the allocators would keep a filter that
    // points into the destroyed graph. Do both here.
    try {
      c10::cuda::CUDACachingAllocator::endAllocateToPool(device, pool);
      c10::cuda::CUDACachingAllocator::releasePool(device, pool);
      at::getHostAllocator(at::kCUDA)->end_allocate_to_pool(pool);
      at::getHostAllocator(at::kCUDA)->release_pool(pool);
    } catch (const std::exception& e) {
      failure += std::string("; releasing the failed capture's memory pool also failed: ") + e.what();
    }
  }
  (void)cudaGetLastError();  // a failed capture's error is not sticky: clear it for the eager launches
  return failure;
}

}  // namespace scorch
#endif
