// TensorBoard event files as the tensorboard package reads them: scalars, images, and a resumed run's
// START that hides what a killed attempt logged after its checkpoint.
#include "core/io/tensorboard.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/prerequisite.h"
#include "support/run.h"
#include "support/tensorboard_read.h"

namespace scorch {
namespace {

TEST(TensorBoard, ScalarsAndImagesReadBackInTensorBoard) {
  SCORCH_REQUIRE_PREREQUISITE(test::have_tensorboard(), "the tensorboard package reads the event files");
  const auto dir = test::temp_dir("tb") + "/tb";
  {
    io::EventWriter w(dir);
    for (int64_t step = 1; step <= 3; ++step) w.scalar("loss", step, 0.5 * static_cast<double>(step));
    w.scalar("lr", 3, 2e-4);
    io::Image image{2, 3, 3, std::vector<uint8_t>(18, 200)};
    w.image("samples", 3, image);
    w.flush();
  }
  const auto tb = test::read_tensorboard(dir);
  ASSERT_FALSE(tb.is_null());
  EXPECT_EQ(tb["files"], 1);
  EXPECT_EQ(tb["scalars"]["loss"], nlohmann::json::parse("[[1, 0.5], [2, 1.0], [3, 1.5]]"));
  ASSERT_EQ(tb["scalars"]["lr"].size(), 1u);
  EXPECT_NEAR(tb["scalars"]["lr"][0][1].get<double>(), 2e-4, 1e-11);  // stored as float32
  EXPECT_EQ(tb["images"]["samples"], nlohmann::json::parse("[[3, 3, 2]]"));
}

TEST(TensorBoard, AResumedWriterHidesTheOrphanedStepsOfTheKilledAttempt) {
  SCORCH_REQUIRE_PREREQUISITE(test::have_tensorboard(), "the tensorboard package reads the event files");
  const auto dir = test::temp_dir("tb_resume") + "/tb";
  {
    io::EventWriter killed(dir, 1);  // logged steps 1..5, last checkpoint at step 3
    for (int64_t step = 1; step <= 5; ++step) killed.scalar("loss", step, 10.0 + static_cast<double>(step));
    killed.flush();
  }
  {
    io::EventWriter resumed(dir, 4);  // resumes from step 3
    for (int64_t step = 4; step <= 6; ++step) resumed.scalar("loss", step, 20.0 + static_cast<double>(step));
    resumed.flush();
  }
  const auto tb = test::read_tensorboard(dir);
  ASSERT_FALSE(tb.is_null());
  EXPECT_EQ(tb["files"], 2);
  EXPECT_EQ(tb["scalars"]["loss"], nlohmann::json::parse("[[1, 11], [2, 12], [3, 13], [4, 24], [5, 25], [6, 26]]"));
}

}  // namespace
}  // namespace scorch
