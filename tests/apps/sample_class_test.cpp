// scorch sample --class --classifier: class-conditional farms, their labels, resume identity and refusals.
// Untrained networks: what is checked here is the plumbing (the guidance's arithmetic is checked with an
// exact classifier in tests/sampler/mixture_sampling_test.cpp).
#include <gtest/gtest.h>

#include "data/dataset.h"
#include "support/run.h"
#include "support/tiny_checkpoint.h"

namespace scorch {
namespace sample_class_test {

// A classifier for ve_tiny's noise and images: 16x16 RGB, sigma 0.01-28, 100 levels, 5 classes.
const std::vector<std::string> kClassifierSets = {"data.num_channels=3", "model.input_mean=[0.5, 0.5, 0.5]",
                                                  "model.input_std=[0.25, 0.25, 0.25]", "model.sigma_max=28.0"};

TEST(SampleClass, GuidedFarmsStoreTheirLabelsAndResumeOnlyAlike) {
  const auto dir = test::temp_dir("sample-class");
  test::write_tiny_run(dir + "/run", "ve_tiny.yaml", {"model.num_scales=6"});
  test::write_tiny_run(dir + "/cls", "shapes_classifier.yaml", kClassifierSets);
  const auto bin = "cd " + dir + " && OMP_NUM_THREADS=1 " + test::scorch_bin() +
                   " sample --ckpt run --num 6 --batch 4 --out s --grid 0 --classifier cls --class 1,3";
  auto r = test::run(bin + " --test-die-after 1 2>&1", 300);
  ASSERT_NE(r.code, 0) << "the farm was meant to die after its first batch";
  r = test::run(bin + " --classifier-scale 2 2>&1", 300);
  EXPECT_NE(r.code, 0) << "a resume with another guidance scale is another sample set";
  EXPECT_NE(r.output.find("differs"), std::string::npos) << r.output;
  r = test::run(bin + " 2>&1", 300);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1 batches resumed"), std::string::npos) << r.output;
  data::Dataset s(dir + "/s");
  ASSERT_TRUE(s.manifest().has_labels);
  std::vector<int64_t> all{0, 1, 2, 3, 4, 5};
  const auto labels = s.read_labels(all);
  EXPECT_TRUE(torch::equal(labels, torch::tensor({1, 3, 1, 3, 1, 3}, torch::kInt64))) << labels;
  r = test::run("cd " + dir + " && " + test::scorch_bin() + " data info s 2>&1");
  EXPECT_NE(r.output.find("classes"), std::string::npos) << r.output;

  // The same farm without guidance differs: the classifier's gradient moved the samples.
  r = test::run("cd " + dir + " && OMP_NUM_THREADS=1 " + test::scorch_bin() +
                    " sample --ckpt run --num 6 --batch 4 --out plain --grid 0 2>&1",
                300);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto guided = s.read_items(all), plain = data::Dataset(dir + "/plain").read_items(all);
  EXPECT_FALSE(torch::equal(guided, plain));
}

TEST(SampleClass, RefusesMismatchedClassifiersAndMissingHalves) {
  const auto dir = test::temp_dir("sample-class-refusals");
  test::write_tiny_run(dir + "/run", "ve_tiny.yaml", {"model.num_scales=6"});
  test::write_tiny_run(dir + "/cls", "shapes_classifier.yaml", kClassifierSets);
  auto other = kClassifierSets;
  other.push_back("model.sigma_max=16.0");
  test::write_tiny_run(dir + "/cls16", "shapes_classifier.yaml", other);
  const auto bin = "cd " + dir + " && " + test::scorch_bin() + " sample --ckpt run --num 2 --batch 2 --grid 0 ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--out a --class 1", "needs the classes (--class) and the classifier (--classifier)"},
      {"--out b --classifier cls --class 5", "--class 5: the classifier"},
      {"--out c --classifier cls16 --class 1", "has model.sigma_max = 16"},
      {"--out d --classifier run --class 1", "is a checkpoint of training.task score, not a classifier"},
      {"--out e --classifier cls --class 1 --sampling.method ddim", "not sampling.method ddim"},
      {"--out g --classifier cls --class 1 --classifier-scale inf", "--classifier-scale must be a finite number"},
      {"--out h --classifier-scale 2", "sampling without --classifier does not take --classifier-scale"},
      {"--out i --classifier cls --class ''", "--class: must be a count of 0 or more, got "}};  // it was class 0
  for (const auto& [args, message] : cases) {
    auto r = test::run(bin + args + " 2>&1", 120);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
  }
  // --dry-run refuses the same arguments before printing, and passes a classifier that fits.
  for (const auto& [args, message] : cases) {
    auto r = test::run(bin + args + " --dry-run 2>&1", 120);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(r.output.find("sampling:"), std::string::npos) << "printed a config it refused: " << args;
  }
  auto r = test::run(bin + "--out f --classifier cls --class 1 --dry-run 2>&1", 120);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("sampling:"), std::string::npos) << r.output;
  // The classifier as the score model: named, not LibTorch's shape mismatch deep in the sampler.
  for (const std::string sub : {"", "likelihood --data data "}) {
    r = test::run(
        "cd " + dir + " && " + test::scorch_bin() + " sample --ckpt cls " + sub + "--num 2 --batch 2 --out wrong 2>&1",
        120);
    EXPECT_NE(r.code, 0) << sub;
    EXPECT_NE(r.output.find("--ckpt " + dir +
                            "/cls/checkpoints/step-000000001 is a checkpoint of training.task "
                            "classifier, not a score model"),
              std::string::npos)
        << sub << "\n"
        << r.output;
  }
}

// A classifier trained again at the same path guides another sample set: a farm of the first is refused, as one
// of a retrained score model is (its weights' digest is in farm.json).
TEST(SampleClass, AFarmGuidedByAClassifierRetrainedAtTheSamePathIsRefused) {
  const auto dir = test::temp_dir("sample-class-retrained");
  test::write_tiny_run(dir + "/run", "ve_tiny.yaml", {"model.num_scales=6"});
  test::write_tiny_run(dir + "/cls", "shapes_classifier.yaml", kClassifierSets);
  const auto bin = "cd " + dir + " && OMP_NUM_THREADS=1 " + test::scorch_bin() +
                   " sample --ckpt run --num 4 --batch 2 --out s --grid 0 --classifier cls --class 1,3";
  auto r = test::run(bin + " --test-die-after 1 2>&1", 300);
  ASSERT_NE(r.code, 0) << "the farm was meant to die after its first batch";
  test::write_tiny_run(dir + "/cls", "shapes_classifier.yaml", kClassifierSets, 1, 7);
  r = test::run(bin + " 2>&1", 300);
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("('model' differs"), std::string::npos) << r.output;
}

}  // namespace sample_class_test
}  // namespace scorch
