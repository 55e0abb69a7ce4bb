// Points end to end through the commands: a synthetic mixture, scorch train with the MLP, scorch sample
// writing float32 points, a resumed farm, and the refusals.
#include <gtest/gtest.h>

#include "data/dataset.h"
#include "support/run.h"

namespace scorch {
namespace points_cmd_test {

TEST(PointsCommands, TrainAndSampleAMixture) {
  const auto dir = test::temp_dir("points-cmd");
  const auto bin = "cd " + dir + " && OMP_NUM_THREADS=1 " + test::scorch_bin();
  auto r = test::run(bin + " data synth mixture --preset pitfall --count 2000 --out data 2>&1");
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::run(bin + " train --config " + test::source_dir() +
                    "/configs/small/mixture_mlp.yaml --set data.path=data --set training.n_iters=40 "
                    "--set training.log_freq=20 --set model.num_scales=50 --workdir run 2>&1",
                300);
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::run(bin + " sample --ckpt run --num 150 --batch 100 --out s --test-die-after 1 2>&1", 300);
  ASSERT_NE(r.code, 0) << "the farm was meant to die after its first batch";
  r = test::run(bin + " sample --ckpt run --num 150 --batch 100 --out s 2>&1", 300);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1 batches resumed"), std::string::npos) << r.output;
  data::Dataset s(dir + "/s");
  EXPECT_EQ(s.manifest().kind, "points");
  EXPECT_EQ(s.manifest().dtype, "float32");
  EXPECT_EQ(s.manifest().shape, (std::vector<int64_t>{2}));
  std::vector<int64_t> all(150);
  for (int64_t i = 0; i < 150; ++i) all[i] = i;
  const auto points = s.read_items(all);  // (150, 2) float32
  EXPECT_EQ(points.sizes(), (std::vector<int64_t>{150, 2}));
  EXPECT_TRUE(torch::isfinite(points).all().item<bool>());
  EXPECT_GT(points.abs().max().item<double>(), 1.0) << "points, not clipped pixels";
  r = test::run(bin + " sample --ckpt run --num 10 --batch 10 --out s2 --png 2>&1", 300);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("there are no images to write as PNG"), std::string::npos) << r.output;
}

}  // namespace points_cmd_test
}  // namespace scorch
