// The NCCL backend: CUDA tensors on the current stream; the ncclUniqueId travels from rank 0 over MPI.
#include "core/dist/mpi_comm.h"
#include "core/dist/versions.h"
#include "core/error.h"

#if SCORCH_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <mpi.h>
#include <nccl.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "core/dist/process.h"
#endif

namespace scorch::dist {

#if SCORCH_WITH_CUDA

namespace {

void check_nccl(ncclResult_t rc, const char* what) {
  SCORCH_CHECK_HINT(rc == ncclSuccess, "run with NCCL_DEBUG=INFO for NCCL's own account", "NCCL {} failed: {}", what,
                    ncclGetErrorString(rc));
}

ncclDataType_t nccl_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return ncclFloat32;
    case torch::kFloat64: return ncclFloat64;
    case torch::kFloat16: return ncclFloat16;
    case torch::kBFloat16: return ncclBfloat16;
    case torch::kInt32: return ncclInt32;
    case torch::kInt64: return ncclInt64;
    case torch::kUInt8: return ncclUint8;
    default: break;
  }
  SCORCH_FAIL("the NCCL backend has no type for dtype {}", c10::toString(t.scalar_type()));
}

class NcclCommunicator : public Communicator {
 public:
  explicit NcclCommunicator(const torch::Device& device) : Communicator(info().rank, info().world), device_(device) {
    ensure_mpi();
    c10::cuda::CUDAGuard guard(device_);
    // dist::init, which the MPI_Bcast below needs anyway, set them before any thread started.
    for (const auto& setting : info().nccl_defaults)
      if (rank() == 0) spdlog::info("NCCL: {} (scorch's default; export it to choose otherwise)", setting);
    ncclUniqueId id;
    if (rank() == 0) check_nccl(ncclGetUniqueId(&id), "GetUniqueId");
    SCORCH_CHECK(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD) == MPI_SUCCESS,
                 "broadcasting the NCCL unique id over MPI failed");
    check_nccl(ncclCommInitRank(&comm_, world(), id, rank()), "CommInitRank");
  }
  ~NcclCommunicator() override {
    // After an abort the communicator is gone; destroying a live one whose peers died could block.
    if (comm_) ncclCommDestroy(comm_);
  }

  std::string backend() const override { return "nccl"; }
  torch::Device device() const override { return device_; }

  // Polls rather than blocks, so that an asynchronous NCCL error (a peer that died, a broken link) ends the
  // job with a message instead of a stream that waits forever; a plain hang is the watchdog's business.
  void synchronize() override {
    SCORCH_CHECK(comm_, "NCCL communicator of rank {} was aborted after an earlier error", rank());
    at::cuda::CUDAEvent done;
    done.record(c10::cuda::getCurrentCUDAStream(device_.index()));
    auto pause = std::chrono::microseconds(20);
    while (!done.query()) {
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        SCORCH_CHECK_HINT(false,
                          "a peer rank probably died or lost its network; see its log in <workdir>/logs/ and run "
                          "with NCCL_DEBUG=WARN",
                          "NCCL reported an asynchronous error on rank {}: {}", rank(), ncclGetErrorString(async));
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
  }

  void all_reduce_sum(torch::Tensor& t) override {
    check(t, "all_reduce");
    check_nccl(ncclAllReduce(t.data_ptr(), t.data_ptr(), t.numel(), nccl_type(t), ncclSum, comm_, stream()),
               "AllReduce");
  }
  void broadcast(torch::Tensor& t, int root) override {
    check(t, "broadcast");
    check_nccl(ncclBroadcast(t.data_ptr(), t.data_ptr(), t.numel(), nccl_type(t), root, comm_, stream()), "Broadcast");
  }
  torch::Tensor all_gather(const torch::Tensor& t) override {
    check(t, "all_gather");
    SCORCH_CHECK(t.is_contiguous(),
                 "NCCL all_gather needs a contiguous tensor (the result is stacked in logical "
                 "order), got strides {}",
                 c10::str(t.strides()));
    std::vector<int64_t> shape{world()};
    shape.insert(shape.end(), t.sizes().begin(), t.sizes().end());
    auto out = torch::empty(shape, t.options());
    check_nccl(ncclAllGather(t.data_ptr(), out.data_ptr(), t.numel(), nccl_type(t), comm_, stream()), "AllGather");
    return out;
  }
  using Communicator::all_gather;
  using Communicator::all_reduce_sum;
  using Communicator::broadcast;

 private:
  cudaStream_t stream() const { return c10::cuda::getCurrentCUDAStream(device_.index()).stream(); }
  void check(const torch::Tensor& t, const char* op) const {
    SCORCH_CHECK(t.device() == device_, "NCCL {} on a tensor on {}, expected {}", op, t.device().str(), device_.str());
    // Any dense layout will do (channels_last weights too): every rank holds the same layout, so the flat
    // buffers line up element for element.
    SCORCH_CHECK(t.is_non_overlapping_and_dense(), "NCCL {} needs a dense tensor without overlaps, got strides {}", op,
                 c10::str(t.strides()));
    SCORCH_CHECK(comm_, "NCCL communicator of rank {} was aborted after an earlier error", rank());
  }

  torch::Device device_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::shared_ptr<Communicator> make_nccl_communicator(const torch::Device& device) {
  return std::make_shared<NcclCommunicator>(device);
}

std::string nccl_version() {
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "unavailable";
  return fmt::format("{}.{}.{}", v / 10000, (v / 100) % 100, v % 100);
}

#else

std::shared_ptr<Communicator> make_nccl_communicator(const torch::Device&) {
  SCORCH_FAIL("this scorch was built without CUDA (SCORCH_WITH_CUDA=OFF), so dist.backend=nccl is unavailable");
}

std::string nccl_version() { return "not built (SCORCH_WITH_CUDA=OFF)"; }

#endif

}  // namespace scorch::dist
