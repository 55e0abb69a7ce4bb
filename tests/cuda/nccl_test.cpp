// The NCCL backend with one rank: every dtype the trainer and FID reduce, dense non-contiguous layouts,
// the refusal of overlapping views, and synchronize().
#include "core/dist/communicator.h"
#include "core/error.h"
#include "cuda/cuda_test_util.h"

namespace scorch {
namespace {

using test::kCuda;

TEST(NcclOneRank, ReducesBroadcastsAndGathersEveryDtype) {
  SCORCH_REQUIRE_CUDA();
  auto comm = dist::make_communicator("nccl", kCuda);
  ASSERT_EQ(comm->backend(), "nccl");
  EXPECT_EQ(comm->device(), kCuda);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kFloat64, torch::kInt64}) {
    SCOPED_TRACE(c10::toString(dtype));
    auto t = torch::arange(1000, torch::TensorOptions(dtype).device(kCuda));
    auto want = t.clone();
    comm->all_reduce_sum(t);
    comm->broadcast(t, 0);
    auto g = comm->all_gather(t);
    comm->synchronize();
    EXPECT_TRUE(torch::equal(t.cpu(), want.cpu()));
    EXPECT_EQ(g.sizes(), (std::vector<int64_t>{1, 1000}));
    EXPECT_TRUE(torch::equal(g[0].cpu(), want.cpu()));
  }
}

TEST(NcclOneRank, AcceptsChannelsLastAndRefusesOverlappingViews) {
  SCORCH_REQUIRE_CUDA();
  auto comm = dist::make_communicator("nccl", kCuda);
  auto w = torch::randn({8, 4, 3, 3}, kCuda).contiguous(torch::MemoryFormat::ChannelsLast);
  ASSERT_FALSE(w.is_contiguous());
  auto want = w.clone();
  comm->all_reduce_sum(w);
  comm->broadcast(w, 0);
  comm->synchronize();
  EXPECT_TRUE(torch::equal(w.cpu(), want.cpu()));
  auto strided = torch::randn({8, 8}, kCuda).slice(1, 0, 8, 2);  // every other column: not dense
  EXPECT_THROW(comm->all_reduce_sum(strided), Error);
  auto cpu = torch::zeros({4});
  EXPECT_THROW(comm->all_reduce_sum(cpu), Error);
}

// The MPI backend is for host memory: a CUDA tensor is refused by name, never handed to MPI as a pointer.
TEST(MpiBackendOnCuda, RefusesCudaTensors) {
  SCORCH_REQUIRE_CUDA();
  auto comm = dist::make_communicator("mpi", torch::Device(torch::kCPU));
  auto t = torch::zeros({4}, kCuda);
  try {
    comm->all_reduce_sum(t);
    ADD_FAILURE() << "a CUDA tensor was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace scorch
