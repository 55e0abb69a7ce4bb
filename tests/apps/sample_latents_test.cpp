// scorch sample encode and --latents: the ODE and DDIM round trips return the images, the file is checked, and
// only deterministic samplers accept latents.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"
#include "core/io/npz.h"
#include "data/dataset.h"
#include "support/run.h"
#include "support/tiny_checkpoint.h"

namespace scorch {
namespace sample_latents_test {

struct Scratch {
  std::string dir, scorch;
  Scratch() : dir(test::temp_dir("latents")), scorch(test::scorch_bin()) {
    test::write_tiny_run(dir + "/run", "vp_tiny.yaml", {"model.num_scales=20"});
    auto r = test::run(scorch + " data synth shapes --out " + dir + "/data --count 8 --resolution 16 --channels 3");
    EXPECT_EQ(r.code, 0) << r.output;
  }
  test::RunResult sample(const std::string& args, int ranks = 0) {
    const std::string launch = ranks == 0 ? "" : "mpirun -np " + std::to_string(ranks) + " --oversubscribe ";
    return test::run("cd " + dir + " && OMP_NUM_THREADS=1 " + launch + scorch + " sample --ckpt run " + args + " 2>&1",
                     300);
  }
};

TEST(SampleLatents, EncodeThenDecodeWithTheOdeReturnsTheImages) {
  Scratch s;
  auto enc = s.sample("encode --data data --batch 4 --out lat.npy");
  ASSERT_EQ(enc.code, 0) << enc.output;
  // The config samples with pc, which has no inverse: the log says what encodes instead.
  EXPECT_NE(enc.output.find("sampling.method pc has no inverse; the probability-flow ODE (rk45) encodes"),
            std::string::npos)
      << enc.output;
  auto dec = s.sample("--latents lat.npy --batch 4 --out dec --sampling.method ode --sampling.noise_removal false");
  ASSERT_EQ(dec.code, 0) << dec.output;
  EXPECT_NE(dec.output.find("wrote 8 images"), std::string::npos) << dec.output;
  std::vector<int64_t> idx{0, 1, 2, 3, 4, 5, 6, 7};
  auto a = data::Dataset(s.dir + "/data").read_items(idx).to(torch::kInt32);
  auto b = data::Dataset(s.dir + "/dec").read_items(idx).to(torch::kInt32);
  // RK45 at 1e-5 both ways leaves ~1e-4 of a level; storing truncates, so a value just under k reads k - 1.
  EXPECT_LE((a - b).abs().max().item<int>(), 1);
  // The latents are not the images: the forward ODE moved them to the prior's scale.
  auto lat = io::npz::parse_npy(read_file(s.dir + "/lat.npy"), "lat.npy");
  EXPECT_EQ(lat.sizes(), torch::IntArrayRef({8, 3, 16, 16}));
}

// DDIM inversion and DDIM on the same grid are inverse maps to first order in the step: 4x the steps must
// bring the decoded images (as floats, --float) about 4x closer to the data (seen: 3.2e-4 of the [0, 1] range
// at 20 steps, 8.1e-5 at 80).
TEST(SampleLatents, DdimInversionThenDdimReturnsTheImagesToFirstOrder) {
  Scratch s;
  std::vector<int64_t> idx{0, 1, 2, 3, 4, 5, 6, 7};
  // (N, H, W, C) bytes -> (N, C, H, W) in [0, 1], the float samples' layout and units.
  auto a = data::Dataset(s.dir + "/data").read_items(idx).permute({0, 3, 1, 2}).to(torch::kFloat32) / 255.0;
  std::vector<double> err;
  for (int steps : {20, 80}) {
    const std::string n = std::to_string(steps);
    const std::string ddim = " --sampling.method ddim --sampling.spacing logsnr --sampling.steps " + n;
    auto enc = s.sample("encode --data data --batch 8 --out lat" + n + ".npy" + ddim);
    ASSERT_EQ(enc.code, 0) << enc.output;
    EXPECT_NE(enc.output.find("mean NFE per batch " + n + ".0"), std::string::npos) << enc.output;
    auto dec = s.sample("--latents lat" + n + ".npy --batch 8 --float --out dec" + n + ddim +
                        " --sampling.noise_removal false");
    ASSERT_EQ(dec.code, 0) << dec.output;
    auto b = io::npz::parse_npy(read_file(s.dir + "/dec" + n + "/float/shard-00000.npy"), "decoded");
    err.push_back((a - b).abs().max().item<double>());
  }
  std::printf("DDIM round trip: at most %.3g off with 20 steps, %.3g with 80 (of the [0, 1] range)\n", err[0], err[1]);
  EXPECT_LT(err[1], err[0] / 2.5);
  EXPECT_LT(err[1], 1e-3);
  auto eta =
      s.sample("encode --data data --batch 4 --out e.npy --sampling.method ddim --sampling.ddim_eta 1 --dry-run");
  EXPECT_NE(eta.code, 0);
  EXPECT_NE(eta.output.find("sampling.ddim_eta = 1 draws noise"), std::string::npos) << eta.output;
}

// Encoding hands batches to whichever rank asks and gathers them back in dataset order: one rank and two
// write the same latents, byte for byte, through the ODE and through DDIM inversion.
TEST(SampleLatents, OneAndTwoRanksWriteTheSameLatents) {
  Scratch s;
  for (const std::string method : {"", " --sampling.method ddim --sampling.steps 6"}) {
    SCOPED_TRACE(method);
    auto one = s.sample("encode --data data --batch 2 --out one.npy" + method);
    ASSERT_EQ(one.code, 0) << one.output;
    auto two = s.sample("encode --data data --batch 2 --out two.npy" + method, 2);
    ASSERT_EQ(two.code, 0) << two.output;
    EXPECT_NE(two.output.find("wrote the latents of 8 images"), std::string::npos) << two.output;
    const auto a = read_file(s.dir + "/one.npy"), b = read_file(s.dir + "/two.npy");
    EXPECT_EQ(a.size(), b.size());
    EXPECT_TRUE(a == b) << "the two-rank latents differ from the one-rank ones";
  }
}

TEST(SampleLatents, StochasticSamplersAndBadFilesAreRefused) {
  Scratch s;
  ASSERT_EQ(s.sample("encode --data data --num 4 --batch 4 --out lat.npy").code, 0);
  // Refused before the farm writes its plan, and by --dry-run: the plan of a refused sampler made the corrected
  // command a "resume with different settings".
  auto dry = s.sample("--latents lat.npy --batch 4 --out pc --dry-run");
  EXPECT_NE(dry.output.find("sampling.method pc draws noise"), std::string::npos) << dry.output;
  auto pc = s.sample("--latents lat.npy --batch 4 --out pc");
  EXPECT_NE(pc.code, 0);
  EXPECT_NE(pc.output.find("sampling.method pc draws noise"), std::string::npos) << pc.output;
  EXPECT_FALSE(std::filesystem::exists(s.dir + "/pc/farm.json")) << pc.output;
  EXPECT_NE(s.sample("--latents lat.npy --batch 2 --out pc --sampling.method ode --sampling.rtol 1e-2 "
                     "--sampling.atol 1e-2 --test-die-after 1")
                .code,
            0);
  // Resumed through another spelling of the same file's path: the same latents.
  auto resumed = s.sample(
      "--latents ./lat.npy --batch 2 --out pc --sampling.method ode --sampling.rtol 1e-2 "
      "--sampling.atol 1e-2");
  EXPECT_EQ(resumed.code, 0) << resumed.output;
  auto eta = s.sample("--latents lat.npy --batch 4 --out ddim --sampling.method ddim --sampling.ddim_eta 0.5");
  EXPECT_NE(eta.output.find("with ddim_eta > 0 draws noise"), std::string::npos) << eta.output;
  auto more = s.sample("--latents lat.npy --num 5 --batch 4 --out more --sampling.method ode");
  EXPECT_NE(more.output.find("--num 5 but lat.npy holds 4 latents"), std::string::npos) << more.output;
  std::ofstream(s.dir + "/bad.txt") << "x";
  auto ext = s.sample("--latents bad.txt --batch 4 --out bad --sampling.method ode");
  EXPECT_NE(ext.output.find("expected a .npy or .safetensors file"), std::string::npos) << ext.output;
  auto ok = s.sample("--latents lat.npy --batch 2 --out ok --sampling.method dpm_solver --sampling.steps 5");
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_NE(ok.output.find("wrote 4 images"), std::string::npos) << ok.output;
}

}  // namespace sample_latents_test
}  // namespace scorch
