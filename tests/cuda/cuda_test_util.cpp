// Allocator statistics for the CUDA suite (compiled only where the CUDA paths are).
#include "cuda/cuda_test_util.h"

#if SCORCH_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace scorch::test {

double peak_allocated_gib(const torch::Device& device) {
#if SCORCH_WITH_CUDA
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
  return static_cast<double>(stats.allocated_bytes[0].peak) / (1024.0 * 1024.0 * 1024.0);
#else
  (void)device;
  return 0.0;
#endif
}

void reset_peak(const torch::Device& device) {
#if SCORCH_WITH_CUDA
  c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#else
  (void)device;
#endif
}

}  // namespace scorch::test
