// Collectives of the MPI backend, run by CTest under `mpirun -np 2`: every rank checks its own results.
#include "core/dist/communicator.h"

#include <gtest/gtest.h>

#include "core/dist/mpi_comm.h"
#include "core/dist/process.h"

namespace scorch::dist {
namespace {

std::shared_ptr<Communicator> comm() { return make_communicator("auto", torch::Device(torch::kCPU)); }

TEST(MpiComm, RunsWithSeveralRanks) {
  ASSERT_GE(info().world, 2) << "mpi_tests must be started by mpirun -np 2";
  EXPECT_EQ(comm()->backend(), "mpi");
}

TEST(MpiComm, AllReduceSumsTensorsOfEveryDtype) {
  auto c = comm();
  const int W = c->world();
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kInt64}) {
    auto t = torch::full({5}, c->rank() + 1, torch::TensorOptions().dtype(dtype));
    c->all_reduce_sum(t);
    EXPECT_TRUE(torch::equal(t, torch::full({5}, W * (W + 1) / 2, t.options()))) << t;
  }
}

TEST(MpiComm, BroadcastCopiesTheRootsTensor) {
  auto c = comm();
  auto t = c->rank() == 0 ? torch::arange(6, torch::kFloat32).reshape({2, 3}) : torch::zeros({2, 3});
  c->broadcast(t, 0);
  EXPECT_TRUE(torch::equal(t, torch::arange(6, torch::kFloat32).reshape({2, 3})));
}

TEST(MpiComm, AllGatherStacksInRankOrder) {
  auto c = comm();
  auto g = c->all_gather(torch::full({3}, static_cast<double>(c->rank()), torch::kFloat64));
  ASSERT_EQ(g.size(0), c->world());
  for (int r = 0; r < c->world(); ++r) EXPECT_TRUE(torch::equal(g[r], torch::full({3}, double(r), torch::kFloat64)));
}

TEST(MpiComm, HostHelpers) {
  auto c = comm();
  EXPECT_EQ(c->all_reduce_sum(int64_t{c->rank() + 1}), int64_t{c->world() * (c->world() + 1) / 2});
  EXPECT_EQ(c->all_reduce_max(int64_t{c->rank()}), c->world() - 1);
  std::string s = c->rank() == 0 ? "from rank zero" : "";
  c->broadcast(s, 0);
  EXPECT_EQ(s, "from rank zero");
  auto all = c->all_gather(std::string(c->rank() + 1, 'x'));
  ASSERT_EQ(static_cast<int>(all.size()), c->world());
  for (int r = 0; r < c->world(); ++r) EXPECT_EQ(all[r], std::string(r + 1, 'x'));
}

TEST(MpiComm, ALocalCommunicatorInsideTheJobStaysLocal) {
  // Only rank 0 calls: if the local helpers reached MPI_COMM_WORLD this would hang (the watchdog-less
  // deadlock the trainer tests once hit when rank 0 trained alone).
  if (info().rank == 0) {
    auto local = std::make_shared<LocalCommunicator>();
    EXPECT_EQ(local->all_reduce_sum(int64_t{5}), 5);
    EXPECT_EQ(local->all_reduce_max(int64_t{7}), 7);
    EXPECT_DOUBLE_EQ(local->all_reduce_sum(2.5), 2.5);
    local->barrier();
    std::string s = "x";
    local->broadcast(s, 0);
    EXPECT_EQ(local->all_gather(s), std::vector<std::string>{"x"});
  }
  make_communicator("mpi", torch::Device(torch::kCPU))->barrier();
}

// The MPI backend reads host memory: a tensor on any other device (meta here; CUDA in
// tests/cuda/nccl_test.cpp) is refused by name, never handed to MPI as a pointer.
TEST(MpiComm, NonCpuTensorsAreRefusedByTheMpiBackend) {
  auto c = make_communicator("mpi", torch::Device(torch::kCPU));
  auto t = torch::zeros({2});
  EXPECT_NO_THROW(c->all_reduce_sum(t));
  auto elsewhere = torch::zeros({2}, torch::Device(torch::kMeta));
  try {
    c->all_reduce_sum(elsewhere);
    ADD_FAILURE() << "a meta-device tensor was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("meta"), std::string::npos) << e.what();
  }
  EXPECT_THROW(c->broadcast(elsewhere, 0), std::exception);
  EXPECT_THROW(c->all_gather(elsewhere), std::exception);
  EXPECT_THROW(make_communicator("nccl", torch::Device(torch::kCPU)), std::exception);
}

}  // namespace
}  // namespace scorch::dist
