// scorch sample encode and --latents: the ODE round trip returns the images, the file is checked, and only
// deterministic samplers accept latents.
#include <gtest/gtest.h>

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
  test::RunResult sample(const std::string& args) {
    return test::run("cd " + dir + " && OMP_NUM_THREADS=1 " + scorch + " sample --ckpt run " + args + " 2>&1", 300);
  }
};

TEST(SampleLatents, EncodeThenDecodeWithTheOdeReturnsTheImages) {
  Scratch s;
  auto enc = s.sample("encode --data data --batch 4 --out lat.npy");
  ASSERT_EQ(enc.code, 0) << enc.output;
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

TEST(SampleLatents, StochasticSamplersAndBadFilesAreRefused) {
  Scratch s;
  ASSERT_EQ(s.sample("encode --data data --num 4 --batch 4 --out lat.npy").code, 0);
  auto pc = s.sample("--latents lat.npy --batch 4 --out pc");
  EXPECT_NE(pc.code, 0);
  EXPECT_NE(pc.output.find("sampling.method pc draws noise"), std::string::npos) << pc.output;
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
