// The trainer waits for each step's gradient reduction to finish under the watchdog (NCCL queues it).
#include <gtest/gtest.h>

#include "core/dist/mpi_comm.h"
#include "core/error.h"
#include "trainer/trainer_test_util.h"

namespace scorch {
namespace {

// A one-rank communicator whose queued collectives "fail" when the trainer waits for them, as NCCL reports
// a dead peer: the step must surface the error, not carry on to a blocking call that would hang.
class FailingSyncComm : public dist::LocalCommunicator {
 public:
  explicit FailingSyncComm(int fail_at) : fail_at_(fail_at) {}
  void synchronize() override {
    if (++calls == fail_at_) throw Error(__FILE__, __LINE__, "asynchronous error on rank 0 (test)");
  }
  int calls = 0;

 private:
  int fail_at_;
};

TEST(TrainerComm, WaitsForEachStepsReductionAndSurfacesItsErrors) {
  const auto root = test::temp_dir("trainer-sync");
  const auto data = test::gaussian_dataset(root + "/data", 32);
  auto counting = std::make_shared<FailingSyncComm>(0);
  trainer::Trainer(test::tiny_train_config(data, {"training.n_iters=3"}), root + "/ok", counting, torch::kCPU).run();
  EXPECT_EQ(counting->calls, 3);

  auto failing = std::make_shared<FailingSyncComm>(2);
  trainer::Trainer t(test::tiny_train_config(data, {"training.n_iters=3"}), root + "/fail", failing, torch::kCPU);
  EXPECT_THROW(t.run(), Error);
  EXPECT_EQ(t.step(), 1);
}

}  // namespace
}  // namespace scorch
