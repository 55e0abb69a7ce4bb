// `scorch info`: versions of everything scorch runs with, the GPUs it sees, and each rank's place.
#include <ATen/detail/CUDAHooksInterface.h>
#include <H5public.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <cstdio>

#if SCORCH_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include "apps/commands.h"
#include "core/dist/communicator.h"
#include "core/dist/device.h"
#include "core/dist/process.h"
#include "core/dist/versions.h"
#include "core/error.h"
#include "core/host_memory.h"
#include "core/version.h"

namespace scorch::apps {

namespace {

std::string cuda_version_text(long v) {
  if (v <= 0) return "none";
  return fmt::format("{}.{}", v / 1000, (v % 1000) / 10);
}

std::string cudnn_version_text(long v) {
  if (v <= 0) return "none";
  return fmt::format("{}.{}.{}", v / 10000, (v / 100) % 100, v % 100);
}

int run_info(const std::string& device_request) {
  const auto& me = dist::info();
  auto comm = dist::make_communicator(me.world > 1 ? "mpi" : "local", torch::Device(torch::kCPU));
  const auto& hooks = at::detail::getCUDAHooks();
  const int gpus = static_cast<int>(torch::cuda::device_count());
  std::string device;
  try {
    device = dist::select_device(device_request, me.local_rank).str();
  } catch (const std::exception& e) {
    device = std::string("unavailable (") + e.what() + ")";
  }
  std::string gpu_name = "-";
#if SCORCH_WITH_CUDA
  if (gpus > 0) gpu_name = at::cuda::getDeviceProperties(me.local_rank % gpus)->name;
#endif
  auto line = fmt::format("  rank {:>3} / {:<3} local rank {:>2} / {:<2} host {:<20} device {:<8} {}", me.rank,
                          me.world, me.local_rank, me.local_world, me.host, device, gpu_name);
  auto lines = comm->all_gather(line);
  if (me.rank != 0) return 0;

  unsigned h5_major = 0, h5_minor = 0, h5_release = 0;
  H5get_libversion(&h5_major, &h5_minor, &h5_release);
  const bool torch_cuda = hooks.hasCUDA() || hooks.versionCUDART() > 0;
  std::printf("scorch      %s (commit %s)\n", version_string(), git_commit());
  std::printf("LibTorch    %s, CUDA build: %s (CUDA runtime %s, cuDNN %s)\n", TORCH_VERSION, torch_cuda ? "yes" : "no",
              cuda_version_text(hooks.versionCUDART()).c_str(), cudnn_version_text(hooks.versionCuDNN()).c_str());
  std::printf("CUDA paths  %s (NCCL %s)\n", SCORCH_WITH_CUDA ? "compiled in" : "off (SCORCH_WITH_CUDA=OFF)",
              dist::nccl_version().c_str());
  std::printf("MPI         %s\n", dist::mpi_library_version().c_str());
  std::printf("HDF5        %u.%u.%u\n", h5_major, h5_minor, h5_release);
  std::printf("host memory %s\n", host_memory_policy());
  std::printf("GPUs        %d visible on rank 0's host%s\n", gpus, gpus == 0 ? " (CPU ranks)" : "");
  std::printf("launcher    %s, world size %d (promised: %s)\n", me.launcher.c_str(), me.world,
              dist::promised_world_size() ? std::to_string(dist::promised_world_size()).c_str() : "-");
  std::printf("ranks\n");
  for (const auto& l : lines) std::printf("%s\n", l.c_str());
  return 0;
}

}  // namespace

void add_info_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("info", "versions, GPUs, and every rank's rank/world/local rank/host/device");
  auto device = std::make_shared<std::string>("auto");
  auto fail_rank = std::make_shared<int>(-1);
  cmd->add_option("--device", *device, "device request to resolve per rank (auto | cpu | cuda | cuda:N)");
  cmd->add_option("--fail-on-rank", *fail_rank,
                  "launch check: this rank raises an error while the others wait in a barrier; the whole "
                  "job must end at once with its message (MPI_Abort), not hang");
  cmd->callback([&action, device, fail_rank]() {
    action = [device, fail_rank]() {
      dist::check_world_size();
      if (*fail_rank >= 0) {
        if (dist::info().rank == *fail_rank)
          SCORCH_FAIL("--fail-on-rank {}: rank {} fails on purpose", *fail_rank, *fail_rank);
        dist::make_communicator("auto", torch::Device(torch::kCPU))->barrier();
      }
      return run_info(*device);
    };
  });
}

}  // namespace scorch::apps
