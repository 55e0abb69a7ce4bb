// The resume check follows each key's scope: network and objective keys must match the checkpoint, a
// training hyperparameter may change with a warning, a runtime setting (model.grad_checkpointing) freely.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/dist/mpi_comm.h"
#include "core/error.h"
#include "support/checks.h"
#include "support/log_capture.h"
#include "trainer/trainer_test_util.h"

namespace scorch {
namespace {

using test::local;

using test::gaussian_dataset;
using test::tiny_train_config;

class TrainerState : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::temp_dir("resumescope");
    data_ = gaussian_dataset(root_ + "/data", 32);
    trainer::Trainer(tiny_train_config(data_, {"training.n_iters=2"}), root_ + "/run", local(), torch::kCPU).run();
  }
  // Resumes the 2-step run with `changed` on top; returns the log.
  std::string resume_with(const std::string& changed) {
    return test::log_of(
        [&] {
          trainer::Trainer(tiny_train_config(data_, {"training.n_iters=4", changed}), root_ + "/run", local(),
                           torch::kCPU);
        },
        "[%l] %v");
  }
  std::string root_, data_;
};

TEST_F(TrainerState, RuntimeKeysChangeFreely) {
  const auto log = resume_with("model.grad_checkpointing=true");
  EXPECT_NE(log.find("[info] resume: model.grad_checkpointing changed from false to true"), std::string::npos) << log;
}

TEST_F(TrainerState, TrainingKeysChangeWithAWarning) {
  auto log = resume_with("model.dropout=0.2");
  EXPECT_NE(log.find("[warning] resume: model.dropout changed from 0 to 0.2"), std::string::npos) << log;
  log = resume_with("model.ema_rate=0.99");
  EXPECT_NE(log.find("[warning] resume: model.ema_rate changed from 0.999 to 0.99"), std::string::npos) << log;
}

// images_seen counts each step with the batch it had: it was step × today's batch size, so a resume with
// another batch size rewrote the history of the steps before.
TEST_F(TrainerState, ImagesSeenCountsEveryStepWithItsOwnBatch) {
  trainer::Trainer(tiny_train_config(data_, {"training.n_iters=4", "training.batch_size=4"}), root_ + "/run", local(),
                   torch::kCPU)
      .run();
  const auto meta = nlohmann::json::parse(read_file(root_ + "/run/checkpoints/latest/meta.json"));
  EXPECT_EQ(meta["step"], 4);
  EXPECT_EQ(meta["images_seen"], 2 * 8 + 2 * 4);
  const auto rows = read_file(root_ + "/run/metrics.jsonl");
  const auto last = nlohmann::json::parse(rows.substr(rows.rfind('\n', rows.size() - 2) + 1));
  EXPECT_EQ(last["step"], 4);
  EXPECT_EQ(last["images_seen"], 2 * 8 + 2 * 4);
}

TEST_F(TrainerState, NetworkAndObjectiveKeysMustMatch) {
  for (const std::string changed : {"model.nf=16", "model.sigma_max=20", "training.sde=vpsde"}) {
    try {
      resume_with(changed);
      ADD_FAILURE() << "resumed with " << changed;
    } catch (const trainer::ResumeMismatch& e) {
      const std::string key = changed.substr(0, changed.find('='));
      EXPECT_NE(e.message().find(key + " = " + changed.substr(changed.find('=') + 1)), std::string::npos)
          << e.message();
    }
  }
}

}  // namespace
}  // namespace scorch
