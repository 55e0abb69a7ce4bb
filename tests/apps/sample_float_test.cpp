// scorch sample --float: each batch's samples as float32 before clipping, consistent with the 8-bit shards.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/io/npz.h"
#include "data/dataset.h"
#include "support/run.h"
#include "support/tiny_checkpoint.h"

namespace scorch {
namespace sample_float_test {

TEST(SampleFloat, FloatFilesHoldTheUnclippedSamplesOfEveryBatch) {
  const auto dir = test::temp_dir("samplefloat");
  // An untrained network: its samples overshoot [0, 1], which the 8-bit files cannot show.
  test::write_tiny_run(dir + "/run", "vp_tiny.yaml", {"model.num_scales=10"});
  const std::string cmd = "cd " + dir + " && OMP_NUM_THREADS=1 " + test::scorch_bin() +
                          " sample --ckpt run --num 6 --batch 4 --out s --float --sampling.method dpm_solver "
                          "--sampling.steps 5 2>&1";
  auto r = test::run(cmd, 300);
  ASSERT_EQ(r.code, 0) << r.output;
  std::vector<torch::Tensor> parts;
  for (auto name : {"shard-00000.npy", "shard-00001.npy"})
    parts.push_back(io::npz::parse_npy(read_file(dir + "/s/float/" + name), name));
  EXPECT_EQ(parts[0].sizes(), torch::IntArrayRef({4, 3, 16, 16}));
  EXPECT_EQ(parts[1].sizes(), torch::IntArrayRef({2, 3, 16, 16}));  // the last batch cut to --num
  const auto f = torch::cat(parts);                                 // (6, C, H, W)
  EXPECT_TRUE((f < 0).any().item<bool>() || (f > 1).any().item<bool>()) << "nothing outside [0, 1] to keep";
  std::vector<int64_t> idx{0, 1, 2, 3, 4, 5};
  const auto u8 = data::Dataset(dir + "/s").read_items(idx).to(torch::kFloat32).permute({0, 3, 1, 2});
  EXPECT_TRUE(torch::equal(u8, (f * 255.0).clamp(0, 255).floor())) << "the 8-bit shards are not the float files";
  // A resume with the flag flipped is another sample set.
  auto again = test::run("cd " + dir + " && " + test::scorch_bin() + " sample --ckpt run --num 6 --batch 4 --out s " +
                             "--sampling.method dpm_solver --sampling.steps 5 2>&1",
                         300);
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.output.find("'float' differs"), std::string::npos) << again.output;
}

}  // namespace sample_float_test
}  // namespace scorch
