// Device selection by local rank (design.md "Distributed rules": one rank per GPU).
#include "core/device.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "core/error.h"

namespace scorch {

torch::Device select_device(const std::string& requested, int local_rank) {
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (requested == "cpu" || (requested == "auto" && gpus == 0)) return torch::Device(torch::kCPU);
  if (requested == "auto" || requested == "cuda") {
    SCORCH_CHECK_HINT(gpus > 0, "set device=cpu, or check CUDA_VISIBLE_DEVICES and the driver",
                      "device={} but no CUDA device is visible", requested);
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % gpus));
  }
  if (requested.rfind("cuda:", 0) == 0) {
    int index = std::stoi(requested.substr(5));
    SCORCH_CHECK(index >= 0 && index < gpus, "device={} but only {} CUDA devices are visible", requested, gpus);
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  SCORCH_FAIL("unknown device '{}': expected auto, cpu, cuda or cuda:N", requested);
}

int configure_cpu_threads(int local_world) {
  if (const char* env = std::getenv("OMP_NUM_THREADS"); env && *env) return torch::get_num_threads();
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = std::max(1, cores / std::max(1, local_world));
  torch::set_num_threads(threads);
  return threads;
}

}  // namespace scorch
