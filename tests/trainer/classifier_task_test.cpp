// training.task: classifier: the noise-conditional Wide-ResNet learns the shapes' classes, its evaluation
// logs accuracy by noise band, and the task's refusals.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "data/synth.h"
#include "support/checks.h"
#include "support/run.h"
#include "trainer/trainer.h"
#include "trainer/trainer_test_util.h"

namespace scorch {
namespace {

Config classifier_config(const std::string& train, const std::string& test, const std::vector<std::string>& extra) {
  std::vector<std::string> sets = {"data.path=" + train, "data.eval_path=" + test, "data.reader_threads=1"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return Config::resolve(test::source_dir() + "/configs/small/shapes_classifier.yaml", sets);
}

// 400 steps of 128 on 2,000 shapes: at the least noise (band 0, sigma 0.01-0.04) the classes are plain to see
// and the accuracy on held-out shapes passes 0.8 (chance: 0.2); at the most (band 3, sigma 4-16) the shapes
// drown and it stays lower. 32 examples per band per evaluation.
TEST(ClassifierTask, LearnsTheShapesAndLogsAccuracyByNoiseBand) {
  const auto root = test::temp_dir("classifier-task");
  dist::LocalCommunicator comm;
  data::synth_shapes(2000, 16, 1, 0, "test", {root + "/train", 0, true}, comm);
  data::synth_shapes(256, 16, 1, 1, "test", {root + "/test", 0, true}, comm);
  trainer::Trainer t(classifier_config(root + "/train", root + "/test",
                                       {"training.n_iters=400", "training.batch_size=128", "training.eval_freq=200",
                                        "training.log_freq=200"}),
                     root + "/run", test::local(), torch::kCPU);
  EXPECT_EQ(t.run().step, 400);
  std::ifstream in(root + "/run/metrics.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 2u);
  const auto& last = rows.back();
  for (const char* key : {"eval_acc", "eval_acc_band0", "eval_acc_band1", "eval_acc_band2", "eval_acc_band3"})
    ASSERT_TRUE(last.contains(key) && last[key].is_number()) << key << " in " << last.dump();
  std::printf("accuracy by noise band at step 400: %.3f %.3f %.3f %.3f (all %.3f); loss %.3f\n",
              last["eval_acc_band0"].get<double>(), last["eval_acc_band1"].get<double>(),
              last["eval_acc_band2"].get<double>(), last["eval_acc_band3"].get<double>(),
              last["eval_acc"].get<double>(), last["loss"].get<double>());
  EXPECT_GT(last["eval_acc_band0"].get<double>(), 0.8);
  EXPECT_GT(last["eval_acc_band0"].get<double>(), last["eval_acc_band3"].get<double>());
  EXPECT_LT(last["loss"].get<double>(), rows.front()["loss"].get<double>());
}

TEST(ClassifierTask, RefusesUnlabelledDataAndMismatchedSettings) {
  const auto root = test::temp_dir("classifier-refusals");
  dist::LocalCommunicator comm;
  data::synth_shapes(64, 16, 1, 0, "test", {root + "/shapes", 0, true}, comm);
  const auto unlabelled = test::gaussian_dataset(root + "/gauss", 64);
  const auto run = [&](const Config& c) { trainer::Trainer t(c, root + "/run", test::local(), torch::kCPU); };
  test::expect_error_containing([&] { run(classifier_config(unlabelled, unlabelled, {"data.image_size=8"})); },
                                "needs labels, and training dataset " + unlabelled + " has none");
  test::expect_error_containing([&] { run(classifier_config(root + "/shapes", "", {"training.task=score"})); },
                                "the classifier network trains only as the classifier task");
  test::expect_error_containing([&] { run(classifier_config(root + "/shapes", "", {"training.loss=ssm"})); },
                                "is a score model's objective");
  // Labels are checked as batches arrive: the shapes have 5 classes.
  test::expect_error_containing(
      [&] {
        trainer::Trainer t(classifier_config(root + "/shapes", "", {"model.num_classes=3", "training.n_iters=2"}),
                           root + "/run3", test::local(), torch::kCPU);
        t.run();
      },
      "outside [0, model.num_classes = 3)");
}

}  // namespace
}  // namespace scorch
