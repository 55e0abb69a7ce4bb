// The Slurm recipes run for real on a private one-node cluster (launch/slurm/local-cluster): srun through
// PMIx gives the ranks one world, train.sbatch goes USR1 -> checkpoint -> exit 3 -> requeue -> resume
// -> exit 0, sample.sbatch goes USR1 -> requeue -> the remaining batches, and a rank killed with SIGKILL
// requeues either job, which resumes, while scorch's own error (exit 1) is not requeued.
// Skipped, saying why, where slurm-wlm is not installed or its daemons cannot start. The decision after a
// failed step is also checked without Slurm (sbatch_failed_step_test.cpp).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/types.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>

#include "launch/launch_test_util.h"
#include "support/prerequisite.h"
#include "support/run.h"

namespace fs = std::filesystem;
using namespace scorch::test;

namespace {

std::string g_cluster;  // the cluster's directory, while it runs
std::string g_skip;     // why the suite is skipped

std::string srun_mpi() {
  const char* v = std::getenv("SCORCH_SRUN_MPI");
  return v && *v ? v : "pmix";
}

// Runs a Slurm client command against the private cluster.
RunResult slurm(const std::string& command, int timeout_s = 60) {
  return run("SLURM_CONF='" + g_cluster + "/slurm.conf' " + command, timeout_s);
}

struct JobInfo {
  std::string state, exit_code;
  int restarts = -1;
};

JobInfo job_info(const std::string& job) {
  const std::string line = slurm("scontrol show job -o " + job).output;
  auto field = [&](const std::string& key) {
    std::smatch m;
    return std::regex_search(line, m, std::regex("\\b" + key + "=(\\S+)")) ? m[1].str() : std::string();
  };
  JobInfo info{field("JobState"), field("ExitCode")};
  const std::string restarts = field("Restarts");
  if (!restarts.empty()) info.restarts = std::stoi(restarts);
  return info;
}

bool finished(const std::string& state) {
  static const std::regex terminal("COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE");
  return std::regex_match(state, terminal);
}

// Waits for a job to end; on a time-out the job is cancelled so the cluster can stop.
JobInfo wait_for_job(const std::string& job, double timeout_s) {
  JobInfo info;
  if (!wait_until([&] { return finished((info = job_info(job)).state); }, timeout_s)) slurm("scancel " + job);
  return info;
}

std::string daemon_logs() {
  return "--- slurmctld.log (tail)\n" + run("tail -n 15 '" + g_cluster + "/log/slurmctld.log'").output +
         "--- slurmd.log (tail)\n" + run("tail -n 15 '" + g_cluster + "/log/slurmd.log'").output;
}

// Starts this test binary's private cluster on first use; returns why it cannot run ("" when it runs).
std::string start_local_slurm() {
  if (!g_cluster.empty() || !g_skip.empty()) return g_skip;
  for (const char* tool : {"munged", "slurmctld", "slurmd", "sbatch", "srun", "scontrol", "scancel"})
    if (run(std::string("command -v ") + tool).code != 0)
      return g_skip = std::string("slurm-wlm is not installed (no ") + tool +
                      "); `launch/slurm/local-cluster install` installs it (root or sudo)";
  const std::string dir = temp_dir("slurm");
  const auto r = run("'" + source_dir() + "/launch/slurm/local-cluster' start '" + dir + "'", 90);
  if (r.code != 0)
    return g_skip = "could not start a local Slurm cluster (launch/slurm/local-cluster start):\n" + r.output;
  g_cluster = dir;
  return "";
}

#define REQUIRE_LOCAL_SLURM()                                      \
  if (const std::string why = start_local_slurm(); !why.empty()) { \
    SCORCH_REQUIRE_PREREQUISITE(false, why);                       \
  }

// The cluster lives as long as the test binary's suite: stopped (its jobs cancelled) at the end.
class LocalSlurm : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    if (g_cluster.empty()) return;
    run("'" + source_dir() + "/launch/slurm/local-cluster' stop '" + g_cluster + "'", 60);
    g_cluster.clear();
  }
};

// `scorch info` under `srun --mpi=pmix`: both tasks are ranks of one world of 2, as Slurm promised.
TEST_F(LocalSlurm, SrunGivesEveryRankOneWorld) {
  REQUIRE_LOCAL_SLURM();
  const auto r = slurm("srun --mpi=" + srun_mpi() + " -n 2 " + scorch_bin() + " info", 60);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "launcher    srun, world size 2 (promised: 2)")) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("rank +0 / 2 +local rank +0 / 2"))) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("rank +1 / 2 +local rank +1 / 2"))) << r.output;
}

// Without a PMI plugin the launch must fail rather than run two separate 1-rank jobs (Debian's Open MPI
// refuses in MPI_Init; an MPI that falls back to singletons meets scorch's world-size check).
TEST_F(LocalSlurm, SrunWithoutPmiNeverRunsSeparateWorlds) {
  REQUIRE_LOCAL_SLURM();
  const auto r = slurm("srun --mpi=none -n 2 " + scorch_bin() + " info", 60);
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_FALSE(contains(r.output, "world size 1")) << r.output;
}

// The sbatch command line of one of launch/slurm's scripts on this one-node cluster, run from `dir`.
std::string sbatch_command(const std::string& dir, const std::string& options, const std::string& script,
                           const std::string& args) {
  return "SCORCH_BIN='" + scorch_bin() + "' SCORCH_SRUN_MPI=" + srun_mpi() + " sbatch --chdir='" + dir +
         "' --nodes=1 --gres=none --cpus-per-task=1 --time=10 " + options + " '" + source_dir() + "/launch/slurm/" +
         script + "' " + args;
}

// sbatch --wait: submits, blocks until the job (every task of an array) has ended, exits with its status.
RunResult sbatch_wait(const std::string& dir, const std::string& options, const std::string& script,
                      const std::string& args, int timeout_s) {
  return slurm(sbatch_command(dir, "--wait " + options, script, args), timeout_s);
}

// Submits `script args` on 2 tasks with its output in `log`; returns the job id ("" when sbatch failed).
std::string sbatch_submit(const std::string& dir, const std::string& log, const std::string& script,
                          const std::string& args) {
  const auto r = slurm(sbatch_command(dir, "--parsable --ntasks-per-node=2 --output='" + log + "'", script, args));
  EXPECT_EQ(r.code, 0) << r.output;
  return r.code == 0 ? std::regex_replace(r.output, std::regex("\\s+"), "") : "";
}

// The acceptance check of train.sbatch: the job trains, gets USR1 (as from --signal=B:USR1@120), the ranks
// checkpoint and exit 3, the script requeues the job, and the requeued job resumes from that checkpoint
// and finishes n_iters with exit 0.
TEST_F(LocalSlurm, TrainSbatchCheckpointsOnUsr1RequeuesAndResumes) {
  REQUIRE_LOCAL_SLURM();
  const std::string dir = temp_dir("slurm-train"), data = dir + "/data", workdir = dir + "/run", log = dir + "/job.out";
  ASSERT_EQ(make_tiny_dataset(data), "");
  const std::string job = sbatch_submit(dir, log, "train.sbatch", tiny_train_args(data, workdir, 40, 10));
  ASSERT_FALSE(job.empty());

  // The first rolling checkpoint (step 10) shows training is under way; then the time-limit warning.
  const bool training = wait_until([&] { return fs::exists(workdir + "/checkpoints/latest"); }, 90);
  ASSERT_TRUE(training) << read_text(log) << daemon_logs();
  const auto signal = slurm("scancel --signal=USR1 --batch " + job);
  ASSERT_EQ(signal.code, 0) << signal.output;

  const JobInfo info = wait_for_job(job, 120);
  const std::string out = read_text(log);
  ASSERT_EQ(info.state, "COMPLETED") << out << daemon_logs();
  EXPECT_EQ(info.exit_code, "0:0") << out;
  EXPECT_EQ(info.restarts, 1) << out;

  // The first run stopped at some step k on USR1 (signal 10) after writing step k; the requeued run
  // started from exactly that checkpoint.
  std::smatch stop;
  ASSERT_TRUE(std::regex_search(out, stop, std::regex("stopping at step (\\d+) on signal 10 after checkpointing")))
      << out;
  const int k = std::stoi(stop[1].str());
  EXPECT_GE(k, 10) << out;
  EXPECT_LT(k, 40) << out;
  const std::string step_dir = fmt::format("step-{:09d}", k);
  EXPECT_TRUE(contains(out, "checkpointed; requeueing job " + job)) << out;
  EXPECT_TRUE(contains(out, "job " + job + " (restart 1)")) << out;
  EXPECT_TRUE(contains(out, "resumed from " + workdir + "/checkpoints/" + step_dir + " (step " + std::to_string(k)))
      << out;
  EXPECT_TRUE(contains(out, "training finished")) << out;
  EXPECT_EQ(checkpoint_step(workdir + "/checkpoints/latest"), 40);
}

// Sends SIGKILL to rank `rank`'s scorch process in a job step whose command line names `dir`, as the OOM
// killer would; false when there is none. srun's command line names the dir too, so the process must be
// scorch, with SLURM_PROCID=rank.
bool kill_rank(const std::string& dir, int rank) {
  const auto r = run("for p in $(pgrep -f -- '" + dir + "'); do [ \"$(cat /proc/$p/comm)\" = scorch ] && " +
                     "tr '\\0' '\\n' </proc/$p/environ | grep -qx SLURM_PROCID=" + std::to_string(rank) +
                     " && echo $p; done 2>/dev/null");
  return !r.output.empty() && ::kill(std::stoi(r.output), SIGKILL) == 0;
}

// A rank killed with SIGKILL in the middle of training (as by the OOM killer): srun ends the step, the
// script sees the signal in its exit status and requeues the job, which resumes from the newest complete
// checkpoint and finishes n_iters.
TEST_F(LocalSlurm, TrainSbatchRequeuesAfterAKilledRankAndResumes) {
  REQUIRE_LOCAL_SLURM();
  const std::string dir = temp_dir("slurm-train-kill"), data = dir + "/data", workdir = dir + "/run",
                    log = dir + "/job.out";
  ASSERT_EQ(make_tiny_dataset(data), "");
  const std::string job = sbatch_submit(dir, log, "train.sbatch", tiny_train_args(data, workdir, 60, 10));
  ASSERT_FALSE(job.empty());

  const bool training = wait_until([&] { return fs::exists(workdir + "/checkpoints/latest"); }, 90);
  ASSERT_TRUE(training) << read_text(log) << daemon_logs();
  ASSERT_TRUE(kill_rank(workdir, 1)) << read_text(log);

  const JobInfo info = wait_for_job(job, 180);
  const std::string out = read_text(log);
  ASSERT_EQ(info.state, "COMPLETED") << out << daemon_logs();
  EXPECT_EQ(info.exit_code, "0:0") << out;
  EXPECT_EQ(info.restarts, 1) << out;

  // srun reports the death and exits 128 + a signal; the script names the step it resumes from, and the
  // requeued run starts there.
  EXPECT_TRUE(contains(out, "task 1: Killed")) << out;
  std::smatch decision;
  ASSERT_TRUE(std::regex_search(out, decision,
                                std::regex("rank killed \\(exit 1\\d\\d, signal \\d+\\); requeueing job " + job +
                                           " \\(failure 1 of at most 3\\), which resumes from step (\\d+)")))
      << out;
  const int k = std::stoi(decision[1].str());
  EXPECT_GE(k, 10) << out;
  EXPECT_LT(k, 60) << out;
  EXPECT_TRUE(contains(out, "job " + job + " (restart 1)")) << out;
  EXPECT_TRUE(contains(out, fmt::format("resumed from {}/checkpoints/step-{:09d} (step {}", workdir, k, k))) << out;
  EXPECT_TRUE(contains(out, "training finished")) << out;
  EXPECT_EQ(checkpoint_step(workdir + "/checkpoints/latest"), 60);
  EXPECT_FALSE(fs::exists(workdir + "/.slurm-failures")) << "the failure record outlived the finished run";
}

// scorch's own error (here a config value it cannot read) exits 1 on every rank: requeued, it would fail
// again, so the job ends FAILED without a restart.
TEST_F(LocalSlurm, TrainSbatchDoesNotRequeueScorchsOwnError) {
  REQUIRE_LOCAL_SLURM();
  const std::string dir = temp_dir("slurm-train-error"), data = dir + "/data", log = dir + "/job.out";
  ASSERT_EQ(make_tiny_dataset(data), "");
  // The run dir exists (as on a resume), so only the script's policy could keep a requeue from happening.
  fs::create_directories(dir + "/run");
  const std::string job = sbatch_submit(dir, log, "train.sbatch",
                                        tiny_train_args(data, dir + "/run", 20, 10) + " --set training.n_iters=many");
  ASSERT_FALSE(job.empty());
  const JobInfo info = wait_for_job(job, 120);
  const std::string out = read_text(log);
  EXPECT_EQ(info.state, "FAILED") << out << daemon_logs();
  EXPECT_EQ(info.exit_code, "1:0") << out;
  EXPECT_EQ(info.restarts, 0) << out;
  EXPECT_TRUE(contains(out, "training failed (exit 1): scorch's own error, which a requeue would repeat; not requeued"))
      << out;
  EXPECT_FALSE(contains(out, "requeueing")) << out;
}

// A checkpointed tiny run made without Slurm (1 process, `steps` steps, a checkpoint after every step).
std::string train_directly(const std::string& dir, int steps) {
  EXPECT_EQ(make_tiny_dataset(dir + "/data"), "");
  const auto r = run(scorch_bin() + " train " + tiny_train_args(dir + "/data", dir + "/run", steps, 1), 120);
  EXPECT_EQ(r.code, 0) << r.output;
  return dir + "/run";
}

// fid.sbatch passes its arguments to `scorch fid` on every rank: statistics of a folder over 2 ranks.
TEST_F(LocalSlurm, FidSbatchComputesStatisticsOverTwoRanks) {
  REQUIRE_LOCAL_SLURM();
  const std::string dir = temp_dir("slurm-fid"), log = dir + "/job.out";
  ASSERT_EQ(run(scorch_bin() + " data synth shapes --out '" + dir + "/ref' --count 8 --resolution 16").code, 0);
  const auto r = sbatch_wait(dir, "--ntasks-per-node=2 --output='" + log + "'", "fid.sbatch",
                             "stats --data '" + dir + "/ref' --out '" + dir + "/ref.npz'", 180);
  const std::string out = read_text(log);
  SCORCH_REQUIRE_PREREQUISITE(!contains(out, "no FID Inception weights found"),
                              "no FID Inception weights (launch/setup)");
  ASSERT_EQ(r.code, 0) << r.output << out << daemon_logs();
  const auto stats = nlohmann::json::parse(read_text(dir + "/ref.npz.json"), nullptr, false);
  ASSERT_TRUE(stats.is_object()) << out;
  EXPECT_EQ(stats.value("ranks", 0), 2) << stats.dump();
  EXPECT_EQ(stats.value("images", 0), 8) << stats.dump();
}

// As a job array, task i of fid.sbatch scores the i-th checkpoint matching --ckpts; tasks past the last
// checkpoint do nothing.
TEST_F(LocalSlurm, FidSbatchArrayTaskScoresItsCheckpoint) {
  REQUIRE_LOCAL_SLURM();
  const std::string dir = temp_dir("slurm-fid-array");
  const std::string run_dir = train_directly(dir, 2);
  const auto r = sbatch_wait(dir, "--ntasks-per-node=1 --array=0-2 --output='" + dir + "/task-%a.out'", "fid.sbatch",
                             "--ckpts '" + run_dir + "/checkpoints/step-*' --num 8 --ref '" + dir + "/data'", 300);
  EXPECT_EQ(r.code, 0) << r.output << read_text(dir + "/task-0.out") << daemon_logs();
  for (int task : {0, 1}) {
    const std::string out = read_text(dir + "/task-" + std::to_string(task) + ".out");
    EXPECT_TRUE(contains(out, fmt::format("array task {}: {}/checkpoints/step-{:09d}", task, run_dir, task + 1)))
        << out;
  }
  const std::string last = read_text(dir + "/task-2.out");
  EXPECT_TRUE(contains(last, "array task 2: only 2 checkpoint(s) match")) << last;
}

// sample.sbatch farms one sampling job over 2 ranks; the samples dir holds every image asked for.
TEST_F(LocalSlurm, SampleSbatchFarmsOverTwoRanks) {
  REQUIRE_LOCAL_SLURM();
  const std::string dir = temp_dir("slurm-sample"), log = dir + "/job.out";
  const std::string run_dir = train_directly(dir, 1);
  const auto r =
      sbatch_wait(dir, "--ntasks-per-node=2 --output='" + log + "'", "sample.sbatch",
                  "--ckpt '" + run_dir + "/checkpoints/latest' --num 8 --batch 4 --out '" + dir + "/samples'", 300);
  const std::string out = read_text(log);
  ASSERT_EQ(r.code, 0) << r.output << out << daemon_logs();
  EXPECT_TRUE(contains(out, "sampling finished")) << out;
  const auto manifest = nlohmann::json::parse(read_text(dir + "/samples/manifest.json"), nullptr, false);
  ASSERT_TRUE(manifest.is_object()) << out;
  EXPECT_EQ(manifest.value("count", 0), 8) << manifest.dump();
}

// The acceptance check of sample.sbatch's preemption path: USR1 (as from --signal=B:USR1@60) stops the
// farm, the script requeues the job, and the requeued job writes only the batches not yet on disk.
TEST_F(LocalSlurm, SampleSbatchStopsOnUsr1RequeuesAndFinishes) {
  REQUIRE_LOCAL_SLURM();
  const std::string dir = temp_dir("slurm-sample-usr1"), log = dir + "/job.out", out_dir = dir + "/samples";
  const std::string run_dir = train_directly(dir, 1);
  // 12 batches of 200 noise levels (~3 s each here): the signal arrives while most batches remain.
  const std::string job = sbatch_submit(dir, log, "sample.sbatch",
                                        "--ckpt '" + run_dir + "/checkpoints/latest' --num 24 --batch 2 " +
                                            "--set model.num_scales=200 --out '" + out_dir + "'");
  ASSERT_FALSE(job.empty());
  const bool sampling = wait_until([&] { return fs::exists(out_dir + "/shard-00000.h5"); }, 120);
  ASSERT_TRUE(sampling) << read_text(log) << daemon_logs();
  const auto signal = slurm("scancel --signal=USR1 --batch " + job);
  ASSERT_EQ(signal.code, 0) << signal.output;

  const JobInfo info = wait_for_job(job, 240);
  const std::string out = read_text(log);
  ASSERT_EQ(info.state, "COMPLETED") << out << daemon_logs();
  EXPECT_EQ(info.exit_code, "0:0") << out;
  EXPECT_EQ(info.restarts, 1) << out;
  EXPECT_TRUE(contains(out, "USR1: stopping the farm")) << out;
  EXPECT_TRUE(contains(out, "requeueing job " + job)) << out;
  std::smatch resumed;
  ASSERT_TRUE(std::regex_search(out, resumed, std::regex("(\\d+) of 12 batches already done"))) << out;
  EXPECT_GE(std::stoi(resumed[1].str()), 1) << out;
  EXPECT_LT(std::stoi(resumed[1].str()), 12) << out;
  EXPECT_TRUE(contains(out, "sampling finished")) << out;
  const auto manifest = nlohmann::json::parse(read_text(out_dir + "/manifest.json"), nullptr, false);
  ASSERT_TRUE(manifest.is_object()) << out;
  EXPECT_EQ(manifest.value("count", 0), 24) << manifest.dump();
}

// A rank of the sampler farm killed with SIGKILL: the script requeues the job, which writes only the
// batches not yet on disk, as many as the script counted when it requeued.
TEST_F(LocalSlurm, SampleSbatchRequeuesAfterAKilledRankAndFinishes) {
  REQUIRE_LOCAL_SLURM();
  const std::string dir = temp_dir("slurm-sample-kill"), log = dir + "/job.out", out_dir = dir + "/samples";
  const std::string run_dir = train_directly(dir, 1);
  const std::string job = sbatch_submit(dir, log, "sample.sbatch",
                                        "--ckpt '" + run_dir + "/checkpoints/latest' --num 24 --batch 2 " +
                                            "--set model.num_scales=200 --out '" + out_dir + "'");
  ASSERT_FALSE(job.empty());
  const bool sampling = wait_until([&] { return fs::exists(out_dir + "/shard-00000.h5"); }, 120);
  ASSERT_TRUE(sampling) << read_text(log) << daemon_logs();
  ASSERT_TRUE(kill_rank(out_dir, 1)) << read_text(log);

  const JobInfo info = wait_for_job(job, 240);
  const std::string out = read_text(log);
  ASSERT_EQ(info.state, "COMPLETED") << out << daemon_logs();
  EXPECT_EQ(info.exit_code, "0:0") << out;
  EXPECT_EQ(info.restarts, 1) << out;
  std::smatch decision;
  ASSERT_TRUE(std::regex_search(out, decision,
                                std::regex("rank killed \\(exit 1\\d\\d, signal \\d+\\); requeueing job " + job +
                                           " \\(failure 1 of at most 3\\), which goes on after the (\\d+) batches")))
      << out;
  const int done = std::stoi(decision[1].str());
  EXPECT_GE(done, 1) << out;
  EXPECT_LT(done, 12) << out;
  EXPECT_TRUE(contains(out, fmt::format("{} of 12 batches already done", done))) << out;
  EXPECT_TRUE(contains(out, "sampling finished")) << out;
  const auto manifest = nlohmann::json::parse(read_text(out_dir + "/manifest.json"), nullptr, false);
  ASSERT_TRUE(manifest.is_object()) << out;
  EXPECT_EQ(manifest.value("count", 0), 24) << manifest.dump();
}

}  // namespace
