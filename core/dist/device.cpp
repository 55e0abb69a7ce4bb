// Device selection by local rank (design.md "Distributed rules": one rank per GPU).
#include "core/dist/device.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/dist/communicator.h"
#include "core/dist/process.h"
#include "core/error.h"

#if SCORCH_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace scorch::dist {

namespace {

torch::Device choose(const std::string& requested, int local_rank) {
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (requested == "cpu" || (requested == "auto" && gpus == 0)) return torch::Device(torch::kCPU);
  if (requested == "auto" || requested == "cuda") {
    SCORCH_CHECK_HINT(gpus > 0, "set device=cpu, or check CUDA_VISIBLE_DEVICES and the driver",
                      "device={} but no CUDA device is visible", requested);
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % gpus));
  }
  if (requested.rfind("cuda:", 0) == 0) {
    int index = -1;
    try {
      index = std::stoi(requested.substr(5));
    } catch (const std::exception&) {
    }
    SCORCH_CHECK(index >= 0 && index < gpus, "device={} but only {} CUDA devices are visible", requested, gpus);
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  SCORCH_FAIL("unknown device '{}': expected auto, cpu, cuda or cuda:N", requested);
}

// The physical GPU behind a device index: its PCI address, which survives CUDA_VISIBLE_DEVICES renumbering.
std::string gpu_identity(const torch::Device& device) {
#if SCORCH_WITH_CUDA
  const auto* p = at::cuda::getDeviceProperties(device.index());
  return fmt::format("{}|{:04x}:{:02x}:{:02x}", dist::info().host, p->pciDomainID, p->pciBusID, p->pciDeviceID);
#else
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  return fmt::format("{}|{}|{}", dist::info().host, visible ? visible : "", device.index());
#endif
}

}  // namespace

torch::Device select_device(const std::string& requested, int local_rank) {
  const auto device = choose(requested, local_rank);
  if (device.is_cuda()) c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->setDevice(device);
  if (dist::info().world > 1) {
    auto comm = dist::make_communicator("mpi", torch::Device(torch::kCPU));
    const auto report = shared_gpu_report(comm->all_gather(device.is_cuda() ? gpu_identity(device) : std::string()));
    SCORCH_CHECK_HINT(report.empty(),
                      "start one rank per GPU (mpirun -np <GPUs per node> per node, srun --gpus-per-task=1), or "
                      "run on the CPU with device=cpu",
                      "two ranks would share one GPU, which NCCL cannot serve: {}", report);
  }
  return device;
}

std::string shared_gpu_report(const std::vector<std::string>& gpu_of_rank) {
  std::map<std::string, std::vector<size_t>> ranks_of;
  for (size_t r = 0; r < gpu_of_rank.size(); ++r)
    if (!gpu_of_rank[r].empty()) ranks_of[gpu_of_rank[r]].push_back(r);
  std::string report;
  for (const auto& [gpu, ranks] : ranks_of) {
    if (ranks.size() < 2) continue;
    const auto bar = gpu.find('|');
    report += fmt::format("{}ranks {} on host {} all use GPU {}", report.empty() ? "" : "; ", fmt::join(ranks, ", "),
                          gpu.substr(0, bar), bar == std::string::npos ? "?" : gpu.substr(bar + 1));
  }
  return report;
}

void set_tf32(bool allowed) {
  at::globalContext().setAllowTF32CuBLAS(allowed);
  at::globalContext().setAllowTF32CuDNN(allowed);
}

void set_cudnn_benchmark(bool on) { at::globalContext().setBenchmarkCuDNN(on); }

double memory_peak_gib(const torch::Device& device) {
#if SCORCH_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return static_cast<double>(stats.reserved_bytes[0].peak) / (1024.0 * 1024.0 * 1024.0);
  }
#endif
  (void)device;
  return 0.0;
}

void restart_memory_peak(const torch::Device& device) {
#if SCORCH_WITH_CUDA
  if (device.is_cuda()) {
    c10::cuda::CUDACachingAllocator::emptyCache();
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
  }
#endif
  (void)device;
}

void set_deterministic(const torch::Device& device, int cpu_threads) {
  SCORCH_CHECK(cpu_threads >= 1, "sampling.threads must be at least 1, got {}", cpu_threads);
  torch::set_num_threads(cpu_threads);
  if (!device.is_cuda()) return;
  setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
  auto& ctx = at::globalContext();
  ctx.setDeterministicCuDNN(true);
  ctx.setBenchmarkCuDNN(false);
  ctx.setDeterministicAlgorithms(true, /*warn_only=*/false);
  set_tf32(false);
}

void clear_deterministic() {
  auto& ctx = at::globalContext();
  ctx.setDeterministicAlgorithms(false, /*warn_only=*/false);
  ctx.setDeterministicCuDNN(false);
}

std::string execution_info_json(const torch::Device& device) {
  auto& ctx = at::globalContext();
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return nlohmann::json{{"device", device.str()},
                        {"threads", torch::get_num_threads()},
                        {"deterministic_algorithms", ctx.deterministicAlgorithms()},
                        {"cudnn_deterministic", ctx.deterministicCuDNN()},
                        {"cudnn_benchmark", ctx.benchmarkCuDNN()},
                        {"tf32_cublas", ctx.allowTF32CuBLAS()},
                        {"tf32_cudnn", ctx.allowTF32CuDNN()},
                        {"torch", TORCH_VERSION},
                        {"host", std::string(host)}}
      .dump();
}

int configure_cpu_threads(int local_world) {
  // Set again even then: a deterministic sampler may have changed the count since torch read the variable.
  if (const char* env = std::getenv("OMP_NUM_THREADS"); env && *env) {
    if (const int n = env_int("OMP_NUM_THREADS", 0); n >= 1) torch::set_num_threads(n);
    return torch::get_num_threads();
  }
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = std::max(1, cores / std::max(1, local_world));
  torch::set_num_threads(threads);
  return threads;
}

}  // namespace scorch::dist
