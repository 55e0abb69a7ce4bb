// Feature moments: a rank that got no images still reduces tensors on its communicator's device.
#include "eval/feature_moments.h"

#include <gtest/gtest.h>

#include "core/dist/communicator.h"

namespace scorch::eval {
namespace {

// A one-rank communicator that claims to reduce on the meta device and refuses tensors elsewhere, as the
// NCCL backend refuses CPU tensors.
class MetaDeviceComm : public dist::Communicator {
 public:
  MetaDeviceComm() : Communicator(0, 1) {}
  std::string backend() const override { return "meta"; }
  torch::Device device() const override { return torch::Device(torch::kMeta); }
  void all_reduce_sum(torch::Tensor& t) override {
    if (t.device() != device()) throw std::runtime_error("tensor on " + t.device().str() + ", expected meta");
    ++reduced;
  }
  void broadcast(torch::Tensor&, int) override {}
  torch::Tensor all_gather(const torch::Tensor& t) override { return t.unsqueeze(0); }
  using Communicator::all_gather;
  using Communicator::all_reduce_sum;
  using Communicator::broadcast;
  int reduced = 0;
};

TEST(FeatureMoments, ARankWithoutImagesReducesOnTheCommunicatorsDevice) {
  MetaDeviceComm comm;
  FeatureMoments moments(2048);
  EXPECT_NO_THROW(moments.all_reduce(comm));
  EXPECT_EQ(comm.reduced, 2);
}

}  // namespace
}  // namespace scorch::eval
