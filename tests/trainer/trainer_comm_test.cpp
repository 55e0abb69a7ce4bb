// The trainer waits for the gradient reductions NCCL queues under the watchdog: each step (synced) or each
// log interval (sync-free).
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
  const std::vector<std::string> synced = {"training.n_iters=3", "training.sync_free=false"};
  auto counting = std::make_shared<FailingSyncComm>(0);
  trainer::Trainer(test::tiny_train_config(data, synced), root + "/ok", counting, torch::kCPU).run();
  EXPECT_EQ(counting->calls, 3);

  auto failing = std::make_shared<FailingSyncComm>(2);
  trainer::Trainer t(test::tiny_train_config(data, synced), root + "/fail", failing, torch::kCPU);
  EXPECT_THROW(t.run(), Error);
  EXPECT_EQ(t.step(), 1);
}

// Sync-free, the host waits once per log interval (log_freq 2 here), and an error surfaces there.
TEST(TrainerComm, SyncFreeWaitsOncePerLogIntervalAndSurfacesItsErrors) {
  const auto root = test::temp_dir("trainer-syncfree");
  const auto data = test::gaussian_dataset(root + "/data", 32);
  const std::vector<std::string> sets = {"training.n_iters=5", "training.log_freq=2"};
  auto counting = std::make_shared<FailingSyncComm>(0);
  trainer::Trainer(test::tiny_train_config(data, sets), root + "/ok", counting, torch::kCPU).run();
  EXPECT_EQ(counting->calls, 3);  // after steps 2, 4 and the last

  auto failing = std::make_shared<FailingSyncComm>(1);
  trainer::Trainer t(test::tiny_train_config(data, sets), root + "/fail", failing, torch::kCPU);
  EXPECT_THROW(t.run(), Error);
  EXPECT_EQ(t.step(), 2);
}

}  // namespace
}  // namespace scorch
