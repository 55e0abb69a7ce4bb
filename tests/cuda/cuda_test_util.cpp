// Shared helpers of the CUDA suite: a tiny model with scale on the GPU, allocator statistics.
#include "cuda/cuda_test_util.h"

#if SCORCH_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace scorch::test {

std::shared_ptr<models::ScoreModelImpl> perturbed_model(const Config& config) {
  torch::manual_seed(0);
  auto model = models::make_model(config);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.05);
  model->to(kCuda);
  model->eval();
  return model;
}

double peak_allocated_gib(const torch::Device& device) {
#if SCORCH_WITH_CUDA
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
  return static_cast<double>(stats.allocated_bytes[0].peak) / (1024.0 * 1024.0 * 1024.0);
#else
  (void)device;
  return 0.0;
#endif
}

double reserved_gib_after_emptying(const torch::Device& device) {
#if SCORCH_WITH_CUDA
  c10::cuda::CUDACachingAllocator::emptyCache();
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
  return static_cast<double>(stats.reserved_bytes[0].current) / (1024.0 * 1024.0 * 1024.0);
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
