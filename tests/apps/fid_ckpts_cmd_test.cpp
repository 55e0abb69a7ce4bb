// `scorch fid --ckpts`: two tiny checkpoints -> a table of two rows and a plot; a rerun skips both; 1 and 2
// ranks give the same samples and FIDs; sample sets made by `scorch sample` are reused; other IS / KID
// settings score a row again; bad patterns are refused. The Inception is a randomly initialised network
// written as safetensors (pytorch-fid names), so the tests need no downloaded weights; the numbers are then
// not comparable with papers, only with each other.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "support/prerequisite.h"
#include "support/random_inception.h"
#include "support/run.h"
#include "support/tensorboard_read.h"
#include "support/tiny_checkpoint.h"

namespace scorch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class FidCkptsCmd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::temp_dir("fidckpts");
    // 10 noise levels and nf 8: a batch samples in well under a second on one core.
    // Two checkpoints with different weights, so that their FIDs differ.
    for (int64_t step : {1, 2})
      test::write_tiny_run(dir_ + "/run", "ve_tiny.yaml", {"model.num_scales=10", "model.nf=8"}, step, step);
    test::write_random_inception(dir_);
    const auto r = test::run(test::scorch_bin() + " data synth shapes --out " + dir_ +
                             "/ref --count 6 --resolution 16 --channels 3");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  // One torch thread per process: the ranks share this machine's cores.
  static test::RunResult fid(int ranks, const std::string& args) {
    const std::string bin = test::scorch_bin() + " fid --ref " + dir_ + "/ref --inception " + dir_ +
                            "/inception.safetensors --batch-size 4 " + args;
    const std::string launcher = ranks == 1 ? "" : "mpirun -np " + std::to_string(ranks) + " --oversubscribe ";
    return test::run("OMP_NUM_THREADS=1 " + launcher + bin, 300);
  }
  static std::string all_ckpts() { return "--ckpts '" + dir_ + "/run/checkpoints/step-*' --num 4 --batch 2"; }
  static json rows(const std::string& out) { return json::parse(read_file(out + "/fid.json")).at("rows"); }
  static std::vector<std::string> shard_sums(const std::string& samples) {
    std::vector<std::string> s;
    for (const auto& e : json::parse(read_file(samples + "/manifest.json")).at("shards"))
      s.push_back(e.at("sha256").get<std::string>());
    return s;
  }
  static inline std::string dir_;
};

TEST_F(FidCkptsCmd, TableOfTwoCheckpointsThenRerunSkipsBoth) {
  auto r = fid(1, all_ckpts());
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string out = dir_ + "/run/fid";  // the default: next to checkpoints/
  const json t = rows(out);
  ASSERT_EQ(t.size(), 2u) << t.dump(2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(t[i].at("step").get<int64_t>(), i + 1);
    EXPECT_EQ(t[i].at("images").get<int64_t>(), 4);
    EXPECT_TRUE(std::isfinite(t[i].at("fid").get<double>()) && t[i].at("fid").get<double>() > 0) << t[i].dump();
    EXPECT_EQ(t[i].at("settings").at("weights"), "ema");
    EXPECT_TRUE(fs::exists(out + "/samples/step-" + std::to_string(i + 1) + "/manifest.json"));
  }
  EXPECT_NE(t[0].at("fid"), t[1].at("fid"));
  EXPECT_TRUE(fs::exists(out + "/fid_vs_step.png"));
  const std::string csv = read_file(out + "/fid.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3) << csv;
  EXPECT_EQ(csv.rfind("step,fid,", 0), 0u) << csv;
  const auto tb_has_table_curve = [&] {
    if (!test::have_tensorboard()) return;
    const auto tb = test::read_tensorboard(out + "/tb");
    ASSERT_FALSE(tb.is_null());
    EXPECT_EQ(tb["files"], 1);  // the whole curve rewritten, not appended
    ASSERT_EQ(tb["scalars"]["fid"].size(), 2u) << tb.dump();
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(tb["scalars"]["fid"][i][0], i + 1);
      const double fid = t[i].at("fid").get<double>();
      EXPECT_NEAR(tb["scalars"]["fid"][i][1].get<double>(), fid, 1e-6 * fid);  // float32 in the event
    }
  };
  SCORCH_REQUIRE_PREREQUISITE(test::have_tensorboard(), "the tensorboard package reads the FID curve");
  tb_has_table_curve();

  // Rerun: both rows are found, nothing is sampled (the deleted sample sets stay deleted) or extracted.
  fs::remove_all(out + "/samples");
  r = fid(1, all_ckpts());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("2 checkpoint(s): 0 scored, 2 already in the table (skipped)"), std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("extracting features"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out + "/samples"));
  EXPECT_EQ(rows(out), t);
  tb_has_table_curve();
  // Overrides that change only the speed or the run are not settings of the samples: still nothing to do.
  r = fid(1,
          all_ckpts() + " --set sampling.cuda_graph=false --set sampling.channels_last=true --set dist.timeout_s=900");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("2 checkpoint(s): 0 scored, 2 already in the table (skipped)"), std::string::npos)
      << r.output;
  EXPECT_EQ(rows(out), t);
}

// Same samples (bitwise, by shard checksum) and the same FID on 1 and 2 ranks. The FIDs agree to 1e-6
// relative, not bitwise: the float64 feature sums are all-reduced in another order (~1e-15 relative), and
// with 4 images the rank-deficient covariances amplify that through square roots of round-off eigenvalues.
TEST_F(FidCkptsCmd, OneAndTwoRanksGiveTheSameSamplesAndFids) {
  const std::string one = dir_ + "/np1", two = dir_ + "/np2";
  auto r = fid(1, all_ckpts() + " --out " + one);
  ASSERT_EQ(r.code, 0) << r.output;
  r = fid(2, all_ckpts() + " --out " + two);
  ASSERT_EQ(r.code, 0) << r.output;
  const json a = rows(one), b = rows(two);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(b[i].at("ranks").get<int>(), 2);
    const double fa = a[i].at("fid").get<double>(), fb = b[i].at("fid").get<double>();
    EXPECT_NEAR(fa, fb, 1e-6 * fa) << "step " << i + 1;
    const std::string s = "/samples/step-" + std::to_string(i + 1);
    EXPECT_EQ(shard_sums(one + s), shard_sums(two + s));
  }
}

// A fast sampler through --set: rows of their own next to the default ones, samples in their own
// directories, and the NFE the settings ask for. The samples are drawn with TF32 as sampling.tf32 says, whatever
// the Inception's --precision (each batch's runinfo records the flags; LibTorch keeps them on a CPU too).
TEST_F(FidCkptsCmd, FastSamplerOverridesAddRowsNextToTheDefaultOnes) {
  const std::string out = dir_ + "/fast";
  auto r = fid(1, all_ckpts() + " --out " + out + " --precision tf32");
  ASSERT_EQ(r.code, 0) << r.output;
  r = fid(1, all_ckpts() + " --out " + out +
                 " --set sampling.method=dpm_solver --set sampling.steps=6 --set sampling.tf32=true");
  ASSERT_EQ(r.code, 0) << r.output;
  const json t = rows(out);
  ASSERT_EQ(t.size(), 4u) << t.dump(2);
  int fast = 0;
  for (const auto& row : t) {
    const std::string samples = row.at("samples").get<std::string>();
    const auto farm = json::parse(read_file(samples + "/farm.json"));
    const auto run = json::parse(read_file(samples + "/runinfo/shard-00000.json"));
    const bool is_fast = !row.at("settings").at("overrides").empty();
    EXPECT_EQ(run.at("tf32_cublas"), is_fast) << samples;
    if (!is_fast) continue;
    ++fast;
    EXPECT_NE(samples.find("step-" + std::to_string(row.at("step").get<int64_t>()) + "-"), std::string::npos);
    EXPECT_NE(farm.at("config").get<std::string>().find("method: \"dpm_solver\""), std::string::npos);
  }
  EXPECT_EQ(fast, 2);
  // The CSV tells the two kinds of rows apart by more than their samples' directory names.
  const std::string csv = read_file(out + "/fid.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')).substr(csv.find(",date,")), ",date,overrides") << csv;
  const std::string fast_end = ",sampling.method=dpm_solver sampling.steps=6 sampling.tf32=true\n";
  int fast_lines = 0, plain_lines = 0;
  for (size_t at = csv.find('\n') + 1, end; at < csv.size(); at = end + 1) {
    end = csv.find('\n', at);
    const auto line = csv.substr(at, end - at + 1);
    fast_lines +=
        line.size() > fast_end.size() && line.compare(line.size() - fast_end.size(), fast_end.size(), fast_end) == 0;
    plain_lines += line.size() > 2 && line.compare(line.size() - 2, 2, ",\n") == 0;
  }
  EXPECT_EQ(fast_lines, 2) << csv;
  EXPECT_EQ(plain_lines, 2) << csv;
}

// A complete set made by `scorch sample` with the same settings is scored as it is; --delete-samples
// removes the set once scored; a single checkpoint dir works as the pattern (what a Slurm array task passes).
TEST_F(FidCkptsCmd, ReusesSampleSetsOfScorchSampleAndTakesOneCheckpointDir) {
  const std::string out = dir_ + "/reuse", ckpt = dir_ + "/run/checkpoints/step-000000002";
  auto r = test::run("OMP_NUM_THREADS=1 " + test::scorch_bin() + " sample --ckpt " + ckpt +
                     " --num 4 --batch 2 --out " + out + "/samples/step-2");
  ASSERT_EQ(r.code, 0) << r.output;
  r = fid(1, "--ckpts " + ckpt + " --num 4 --batch 2 --out " + out + " --delete-samples");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("complete already"), std::string::npos) << r.output;
  const json t = rows(out);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].at("step").get<int64_t>(), 2);
  EXPECT_FALSE(fs::exists(out + "/samples/step-2"));
}

// A row is reused only for the scores it holds with the settings asked now: other IS splits score the
// checkpoint again (from its kept samples), and a score not asked this time (KID) stays in the row.
TEST_F(FidCkptsCmd, OtherScoreSettingsRescoreTheRowAndKeepTheScoresNotAsked) {
  const std::string out = dir_ + "/scores", ckpt = "--ckpts " + dir_ + "/run/checkpoints/step-000000002";
  auto r = fid(1, ckpt + " --num 4 --batch 2 --out " + out + " --is --is-splits 2 --kid --kid-subsets 3");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("KID: subsets of 1000 images asked, but the smaller set has 4"), std::string::npos)
      << r.output;
  const json first = rows(out);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].at("is_splits"), 2);
  EXPECT_EQ(first[0].at("kid_subsets"), 3);
  EXPECT_EQ(first[0].at("kid_subset_size"), 1000);

  r = fid(1, ckpt + " --num 4 --batch 2 --out " + out + " --is --is-splits 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1 checkpoint(s): 1 scored, 0 already in the table"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("complete already"), std::string::npos) << r.output;
  const json second = rows(out);
  ASSERT_EQ(second.size(), 1u) << second.dump(2);
  EXPECT_EQ(second[0].at("is_splits"), 1);
  EXPECT_NE(second[0].at("is_mean"), first[0].at("is_mean")) << "one split of 4 images vs two of 2";
  EXPECT_EQ(second[0].at("fid"), first[0].at("fid"));
  for (const char* k : {"kid_mean", "kid_std", "kid_subsets", "kid_subset_size"})
    EXPECT_EQ(second[0].at(k), first[0].at(k)) << k;
  const std::string csv = read_file(out + "/fid.csv");
  EXPECT_EQ(csv.rfind("step,fid,is_mean,is_std,is_splits,kid_mean,kid_std,kid_subsets,kid_subset_size,", 0), 0u) << csv;

  r = fid(1, ckpt + " --num 4 --batch 2 --out " + out + " --is --is-splits 1 --kid --kid-subsets 3");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1 checkpoint(s): 0 scored, 1 already in the table"), std::string::npos) << r.output;
  r = fid(1, ckpt + " --num 4 --batch 2 --out " + out + " --kid --kid-subsets 3 --kid-subset-size 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1 checkpoint(s): 1 scored, 0 already in the table"), std::string::npos) << r.output;
  EXPECT_EQ(rows(out)[0].at("kid_subset_size"), 2);
}

// Rows are reused only against the reference they were scored with: statistics replaced at the same path (another
// dataset's) are scored again, where the path alone used to skip them as done. The samples are reused.
TEST_F(FidCkptsCmd, AReferenceReplacedAtItsPathIsScoredAgain) {
  const std::string inception = " --inception " + dir_ + "/inception.safetensors --batch-size 4";
  const std::string stats = dir_ + "/replaced-ref.npz", out = dir_ + "/replaced";
  const auto make_stats = [&](const std::string& data) {
    const auto r = test::run(test::scorch_bin() + " fid stats --data " + data + " --out " + stats + inception);
    ASSERT_EQ(r.code, 0) << r.output;
  };
  const auto score = [&] {
    return test::run("OMP_NUM_THREADS=1 " + test::scorch_bin() + " fid --ref " + stats + inception + " --out " + out +
                         " --ckpts " + dir_ + "/run/checkpoints/step-000000001 --num 4 --batch 2",
                     300);
  };
  make_stats(dir_ + "/ref");
  auto r = score();
  ASSERT_EQ(r.code, 0) << r.output;
  r = score();
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("0 scored, 1 already in the table"), std::string::npos) << r.output;
  const auto other = test::run(test::scorch_bin() + " data synth shapes --out " + dir_ +
                               "/other-ref --count 6 --resolution 16 --channels 3 --seed 9");
  ASSERT_EQ(other.code, 0) << other.output;
  make_stats(dir_ + "/other-ref");
  r = score();
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1 scored, 0 already in the table"), std::string::npos) << r.output;
  const json t = rows(out);
  ASSERT_EQ(t.size(), 2u) << t.dump(2);
  EXPECT_NE(t[0].at("settings").at("ref_sha256"), t[1].at("settings").at("ref_sha256"));
  EXPECT_NE(t[0].at("fid"), t[1].at("fid"));
}

TEST_F(FidCkptsCmd, BadPatternsAndOptionsAreRefusedClearly) {
  auto r = fid(1, "--ckpts '" + dir_ + "/run/checkpoints/stp-*' --num 4");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("matches no checkpoint dir"), std::string::npos) << r.output;
  r = fid(1, "--ckpts " + dir_ + "/run/no-such-dir --num 4");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
  r = fid(1, "--ckpts '" + dir_ + "/run/checkpoints/step-*' --weights " + dir_ + "/inception.safetensors");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--weights"), std::string::npos) << r.output;
  r = fid(1, "--ckpts '" + dir_ + "/run/checkpoints/step-*' --samples " + dir_ + "/ref");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("not both"), std::string::npos) << r.output;
  // KID against statistics without per-image features is refused before the first checkpoint is sampled (it
  // used to sample and extract every image first).
  const std::string inception = " --inception " + dir_ + "/inception.safetensors --batch-size 4";
  r = test::run(test::scorch_bin() + " fid stats --data " + dir_ + "/ref --out " + dir_ + "/ref-stats.npz" + inception);
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::run("OMP_NUM_THREADS=1 " + test::scorch_bin() + " fid --ref " + dir_ + "/ref-stats.npz" + inception +
                " --kid --out " + dir_ + "/kid-stats " + all_ckpts());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--kid needs per-image features of the reference"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ + "/kid-stats/samples")) << r.output;
}

// The sampling config is the checkpoint's with --device, --set and --seed layered as every command layers its
// config: --set device= decides where the sampler runs (it used to be ignored), a network key is refused.
TEST_F(FidCkptsCmd, SetLayersOnTheCheckpointConfigAndNetworkKeysAreRefused) {
  auto r = fid(1, all_ckpts() + " --set model.nf=16 --out " + dir_ + "/net");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("model.nf = 16 (from --set), but the checkpoint was trained with model.nf = 8"),
            std::string::npos)
      << r.output;
  r = fid(1, all_ckpts() + " --device cpu --set device=cuda:99 --out " + dir_ + "/dev");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("device=cuda:99"), std::string::npos) << r.output;
  // A classifier's run is named, not sampled into LibTorch's shape mismatch.
  test::write_tiny_run(dir_ + "/cls", "shapes_classifier.yaml",
                       {"data.num_channels=3", "model.input_mean=[0.5, 0.5, 0.5]", "model.input_std=[0.25, 0.25, 0.25]",
                        "model.sigma_max=28.0"});
  r = fid(1, "--ckpts " + dir_ + "/cls --num 4 --batch 2 --out " + dir_ + "/cls-fid");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("a checkpoint of training.task classifier is not a score model"), std::string::npos)
      << r.output;
}

// A count flag that is given must be positive (--num 0 used to mean "the config's eval.num_samples"); only an
// absent flag takes each checkpoint's default. Refused before anything is sampled.
TEST_F(FidCkptsCmd, NonPositiveCountsAreRefusedNamingTheFlag) {
  for (const std::string bad : {"--num 0 --batch 2", "--num 4 --batch -2", "--num -1"}) {
    auto r = fid(1, "--ckpts '" + dir_ + "/run/checkpoints/step-*' " + bad + " --out " + dir_ + "/counts");
    EXPECT_NE(r.code, 0) << bad;
    const std::string flag = bad.find("-2") != std::string::npos ? "--batch" : "--num";
    EXPECT_NE(r.output.find(flag + " must be a positive count"), std::string::npos) << r.output;
  }
  EXPECT_FALSE(fs::exists(dir_ + "/counts"));
}

// A negative --seed is refused rather than taken to mean "the config's seed".
TEST_F(FidCkptsCmd, NegativeSeedIsRefusedNamingTheFlag) {
  auto r = fid(1, all_ckpts() + " --seed -1 --out " + dir_ + "/seed");
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("--seed: expected a non-negative seed, got -1"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ + "/seed"));
}

}  // namespace
}  // namespace scorch
