// `scorch sample`: the farm's output is the same for 1, 2 and 3 ranks (dynamic hand-out, one slow rank),
// a killed farm resumes to the uninterrupted result, settings mismatches are refused, outputs read as
// datasets; likelihood, inpainting and colorization commands.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "data/dataset.h"
#include "support/checks.h"
#include "support/run.h"
#include "support/tiny_checkpoint.h"

namespace scorch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class SampleCmd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::temp_dir("samplecmd");
    // 10 noise levels and nf 8: a batch samples in well under a second on one core.
    run_ = test::write_tiny_run(dir_ + "/run", "ve_tiny.yaml", {"model.num_scales=10", "model.nf=8"});
  }
  static std::string sample(int ranks, const std::string& args) {
    const std::string bin = test::scorch_bin() + " sample --ckpt " + run_ + " " + args;
    // One torch thread per process: several ranks share this machine's cores.
    const std::string env = "OMP_NUM_THREADS=1 ";
    return ranks == 0 ? env + bin : env + "mpirun -np " + std::to_string(ranks) + " --oversubscribe " + bin;
  }
  static json manifest(const std::string& out) { return json::parse(read_file(out + "/manifest.json")); }
  static std::vector<std::string> shard_sums(const std::string& out) {
    std::vector<std::string> s;
    const json m = manifest(out);
    for (const auto& e : m.at("shards")) s.push_back(e.at("sha256").get<std::string>());
    return s;
  }
  static std::string dir_, run_;
};
std::string SampleCmd::dir_, SampleCmd::run_;

// A rank that hangs on a batch (here it sleeps 60 s before each) while the other has done the rest: the job
// ends within dist.timeout_s plus three of the other's batches, naming the rank, instead of waiting for it;
// the finished shards stay, and the same command without the hang completes the set.
TEST_F(SampleCmd, AHungRankEndsTheFarmNamingItAndTheRerunCompletes) {
  const std::string common = "--num 8 --batch 2 --seed 5 --grid 0 --set dist.timeout_s=2 --out " + dir_ + "/hang";
  const auto start = std::chrono::steady_clock::now();
  auto r = test::run(sample(2, common + " --test-delay 1:60000"), 120);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_TRUE(test::contains(r.output, "sample farm: rank 1 has been on one batch for")) << r.output;
  EXPECT_TRUE(test::contains(r.output, "dist.timeout_s = 2")) << r.output;
  EXPECT_LT(waited, 40.0) << "the job waited for the hung rank: " << r.output;
  auto again = test::run(sample(2, common), 120);
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_EQ(manifest(dir_ + "/hang").at("count"), 8);
}

TEST_F(SampleCmd, SameImagesForOneTwoAndThreeRanks) {
  const std::string common = "--num 11 --batch 2 --seed 5 --grid 16";
  auto one = test::run(sample(0, common + " --out " + dir_ + "/s1"), 300);
  ASSERT_EQ(one.code, 0) << one.output;
  auto two = test::run(sample(2, common + " --out " + dir_ + "/s2"), 300);

  ASSERT_EQ(two.code, 0) << two.output;
  // Rank 1 sleeps 1.5 s before each batch: the others take its share instead of waiting for it.
  auto three = test::run(sample(3, common + " --test-delay 1:1500 --out " + dir_ + "/s3"), 300);
  ASSERT_EQ(three.code, 0) << three.output;
  const auto pos = three.output.find("batches per rank: ");
  ASSERT_NE(pos, std::string::npos) << three.output;
  int r0 = 0, r1 = 0, r2 = 0;
  std::istringstream(three.output.substr(pos + 18)) >> r0 >> r1 >> r2;
  EXPECT_EQ(r0 + r1 + r2, 6);
  EXPECT_LT(r1, r0 + r2 - 1) << "the slow rank should take fewer batches: " << three.output;

  auto m = manifest(dir_ + "/s1");
  EXPECT_EQ(m.at("count"), 11);
  EXPECT_EQ(m.at("shards").size(), 6u);  // 5 x 2 + 1
  EXPECT_EQ(m.at("shape"), json({16, 16, 3}));
  const auto s1 = shard_sums(dir_ + "/s1"), s2 = shard_sums(dir_ + "/s2"), s3 = shard_sums(dir_ + "/s3");
  EXPECT_EQ(s1.size(), 6u);
  EXPECT_EQ(s1, s2);
  EXPECT_EQ(s1, s3);
  EXPECT_TRUE(fs::exists(dir_ + "/s1/grid.png"));
  // A different seed gives different images.
  auto other = test::run(sample(0, "--num 2 --batch 2 --seed 6 --grid 0 --out " + dir_ + "/s4"), 300);
  ASSERT_EQ(other.code, 0) << other.output;
  const auto s4 = shard_sums(dir_ + "/s4");
  ASSERT_EQ(s4.size(), 1u);
  EXPECT_NE(s4[0], s1[0]);
  // The samples are a dataset: verify and export read them.
  auto verify = test::run(test::scorch_bin() + " data verify " + dir_ + "/s2");
  EXPECT_EQ(verify.code, 0) << verify.output;
  auto exp = test::run(test::scorch_bin() + " data export " + dir_ + "/s2 --out " + dir_ + "/s2png");
  EXPECT_EQ(exp.code, 0) << exp.output;
  EXPECT_TRUE(fs::exists(dir_ + "/s2png/000010.png"));
}

TEST_F(SampleCmd, KilledFarmResumesToTheUninterruptedResult) {
  const std::string common = "--num 10 --batch 2 --seed 9 --grid 0";
  auto full = test::run(sample(0, common + " --out " + dir_ + "/full"), 300);
  ASSERT_EQ(full.code, 0) << full.output;
  // SIGKILL after two batches: no manifest, two complete shards.
  auto killed = test::run(sample(0, common + " --test-die-after 2 --out " + dir_ + "/part"), 300);
  EXPECT_NE(killed.code, 0);
  EXPECT_FALSE(fs::exists(dir_ + "/part/manifest.json"));
  EXPECT_TRUE(fs::exists(dir_ + "/part/shard-00001.h5"));
  // A different setting is refused rather than mixed in.
  auto mismatch = test::run(sample(0, "--num 10 --batch 2 --seed 10 --out " + dir_ + "/part"), 300);
  EXPECT_NE(mismatch.code, 0);
  EXPECT_NE(mismatch.output.find("different settings"), std::string::npos) << mismatch.output;
  // Resumed on two ranks: the same bytes as the uninterrupted single-rank run.
  auto resumed = test::run(sample(2, common + " --out " + dir_ + "/part"), 300);
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("(2 batches resumed"), std::string::npos) << resumed.output;
  const auto part = shard_sums(dir_ + "/part"), whole = shard_sums(dir_ + "/full");
  EXPECT_EQ(part.size(), 5u);
  EXPECT_EQ(part, whole);
  // Running a finished farm again does nothing.
  auto again = test::run(sample(0, common + " --out " + dir_ + "/part"), 300);
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("complete already"), std::string::npos) << again.output;
}

// A run trained again in the same dir has other weights under the same checkpoint path and step: a farm of the
// first weights is refused rather than completed with the second's images (source, step and weights were all the
// farm recorded of the model; now also the weights' digest).
TEST_F(SampleCmd, AFarmOfOtherWeightsAtTheSamePathIsRefused) {
  const std::string run =
      test::write_tiny_run(dir_ + "/retrained", "ve_tiny.yaml", {"model.num_scales=10", "model.nf=8"}, 1, 1);
  const std::string args = " --num 4 --batch 2 --grid 0 --out " + dir_ + "/retrained-samples";
  const std::string bin = "OMP_NUM_THREADS=1 " + test::scorch_bin() + " sample --ckpt " + run + args;
  auto r = test::run(bin + " --test-die-after 1", 300);
  EXPECT_NE(r.code, 0);
  ASSERT_TRUE(fs::exists(dir_ + "/retrained-samples/shard-00000.h5")) << r.output;
  test::write_tiny_run(dir_ + "/retrained", "ve_tiny.yaml", {"model.num_scales=10", "model.nf=8"}, 1, 2);
  r = test::run(bin, 300);
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("('model' differs"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ + "/retrained-samples/shard-00001.h5")) << r.output;
}

TEST_F(SampleCmd, OdeMethodAndBadInput) {
  auto ode = test::run(sample(0,
                              "--num 2 --batch 2 --sampling.method ode --sampling.rtol 1e-3 --sampling.atol 1e-3 "
                              "--out " +
                                  dir_ + "/ode"),
                       300);
  ASSERT_EQ(ode.code, 0) << ode.output;
  EXPECT_NE(ode.output.find("mean NFE per batch"), std::string::npos) << ode.output;
  auto no_ckpt = test::run(test::scorch_bin() + " sample --out " + dir_ + "/x");
  EXPECT_NE(no_ckpt.code, 0);
  EXPECT_NE(no_ckpt.output.find("needs a checkpoint"), std::string::npos) << no_ckpt.output;
  auto bad = test::run(sample(0, "--num 2 --batch 2 --sampling.predictor heun --out " + dir_ + "/bad"));
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.output.find("sampling.predictor"), std::string::npos) << bad.output;
  auto refused = test::run(sample(0,
                                  "--num 2 --batch 2 --sampling.predictor ancestral_sampling "
                                  "--sampling.probability_flow true --out " +
                                      dir_ + "/bad2"));
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.output.find("no probability-flow form"), std::string::npos) << refused.output;
}

// A count flag that is given must be positive (0 used to mean "default" and started eval.num_samples images);
// only an absent flag takes the config's default.
TEST_F(SampleCmd, NonPositiveCountsAreRefusedNamingTheFlag) {
  for (const std::string bad : {"--num 0 --batch 2", "--num 2 --batch -3", "--num -1 --batch 2"}) {
    auto r = test::run(sample(0, bad + " --out " + dir_ + "/counts"), 120);
    EXPECT_NE(r.code, 0) << bad;
    const std::string flag = bad.find("-3") != std::string::npos ? "--batch" : "--num";
    EXPECT_NE(r.output.find(flag + " must be a positive count"), std::string::npos) << r.output;
  }
  auto r = test::run(sample(0, "--num 2 --eval.batch_size 0 --out " + dir_ + "/counts"), 120);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("eval.batch_size = 0 (from --eval.batch_size) is not a positive count"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir_ + "/counts/manifest.json"));
}

// --grid is a number of images: a negative one is refused naming the flag (it used to mean "no grid", silently).
TEST_F(SampleCmd, NegativeGridIsRefusedNamingTheFlag) {
  auto r = test::run(sample(0, "--num 2 --batch 2 --grid -1 --out " + dir_ + "/grid"), 120);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--grid must be a non-negative number of images"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ + "/grid/manifest.json"));
  r = test::run(sample(0, "--num 2 --batch 2 --grid 0 --out " + dir_ + "/no-grid"), 300);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(fs::exists(dir_ + "/no-grid/grid.png"));
}

// The checkpoint fixes the network: overriding a network key is refused, naming it; the same value is fine,
// and objective keys (model.num_scales, the number of sampling steps) stay free.
TEST_F(SampleCmd, NetworkKeysOfTheCheckpointCannotBeOverridden) {
  auto r = test::run(sample(0, "--num 2 --batch 2 --model.nf 16 --out " + dir_ + "/net"), 120);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("scorch sample: model.nf = 16 (from --model.nf), but the checkpoint was trained with "
                          "model.nf = 8"),
            std::string::npos)
      << r.output;
  r = test::run(sample(0, "--num 2 --batch 2 --model.nf 8 --set model.num_scales=5 --out " + dir_ + "/net-same"), 300);
  EXPECT_EQ(r.code, 0) << r.output;
  // The SDE is what the network learned the score of.
  r = test::run(sample(0, "--num 2 --batch 2 --set training.sde=vpsde --out " + dir_ + "/net-sde --dry-run"), 120);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("training.sde = vpsde (from --set), but the checkpoint's network was trained with "
                          "training.sde = vesde"),
            std::string::npos)
      << r.output;
}

// A network trained on discrete levels takes a level index: another ladder indexed past its levels (a LibTorch
// crash) or was silently divided by other sigmas. Its ladder is pinned; another SDE's keys stay free.
TEST_F(SampleCmd, TheLadderOfANetworkTrainedOnDiscreteLevelsCannotBeOverridden) {
  const std::string run = test::write_tiny_run(
      dir_ + "/discrete", "ve_tiny.yaml",
      {"model.num_scales=10", "model.nf=8", "training.continuous=false", "model.embedding_type=positional"});
  const std::string bin = test::scorch_bin() + " sample --ckpt " + run + " --num 2 --batch 2 --dry-run ";
  for (const std::string kv : {"model.num_scales=20", "model.sigma_max=5", "training.continuous=true"}) {
    auto r = test::run(bin + "--set " + kv, 120);
    EXPECT_NE(r.code, 0) << kv;
    EXPECT_NE(r.output.find(kv.substr(0, kv.find('=')) + " = " + kv.substr(kv.find('=') + 1) + " (from --set)"),
              std::string::npos)
        << kv << "\n"
        << r.output;
  }
  auto r = test::run(bin + "--set model.num_scales=20", 120);
  EXPECT_NE(r.output.find("on discrete levels (training.continuous false)"), std::string::npos) << r.output;
  EXPECT_EQ(test::run(bin + "--set model.beta_max=30", 120).code, 0);
}

// --dry-run makes the checks each subcommand makes at start (the SDE, the sampler, the counts, the data
// against the model, the mask, the latents) and prints nothing it would refuse; a run that would start prints
// its config and exits 0 without writing anything.
TEST_F(SampleCmd, DryRunChecksWhatEachSubcommandChecksAtStart) {
  const std::string rgb = dir_ + "/dry-rgb", gray = dir_ + "/dry-gray";
  for (const auto& [out, channels] : {std::pair{rgb, "3"}, std::pair{gray, "1"}}) {
    auto synth = test::run(test::scorch_bin() + " data synth shapes --out " + out +
                           " --count 4 --resolution 16 --channels " + channels + " --seed 1");
    ASSERT_EQ(synth.code, 0) << synth.output;
  }
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"--num 2 --set model.num_scales=1", "model.num_scales must be at least 2"},
      {"--num 2 --eval.batch_size 0", "eval.batch_size = 0 (from --eval.batch_size) is not a positive count"},
      {"--num 2 --grid -1", "--grid must be a non-negative number of images"},
      {"--num 2 --sampling.method ode --latents " + dir_ + "/none.npy", "none.npy"},
      {"likelihood --data " + gray, "the model makes 16x16x3 images"},
      {"likelihood --data " + rgb + " --repeats 0", "--repeats must be a positive count"},
      {"inpaint --data " + rgb + " --sampling.method ode", "inpainting and colorization use the PC sampler"},
      {"inpaint --data " + rgb + " --mask " + dir_ + "/none.png", "none.png"},
      {"colorize --data " + gray, "the model makes 16x16x3 images"},
      {"encode --data " + rgb + " --out " + dir_ + "/latents.png", "writes FILE.npy"},
      // A given --num beyond the dataset was clamped to it without a word.
      {"likelihood --data " + rgb + " --num 5", "--num 5 exceeds the 4 images of " + rgb},
      {"colorize --data " + rgb + " --num 5", "--num 5 exceeds the 4 images of " + rgb},
      {"encode --data " + rgb + " --out " + dir_ + "/z.npy --num 5", "--num 5 exceeds the 4 images of " + rgb},
      {"--num 2 --sampling.spacing ddim_quad",
       "ermongroup/ddim's label sequence, which only ddim and ddpm take (method pc)"},
      {"--num 2 --sampling.method ddim --sampling.spacing ddim_uniform", "training.continuous false"},
      {"--num 2 --sampling.method ddpm --sampling.spacing ddim_quad", "training.continuous false"},
      {"encode --data " + rgb + " --out " + dir_ + "/z.npy --sampling.method ddim --sampling.ddim_eta 1",
       "sampling.ddim_eta = 1 draws noise"}};
  for (const auto& [args, message] : refused) {
    auto r = test::run(sample(0, args + " --dry-run 2>&1"), 120);
    EXPECT_NE(r.code, 0) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(r.output.find("sampling:"), std::string::npos) << "printed a config it refused: " << args;
  }
  const std::vector<std::string> accepted = {
      "--num 2", "likelihood --data " + rgb, "inpaint --data " + rgb, "colorize --data " + rgb,
      "colorize --data " + rgb + " --num 4", "encode --data " + rgb + " --out " + dir_ + "/z.npy",
      "encode --data " + rgb + " --out " + dir_ + "/z.npy --sampling.method ddim --sampling.steps 5",
      // one DDIM inversion step needs no second evaluation for a final denoising it never takes
      "encode --data " + rgb + " --out " + dir_ + "/z.npy --sampling.method ddim --sampling.steps 1"};
  for (const auto& args : accepted) {
    auto r = test::run(sample(0, args + " --dry-run 2>&1"), 120);
    EXPECT_EQ(r.code, 0) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("sampling:"), std::string::npos) << args << "\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(dir_ + "/z.npy"));
}

TEST_F(SampleCmd, LikelihoodInpaintingColorization) {
  const std::string data = dir_ + "/shapes";
  auto synth = test::run(test::scorch_bin() + " data synth shapes --out " + data +
                         " --count 6 --resolution 16 --channels 3 --seed 1");
  ASSERT_EQ(synth.code, 0) << synth.output;
  auto lik = test::run(sample(2, "likelihood --data " + data +
                                     " --batch 3 --sampling.rtol 1e-3 --sampling.atol 1e-3 "
                                     "--out " +
                                     dir_ + "/bpd.json"),
                       300);
  ASSERT_EQ(lik.code, 0) << lik.output;
  auto bpd = json::parse(read_file(dir_ + "/bpd.json"));
  EXPECT_EQ(bpd.at("count"), 6);
  EXPECT_TRUE(std::isfinite(bpd.at("bpd").get<double>()));
  EXPECT_GT(bpd.at("std_error").get<double>(), 0.0);
  // Per image, in dataset order: one row per repeat whose mean is the reported figure.
  const auto rows = bpd.at("per_image").get<std::vector<std::vector<double>>>();
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].size(), 6u);
  double sum = 0;
  for (double b : rows[0]) sum += b;
  EXPECT_NEAR(sum / 6, bpd.at("bpd").get<double>(), 1e-9);
  EXPECT_NE(rows[0][0], rows[0][1]);

  auto inp =
      test::run(sample(0, "inpaint --data " + data + " --mask left --num 4 --batch 2 --out " + dir_ + "/inp"), 300);
  ASSERT_EQ(inp.code, 0) << inp.output;
  EXPECT_TRUE(fs::exists(dir_ + "/inp/input-grid.png"));
  data::Dataset in(data), out(dir_ + "/inp");
  auto a = in.read_items({0, 1, 2, 3}), b = out.read_items({0, 1, 2, 3});  // (4, 16, 16, 3)
  using torch::indexing::Slice;
  EXPECT_TRUE(torch::equal(a.index({Slice(), Slice(), Slice(0, 8)}), b.index({Slice(), Slice(), Slice(0, 8)})))
      << "known pixels must be kept exactly";
  EXPECT_FALSE(torch::equal(a, b));

  auto col = test::run(sample(0, "colorize --data " + data + " --num 2 --batch 2 --out " + dir_ + "/col"), 300);
  ASSERT_EQ(col.code, 0) << col.output;
  auto gray_in = in.read_items({0, 1}).to(torch::kFloat).mean(3);
  auto rgb_out = data::Dataset(dir_ + "/col").read_items({0, 1}).to(torch::kFloat);
  // The gray is kept up to 8-bit rounding (half a level per channel): out-of-range colours are pulled in
  // towards the gray rather than clipped.
  EXPECT_LE((gray_in - rgb_out.mean(3)).abs().max().item<double>(), 0.5 + 1e-3);
  EXPECT_GT((rgb_out - rgb_out.mean(3, true)).abs().max().item<double>(), 1.0) << "no colour was added";
}

}  // namespace
}  // namespace scorch
