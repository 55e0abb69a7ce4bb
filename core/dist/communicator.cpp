// Host-side collectives over MPI, the MPI tensor backend, and backend selection.
#include "core/dist/communicator.h"

#include <mpi.h>

#include <chrono>
#include <thread>

#include "core/dist/mpi_comm.h"
#include "core/dist/process.h"
#include "core/error.h"

namespace scorch::dist {

namespace {

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  SCORCH_FAIL("MPI {} failed: {}", what, std::string(text, len));
}

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return MPI_FLOAT;
    case torch::kFloat64: return MPI_DOUBLE;
    case torch::kInt32: return MPI_INT32_T;
    case torch::kInt64: return MPI_INT64_T;
    case torch::kUInt8: return MPI_UINT8_T;
    case torch::kInt8: return MPI_INT8_T;
    default: break;
  }
  SCORCH_FAIL("the MPI backend has no reduction for dtype {}", c10::toString(t.scalar_type()));
}

void check_cpu_contiguous(const torch::Tensor& t, const char* op) {
  SCORCH_CHECK_HINT(t.device().is_cpu(), "use dist.backend=nccl for CUDA tensors",
                    "MPI {} needs a CPU tensor, got one on {}", op, t.device().str());
  SCORCH_CHECK(t.is_contiguous(), "MPI {} needs a contiguous tensor", op);
}

// A communicator of one process (LocalCommunicator, even inside an MPI job) never touches MPI_COMM_WORLD.
bool several_ranks(const Communicator& c) { return mpi_active() && c.world() > 1; }

}  // namespace

void Communicator::barrier() {
  if (several_ranks(*this)) check_mpi(MPI_Barrier(MPI_COMM_WORLD), "barrier");
}

void Communicator::barrier_polling(const std::function<void()>& poll, double period_s) {
  if (!several_ranks(*this)) return;
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(MPI_Ibarrier(MPI_COMM_WORLD, &request), "barrier");
  const auto period = std::chrono::duration<double>(period_s);
  auto next = std::chrono::steady_clock::now() + period;
  for (int done = 0;;) {
    check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "barrier");
    if (done) return;
    if (std::chrono::steady_clock::now() >= next) {
      poll();
      next = std::chrono::steady_clock::now() + period;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int64_t Communicator::all_reduce_sum(int64_t x) {
  if (several_ranks(*this))
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD), "allreduce");
  return x;
}

int64_t Communicator::all_reduce_max(int64_t x) {
  if (several_ranks(*this))
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD), "allreduce");
  return x;
}

double Communicator::all_reduce_sum(double x) {
  if (several_ranks(*this))
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "allreduce");
  return x;
}

std::vector<int64_t> Communicator::all_gather(int64_t x) {
  std::vector<int64_t> out(world(), x);
  if (several_ranks(*this))
    check_mpi(MPI_Allgather(&x, 1, MPI_INT64_T, out.data(), 1, MPI_INT64_T, MPI_COMM_WORLD), "allgather");
  return out;
}

void Communicator::broadcast(std::string& bytes, int root) {
  if (!several_ranks(*this)) return;
  int64_t n = static_cast<int64_t>(bytes.size());
  check_mpi(MPI_Bcast(&n, 1, MPI_INT64_T, root, MPI_COMM_WORLD), "broadcast");
  bytes.resize(static_cast<size_t>(n));
  check_mpi(MPI_Bcast(bytes.data(), static_cast<int>(n), MPI_CHAR, root, MPI_COMM_WORLD), "broadcast");
}

std::vector<std::string> Communicator::all_gather(const std::string& bytes) {
  if (!several_ranks(*this)) return {bytes};
  int n = static_cast<int>(bytes.size());
  std::vector<int> counts(world()), offsets(world());
  check_mpi(MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD), "allgather");
  int total = 0;
  for (int r = 0; r < world(); ++r) offsets[r] = total, total += counts[r];
  std::string all(static_cast<size_t>(total), '\0');
  check_mpi(
      MPI_Allgatherv(bytes.data(), n, MPI_CHAR, all.data(), counts.data(), offsets.data(), MPI_CHAR, MPI_COMM_WORLD),
      "allgatherv");
  std::vector<std::string> out;
  for (int r = 0; r < world(); ++r) out.push_back(all.substr(offsets[r], counts[r]));
  return out;
}

// A process of its own is rank 0 of 1 with or without MPI; init left MPI off only then.
MpiCommunicator::MpiCommunicator() : Communicator(info().rank, info().world) { ensure_mpi(); }

bool MpiCommunicator::collectives_on_any_thread() const { return mpi_threads_ok(); }

void MpiCommunicator::all_reduce_sum(torch::Tensor& t) {
  check_cpu_contiguous(t, "all_reduce");
  check_mpi(
      MPI_Allreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), MPI_SUM, MPI_COMM_WORLD),
      "allreduce");
}

void MpiCommunicator::broadcast(torch::Tensor& t, int root) {
  check_cpu_contiguous(t, "broadcast");
  check_mpi(MPI_Bcast(t.data_ptr(), static_cast<int>(t.nbytes()), MPI_BYTE, root, MPI_COMM_WORLD), "broadcast");
}

torch::Tensor MpiCommunicator::all_gather(const torch::Tensor& t) {
  check_cpu_contiguous(t, "all_gather");
  std::vector<int64_t> shape{world()};
  shape.insert(shape.end(), t.sizes().begin(), t.sizes().end());
  auto out = torch::empty(shape, t.options());
  check_mpi(MPI_Allgather(t.data_ptr(), static_cast<int>(t.nbytes()), MPI_BYTE, out.data_ptr(),
                          static_cast<int>(t.nbytes()), MPI_BYTE, MPI_COMM_WORLD),
            "allgather");
  return out;
}

std::shared_ptr<Communicator> make_communicator(const std::string& backend, const torch::Device& device) {
  std::string b = backend;
  if (b == "auto") b = info().world == 1 ? "local" : (device.is_cuda() ? "nccl" : "mpi");
  if (b == "local") {
    SCORCH_CHECK(info().world == 1, "dist.backend=local cannot serve a job of {} ranks", info().world);
    return std::make_shared<LocalCommunicator>();
  }
  if (b == "mpi") return std::make_shared<MpiCommunicator>();
  if (b == "nccl") {
    SCORCH_CHECK_HINT(device.is_cuda(), "NCCL needs a CUDA device; use dist.backend=mpi on CPU",
                      "dist.backend=nccl on device {}", device.str());
    return make_nccl_communicator(device);
  }
  SCORCH_FAIL("unknown dist.backend '{}': expected auto, nccl, mpi or local", backend);
}

}  // namespace scorch::dist
