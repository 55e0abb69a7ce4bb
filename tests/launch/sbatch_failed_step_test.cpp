// train.sbatch and sample.sbatch after a failed job step, without Slurm: bash runs them with a stand-in srun
// that exits as the step would and an scontrol that notes what it is asked. Every case of the decision
// (scorch's own error or a killed rank, progress since the last failure, the limits) in a second.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "launch/launch_test_util.h"
#include "support/run.h"

namespace fs = std::filesystem;
using namespace scorch::test;

namespace {

class SbatchAfterAFailedStep : public ::testing::Test {
 protected:
  struct Outcome {
    int code;
    std::string log;
    bool requeued;
  };

  void SetUp() override {
    dir_ = temp_dir("sbatch-failed-step");
    fs::create_directories(dir_ + "/bin");
    // `srun ... scorch info` succeeds; the job step exits with $FAKE_RC.
    write_tool(
        "srun",
        "for a in \"$@\"; do [ \"$a\" != info ] || exit 0; done\necho \"$*\" >>\"$(dirname \"$0\")/../srun.args\"\n"
        "exit \"$FAKE_RC\"\n");
    write_tool("scontrol", "echo \"$*\" >>\"$FAKE_CALLS\"\n");
    write_tool("scorch", "exit 0\n");
  }

  // Runs launch/slurm/SCRIPT with `args` as job `job` after `restarts` requeues, its step exiting `rc`.
  // `env`: more VAR=value settings.
  Outcome run_script(const std::string& script, const std::string& args, int rc, const std::string& job = "77",
                     int restarts = 0, const std::string& env = "") {
    const std::string calls = dir_ + "/scontrol.calls";
    fs::remove(calls);
    const auto r =
        run("env -u SCORCH_MAX_FAILED_REQUEUES -u SCORCH_MAX_REQUEUES -u SLURM_CPUS_PER_TASK " + env + " PATH='" +
            dir_ + "/bin':\"$PATH\" SCORCH_BIN='" + dir_ + "/bin/scorch' FAKE_RC=" + std::to_string(rc) +
            " FAKE_CALLS='" + calls + "' SLURM_JOB_ID=" + job + " SLURM_RESTART_COUNT=" + std::to_string(restarts) +
            " bash '" + source_dir() + "/launch/slurm/" + script + "' " + args);
    const std::string asked = read_text(calls);
    EXPECT_TRUE(asked.empty() || asked == "requeue " + job + "\n") << asked;
    return {r.code, r.output, asked == "requeue " + job + "\n"};
  }

  std::string dir_;

 private:
  void write_tool(const std::string& name, const std::string& body) {
    const std::string path = dir_ + "/bin/" + name;
    std::ofstream(path) << "#!/usr/bin/env bash\n" << body;
    fs::permissions(path, fs::perms::owner_all);
  }
};

TEST_F(SbatchAfterAFailedStep, TrainRequeuesAKilledRankWhileFailuresMakeProgress) {
  const std::string wd = dir_ + "/run", args = "--config x.yaml --workdir '" + wd + "'";
  fs::create_directories(wd + "/checkpoints");
  auto at_step = [&](int k) {
    fs::remove(wd + "/checkpoints/latest");
    fs::create_directory_symlink(fmt::format("step-{:09d}", k), wd + "/checkpoints/latest");
  };

  auto r = run_script("train.sbatch", args, 1);
  EXPECT_EQ(r.code, 1) << r.log;
  EXPECT_FALSE(r.requeued) << r.log;
  EXPECT_TRUE(contains(r.log, "training failed (exit 1): scorch's own error, which a requeue would repeat")) << r.log;

  // Killed before the first checkpoint: one try from the start.
  r = run_script("train.sbatch", args, 137);
  EXPECT_EQ(r.code, 0) << r.log;
  EXPECT_TRUE(r.requeued) << r.log;
  EXPECT_TRUE(contains(r.log,
                       "rank killed (exit 137, signal 9); requeueing job 77 (failure 1 of at most 3), "
                       "which starts over: no checkpoint yet"))
      << r.log;
  EXPECT_EQ(read_text(wd + "/.slurm-failures"), "77 1 0\n");

  at_step(10);
  r = run_script("train.sbatch", args, 137, "77", 1);
  EXPECT_TRUE(r.requeued) << r.log;
  EXPECT_TRUE(contains(r.log, "(failure 2 of at most 3), which resumes from step 10")) << r.log;

  // Dead again at the same step: a crash loop, not requeued.
  r = run_script("train.sbatch", args, 139, "77", 2);
  EXPECT_EQ(r.code, 139) << r.log;
  EXPECT_FALSE(r.requeued) << r.log;
  EXPECT_TRUE(contains(r.log,
                       "rank killed (exit 139, signal 11); not requeued: no progress since the last failure "
                       "(newest checkpoint: step 10 then and now)"))
      << r.log;

  at_step(20);
  r = run_script("train.sbatch", args, 137, "77", 2);
  EXPECT_TRUE(r.requeued) << r.log;
  EXPECT_TRUE(contains(r.log, "(failure 3 of at most 3), which resumes from step 20")) << r.log;
  at_step(30);
  r = run_script("train.sbatch", args, 137, "77", 3);
  EXPECT_FALSE(r.requeued) << r.log;
  EXPECT_TRUE(contains(r.log, "not requeued: already requeued 3 times after a failure (SCORCH_MAX_FAILED_REQUEUES=3)"))
      << r.log;

  // Another job keeps its own count; SCORCH_MAX_REQUEUES counts every requeue.
  r = run_script("train.sbatch", args, 137, "78");
  EXPECT_TRUE(r.requeued) << r.log;
  EXPECT_TRUE(contains(r.log, "requeueing job 78 (failure 1 of at most 3), which resumes from step 30")) << r.log;
  r = run_script("train.sbatch", args, 137, "79", 50);
  EXPECT_FALSE(r.requeued) << r.log;
  EXPECT_TRUE(contains(r.log, "not requeued: already requeued 50 times (SCORCH_MAX_REQUEUES)")) << r.log;

  r = run_script("train.sbatch", args, 0, "79");
  EXPECT_EQ(r.code, 0) << r.log;
  EXPECT_FALSE(fs::exists(wd + "/.slurm-failures"));
}

TEST_F(SbatchAfterAFailedStep, SampleRequeuesAKilledRankWhileFailuresMakeProgress) {
  const std::string out = dir_ + "/samples", args = "--ckpt run --num 8 --batch 2 --out='" + out + "'";
  fs::create_directories(out);
  auto finished = [&](int n) {
    for (int i = 0; i < n; ++i) std::ofstream(fmt::format("{}/shard-{:05d}.h5", out, i));
  };

  auto r = run_script("sample.sbatch", args, 1);
  EXPECT_EQ(r.code, 1) << r.log;
  EXPECT_FALSE(r.requeued) << r.log;
  EXPECT_TRUE(contains(r.log, "sampling failed (exit 1): scorch's own error, which a requeue would repeat")) << r.log;

  finished(1);
  r = run_script("sample.sbatch", args, 137);
  EXPECT_TRUE(r.requeued) << r.log;
  EXPECT_TRUE(contains(r.log,
                       "rank killed (exit 137, signal 9); requeueing job 77 (failure 1 of at most 3), "
                       "which goes on after the 1 batches on disk"))
      << r.log;
  r = run_script("sample.sbatch", args, 137, "77", 1);
  EXPECT_EQ(r.code, 137) << r.log;
  EXPECT_FALSE(r.requeued) << r.log;
  EXPECT_TRUE(contains(r.log, "not requeued: no progress since the last failure (finished batches: 1 then and now)"))
      << r.log;
  finished(3);
  r = run_script("sample.sbatch", args, 137, "77", 1);
  EXPECT_TRUE(r.requeued) << r.log;
  EXPECT_TRUE(contains(r.log, "(failure 2 of at most 3), which goes on after the 3 batches on disk")) << r.log;

  r = run_script("sample.sbatch", args, 0);
  EXPECT_EQ(r.code, 0) << r.log;
  EXPECT_FALSE(fs::exists(out + "/.slurm-failures"));

  // A usage error (exit 2) would fail again the same way: not requeued, and said so (it was "sbatch again").
  r = run_script("sample.sbatch", args, 2);
  EXPECT_EQ(r.code, 2) << r.log;
  EXPECT_FALSE(r.requeued) << r.log;
  EXPECT_TRUE(contains(r.log, "sampling failed (exit 2): a command line scorch did not understand")) << r.log;
}

// --overwrite belongs to the first attempt: on a requeue it discarded the finished batches every time.
// A requeue limit that is not a count is named before anything runs: every comparison with it failed, so the job
// was never requeued, without a word.
TEST_F(SbatchAfterAFailedStep, RequeueLimitsMustBeCounts) {
  for (const std::string script : {"train.sbatch", "sample.sbatch"})
    for (const std::string env : {"SCORCH_MAX_REQUEUES=lots", "SCORCH_MAX_FAILED_REQUEUES=-1"}) {
      const auto r = run_script(script, "--workdir '" + dir_ + "/limits'", 137, "77", 0, env);
      EXPECT_EQ(r.code, 2) << script << " " << env << "\n" << r.log;
      EXPECT_FALSE(r.requeued) << r.log;
      EXPECT_TRUE(contains(
          r.log, env.substr(0, env.find('=')) + "='" + env.substr(env.find('=') + 1) + "': expected a whole number"))
          << r.log;
      EXPECT_FALSE(fs::exists(dir_ + "/srun.args")) << "srun ran: " << r.log;
    }
  EXPECT_EQ(run_script("train.sbatch", "--workdir '" + dir_ + "/limits'", 0, "77", 0,
                       "SCORCH_MAX_REQUEUES=0 SCORCH_MAX_FAILED_REQUEUES=5")
                .code,
            0);
}

TEST_F(SbatchAfterAFailedStep, SampleDropsOverwriteOnARequeue) {
  const std::string args = "--ckpt run --num 8 --batch 2 --out '" + dir_ + "/s' --overwrite";
  run_script("sample.sbatch", args, 0);
  run_script("sample.sbatch", args, 0, "77", 1);
  const std::string calls = read_text(dir_ + "/srun.args");
  const auto second = calls.find('\n') + 1;
  EXPECT_TRUE(contains(calls.substr(0, second), "--overwrite")) << calls;
  EXPECT_FALSE(contains(calls.substr(second), "--overwrite")) << calls;
}

// A rank killed before scorch made the run dir (during start-up) is requeued as any first death is: the record
// could not be written there, and the job failed.
TEST_F(SbatchAfterAFailedStep, AKilledRankBeforeTheRunDirExistsIsRequeued) {
  auto r = run_script("train.sbatch", "--config x.yaml --workdir '" + dir_ + "/not-yet'", 137);
  EXPECT_TRUE(r.requeued) << r.log;
  EXPECT_TRUE(fs::exists(dir_ + "/not-yet/.slurm-failures")) << r.log;
  r = run_script("train.sbatch", "--config x.yaml --workdir '" + dir_ + "/not-yet'", 2);
  EXPECT_EQ(r.code, 2) << r.log;
  EXPECT_FALSE(r.requeued) << r.log;
}

// An array task whose --ckpts matches nothing (a typo) fails instead of "nothing to do"; `latest` is no
// checkpoint of its own.
TEST_F(SbatchAfterAFailedStep, FidArrayTasksNeedAMatchAndSkipTheLatestLink) {
  const std::string ck = dir_ + "/run/checkpoints";
  fs::create_directories(ck + "/step-000000002");
  fs::create_directory_symlink("step-000000002", ck + "/latest");
  const auto fid = [&](int task, const std::string& pattern) {
    return run("PATH='" + dir_ + "/bin':\"$PATH\" SCORCH_BIN='" + dir_ +
               "/bin/scorch' FAKE_RC=0 SLURM_JOB_ID=5 "
               "SLURM_ARRAY_TASK_ID=" +
               std::to_string(task) + " bash '" + source_dir() + "/launch/slurm/fid.sbatch' --ckpts '" + pattern +
               "' --ref r.npz");
  };
  auto r = fid(0, dir_ + "/run/checkpoint/step-*");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "matches no checkpoint dir")) << r.output;
  r = fid(0, ck + "/*");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "array task 0: " + ck + "/step-000000002")) << r.output;
  r = fid(1, ck + "/*");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "only 1 checkpoint(s) match")) << r.output;
}

}  // namespace
