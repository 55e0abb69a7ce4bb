// The single-process communicator: collectives are identities, and backend names are checked.
#include "core/dist/communicator.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace scorch::dist
