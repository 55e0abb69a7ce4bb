// scorch sample likelihood --dequant/--probes: given noise makes bits/dim repeatable across runs and rank
// counts, and is what the estimate uses (another probe gives another estimate).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/io/npz.h"
#include "support/run.h"
#include "support/tiny_checkpoint.h"

namespace scorch {
namespace sample_likelihood_noise_test {

using nlohmann::json;

TEST(SampleLikelihoodNoise, GivenNoiseGivesTheSameBitsPerDimOnAnyRankCount) {
  const auto dir = test::temp_dir("liknoise");
  test::write_tiny_run(dir + "/run", "vp_tiny.yaml", {"model.num_scales=10"});
  auto r = test::run(test::scorch_bin() + " data synth shapes --out " + dir + "/data --count 6 --resolution 16 " +
                     "--channels 3 --seed 2");
  ASSERT_EQ(r.code, 0) << r.output;
  auto g = at::make_generator<at::CPUGeneratorImpl>(4);
  write_file_atomic(dir + "/u.npy", io::npz::format_npy(torch::rand({6, 3, 16, 16}, g)));
  write_file_atomic(dir + "/p.npy",
                    io::npz::format_npy(torch::randint(0, 2, {6, 3, 16, 16}, g).to(torch::kFloat32) * 2 - 1));
  write_file_atomic(dir + "/q.npy",
                    io::npz::format_npy(torch::randint(0, 2, {6, 3, 16, 16}, g).to(torch::kFloat32) * 2 - 1));
  auto lik = [&](const std::string& launcher, const std::string& probes, const std::string& out,
                 const std::string& extra = "") {
    return test::run("cd " + dir + " && OMP_NUM_THREADS=1 " + launcher + test::scorch_bin() +
                         " sample --ckpt run likelihood --data data --batch 3 --sampling.rtol 1e-3 "
                         "--sampling.atol 1e-3 --dequant u.npy --probes " +
                         probes + " --out " + out + extra + " 2>&1",
                     300);
  };
  auto per_image = [&](const std::string& out) {
    return json::parse(read_file(dir + "/" + out)).at("per_image").get<std::vector<std::vector<double>>>();
  };
  ASSERT_EQ(lik("", "p.npy", "a.json").code, 0);
  auto two = lik("mpirun -np 2 --oversubscribe ", "p.npy", "b.json");
  ASSERT_EQ(two.code, 0) << two.output;
  ASSERT_EQ(lik("", "q.npy", "c.json").code, 0);
  EXPECT_EQ(per_image("a.json"), per_image("b.json"));
  EXPECT_NE(per_image("a.json"), per_image("c.json"));
  auto rep = lik("", "p.npy", "d.json", " --repeats 2");
  EXPECT_NE(rep.code, 0);
  EXPECT_NE(rep.output.find("--dequant fixes the noise of one pass"), std::string::npos) << rep.output;
  write_file_atomic(dir + "/short.npy", io::npz::format_npy(torch::zeros({2, 3, 16, 16})));
  auto shortp = lik("", "short.npy", "e.json");
  EXPECT_NE(shortp.output.find("--probes: shape [2, 3, 16, 16] does not hold (6+, 3, 16, 16)"), std::string::npos)
      << shortp.output;
}

// float64 noise just below 1 is accepted (it used to round to 1.0 in float32 and be refused), 1.0 itself is not,
// and an --out that cannot be written is refused before the ODE solves (it used to fail after them), for
// likelihood and for encode; all under --dry-run.
TEST(SampleLikelihoodNoise, NoiseNearOneAndUnwritableOutputsAreJudgedAtStart) {
  const auto dir = test::temp_dir("liknear1");
  test::write_tiny_run(dir + "/run", "vp_tiny.yaml", {"model.num_scales=10"});
  auto r = test::run(test::scorch_bin() + " data synth shapes --out " + dir + "/data --count 2 --resolution 16 " +
                     "--channels 3 --seed 2");
  ASSERT_EQ(r.code, 0) << r.output;
  auto u = torch::full({2, 3, 16, 16}, 0.5, torch::kFloat64);
  u[1][2][3][4] = 1.0 - 1e-10;
  write_file_atomic(dir + "/near.npy", io::npz::format_npy(u));
  u[1][2][3][4] = 1.0;
  write_file_atomic(dir + "/one.npy", io::npz::format_npy(u));
  write_file_atomic(dir + "/afile", "x");
  std::filesystem::create_directories(dir + "/adir.npy");
  const auto sample = [&](const std::string& args) {
    return test::run(
        "cd " + dir + " && OMP_NUM_THREADS=1 " + test::scorch_bin() + " sample --ckpt run " + args + " --dry-run 2>&1",
        300);
  };
  const std::string lik = "likelihood --data data --batch 2 ";
  auto near = sample(lik + "--dequant near.npy");
  EXPECT_EQ(near.code, 0) << near.output;
  auto one = sample(lik + "--dequant one.npy");
  EXPECT_NE(one.output.find("--dequant one.npy: value 1 at flat index 1332 lies outside [0, 1)"), std::string::npos)
      << one.output;
  auto under = sample(lik + "--out afile/bpd.json");
  EXPECT_NE(under.output.find("--out 'afile/bpd.json': '" + dir + "/afile' is a file, not a directory"),
            std::string::npos)
      << under.output;
  auto enc = sample("encode --data data --batch 2 --out adir.npy");
  EXPECT_NE(enc.output.find("--out 'adir.npy' is a directory, not a file"), std::string::npos) << enc.output;
}

}  // namespace sample_likelihood_noise_test
}  // namespace scorch
