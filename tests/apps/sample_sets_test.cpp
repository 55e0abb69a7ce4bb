// What a `scorch sample` output holds is one sample set, whatever --num and the earlier runs were: inverse problems
// resume only into a farm of the same task, data and mask; their images, decoded latents and encodings do not
// depend on where --num cuts the last batch; options a subcommand would ignore, empty datasets and a likelihood
// --out that cannot be written are refused before any work.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/io/npz.h"
#include "data/format.h"
#include "support/run.h"
#include "support/tiny_checkpoint.h"

namespace scorch {
namespace sample_sets_test {

namespace fs = std::filesystem;

class SampleSets : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::temp_dir("samplesets");
    test::write_tiny_run(dir_ + "/run", "ve_tiny.yaml", {"model.num_scales=6", "model.nf=8"});
    auto r = test::run(test::scorch_bin() + " data synth shapes --out " + dir_ +
                       "/data --count 6 --resolution 16 --channels 3 --seed 1");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  static test::RunResult sample(const std::string& args) {
    return test::run(
        "cd " + dir_ + " && OMP_NUM_THREADS=1 " + test::scorch_bin() + " sample --ckpt run " + args + " 2>&1", 300);
  }
  static torch::Tensor floats(const std::string& out, const char* shard) {
    return io::npz::parse_npy(read_file(dir_ + "/" + out + "/float/" + shard), shard);
  }
  static std::string dir_;
};
std::string SampleSets::dir_;

// farm.json used to record the same settings for an inpainting, a colorization and a plain farm of one model: a
// resume with another mask, task or dataset mixed two sets in one directory.
TEST_F(SampleSets, AnInverseFarmResumesOnlyWithTheSameTaskDataAndMask) {
  const std::string inpaint = "inpaint --data data --num 4 --batch 2 --grid 0 --out inp";
  auto r = sample(inpaint + " --mask left --test-die-after 1");
  ASSERT_NE(r.code, 0) << "the farm was meant to die after its first batch";
  auto other = test::run(test::scorch_bin() + " data synth shapes --out " + dir_ +
                         "/other --count 6 --resolution 16 --channels 3 --seed 2");
  ASSERT_EQ(other.code, 0) << other.output;
  for (const std::string& args :
       std::vector<std::string>{inpaint + " --mask right", "colorize --data data --num 4 --batch 2 --grid 0 --out inp",
                                "--num 4 --batch 2 --grid 0 --out inp",
                                "inpaint --data other --num 4 --batch 2 --grid 0 --out inp --mask left"}) {
    r = sample(args);
    EXPECT_NE(r.code, 0) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("('task' differs"), std::string::npos) << args << "\n" << r.output;
    EXPECT_FALSE(fs::exists(dir_ + "/inp/shard-00001.h5")) << args;
  }
  r = sample(inpaint + " --mask left");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("(1 batches resumed"), std::string::npos) << r.output;
  // Finished, it is not "complete already" for another task either.
  r = sample("--num 4 --batch 2 --grid 0 --out inp");
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("('task' differs"), std::string::npos) << r.output;
  // --overwrite starts over without the inverse farm's input grid.
  r = sample("inpaint --data data --num 2 --batch 2 --out grids --mask left");
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_TRUE(fs::exists(dir_ + "/grids/input-grid.png"));
  r = sample("--num 2 --batch 2 --out grids --overwrite");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(fs::exists(dir_ + "/grids/input-grid.png"));
}

// The last batch used to be solved at its cut size, so its noise (and an adaptive solver's steps, shared by a
// batch's rows) depended on --num: the first 3 of 4 images came out otherwise than the first 3 of 3.
TEST_F(SampleSets, ImagesDoNotDependOnWhereNumEnds) {
  for (const char* n : {"3", "4"}) {
    auto r = sample(std::string("inpaint --data data --mask center --batch 4 --grid 0 --float --num ") + n +
                    " --out inp" + n);
    ASSERT_EQ(r.code, 0) << r.output;
  }
  auto three = floats("inp3", "shard-00000.npy"), four = floats("inp4", "shard-00000.npy");
  ASSERT_EQ(three.size(0), 3);
  EXPECT_TRUE(torch::equal(three, four.slice(0, 0, 3)));

  // Latents through the adaptive probability-flow ODE, both ways.
  const std::string ode = " --batch 4 --sampling.method ode --sampling.rtol 1e-3 --sampling.atol 1e-3";
  for (const char* n : {"3", "4"}) {
    auto r = sample(std::string("encode --data data --num ") + n + " --out z" + n + ".npy" + ode);
    ASSERT_EQ(r.code, 0) << r.output;
  }
  auto z3 = io::npz::parse_npy(read_file(dir_ + "/z3.npy"), "z3"),
       z4 = io::npz::parse_npy(read_file(dir_ + "/z4.npy"), "z4");
  ASSERT_EQ(z3.size(0), 3);
  EXPECT_TRUE(torch::equal(z3, z4.slice(0, 0, 3)));
  for (const char* n : {"3", "4"}) {
    auto r = sample(std::string("--latents z4.npy --grid 0 --float --num ") + n + " --out dec" + n + ode);
    ASSERT_EQ(r.code, 0) << r.output;
  }
  EXPECT_TRUE(torch::equal(floats("dec3", "shard-00000.npy"), floats("dec4", "shard-00000.npy").slice(0, 0, 3)));

  // Likelihood per image, the same way.
  for (const char* n : {"3", "4"}) {
    auto r = sample(std::string("likelihood --data data --num ") + n + " --out bpd" + n + ".json" + ode);
    ASSERT_EQ(r.code, 0) << r.output;
  }
  const auto b3 = nlohmann::json::parse(read_file(dir_ + "/bpd3.json")).at("per_image")[0];
  const auto b4 = nlohmann::json::parse(read_file(dir_ + "/bpd4.json")).at("per_image")[0];
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b3[i].get<double>(), b4[i].get<double>()) << i;
}

// Flags a subcommand has no use for were ignored without a word; a likelihood --out that cannot be written failed
// only after every ODE solve; an empty dataset gave NaN bits/dim.
TEST_F(SampleSets, WhatASubcommandCannotUseIsRefusedBeforeAnyWork) {
  auto r = sample("--num 2 --batch 2 --grid 0 --out z --float");
  ASSERT_EQ(r.code, 0) << r.output;
  auto npy = read_file(dir_ + "/z/float/shard-00000.npy");
  write_file_atomic(dir_ + "/lat.npy", npy);
  fs::create_directories(dir_ + "/a-dir");
  data::Manifest empty;
  empty.shape = {16, 16, 3};
  fs::create_directories(dir_ + "/empty");
  data::write_manifest(dir_ + "/empty", empty);
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"likelihood --data data --png", "scorch sample likelihood does not take --png"},
      {"likelihood --data data --grid 4", "scorch sample likelihood does not take --grid"},
      {"likelihood --data data --divergence exact --probes lat.npy", "--divergence exact takes no probes"},
      {"likelihood --data data --out a-dir", "--out a-dir is a directory"},
      {"encode --data data --out e.npy --latents lat.npy", "scorch sample encode does not take --latents"},
      {"encode --data data --out e.npy --float", "scorch sample encode does not take --float"},
      {"inpaint --data data --out i --latents lat.npy", "inpaint/colorize does not take --latents"},
      {"likelihood --data empty", "empty holds no images"},
      {"encode --data empty --out e.npy", "empty holds no images"},
      {"inpaint --data empty --out i", "empty holds no images"},
      // The spacing is what encode refuses, not sampling.noise_removal (which it sets itself).
      {"encode --data data --out e.npy --sampling.method ddim --sampling.spacing ddim_quad", "which no DDIM step"}};
  for (const auto& [args, message] : refused) {
    for (const std::string dry : {"", " --dry-run"}) {
      r = sample(args + dry);
      EXPECT_NE(r.code, 0) << args << dry << "\n" << r.output;
      EXPECT_NE(r.output.find(message), std::string::npos) << args << dry << "\n" << r.output;
      EXPECT_EQ(r.output.find("NFE"), std::string::npos) << "worked before refusing: " << args << "\n" << r.output;
    }
  }
  EXPECT_FALSE(fs::exists(dir_ + "/e.npy"));
  EXPECT_FALSE(fs::exists(dir_ + "/i"));
}

// --dry-run checks the output directory as the farm will: a farm of other settings there, and more batches than
// shard names.
TEST_F(SampleSets, DryRunRefusesWhatTheFarmWouldRefuse) {
  auto r = sample("--num 2 --batch 2 --grid 0 --out done");
  ASSERT_EQ(r.code, 0) << r.output;
  r = sample("--num 4 --batch 2 --out done --dry-run");
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("('num' differs: was 2, now 4)"), std::string::npos) << r.output;
  r = sample("--num 2 --batch 2 --out done --dry-run");
  EXPECT_EQ(r.code, 0) << r.output;
  r = sample("--num 100000 --batch 1 --out many --dry-run");
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("exceed the 5-digit shard numbering"), std::string::npos) << r.output;
  r = sample("inpaint --data data --mask left --num 2 --batch 2 --out done --dry-run");
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("('task' differs"), std::string::npos) << r.output;
}

}  // namespace sample_sets_test
}  // namespace scorch
