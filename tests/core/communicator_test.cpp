// The single-process communicator: collectives are identities, and backend names are checked. A process no
// launcher started runs without MPI until an MPI communicator asks for it.
#include "core/dist/communicator.h"

#include <gtest/gtest.h>

#include "core/dist/process.h"
#include "core/error.h"

namespace scorch::dist {
namespace {

TEST(LocalComm, CollectivesAreIdentities) {
  auto c = make_communicator("auto", torch::Device(torch::kCPU));
  ASSERT_EQ(c->world(), 1);
  EXPECT_EQ(c->backend(), "local");
  auto t = torch::arange(4, torch::kFloat32);
  c->all_reduce_sum(t);
  EXPECT_TRUE(torch::equal(t, torch::arange(4, torch::kFloat32)));
  EXPECT_EQ(c->all_gather(t).sizes(), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(c->all_reduce_sum(int64_t{7}), 7);
  EXPECT_EQ(c->all_gather(std::string("a")), std::vector<std::string>{"a"});
}

TEST(LocalComm, UnknownBackendIsNamed) {
  try {
    make_communicator("gloo", torch::Device(torch::kCPU));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown dist.backend 'gloo'"), std::string::npos) << e.what();
  }
}

// Open MPI's singleton start-up cost every command and test process about half a second. No other test of
// core_tests makes an MPI communicator, so MPI is off here in a whole-binary run too.
TEST(LocalComm, WithoutALauncherMpiStartsOnlyWhenAnMpiCommunicatorAsks) {
  if (info().launcher != "none") GTEST_SKIP() << "started by " << info().launcher;
  EXPECT_FALSE(mpi_active());
  EXPECT_EQ(info().world, 1);
  auto local = make_communicator("auto", torch::Device(torch::kCPU));
  local->barrier();
  EXPECT_FALSE(mpi_active());
  auto mpi = make_communicator("mpi", torch::Device(torch::kCPU));
  EXPECT_TRUE(mpi_active());
  EXPECT_EQ(mpi->world(), 1);
  auto t = torch::arange(4, torch::kFloat32);
  mpi->all_reduce_sum(t);
  EXPECT_TRUE(torch::equal(t, torch::arange(4, torch::kFloat32)));
  EXPECT_EQ(info().world, 1);
}

}  // namespace
}  // namespace scorch::dist
