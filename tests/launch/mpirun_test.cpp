// launch/mpirun recipes as docs/cluster.md uses them: two CPU ranks pinned to their cores, USR1 to mpirun
// makes every rank checkpoint and exit 3, and the same command again resumes and finishes.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <string>

#include "launch/launch_test_util.h"
#include "support/run.h"

namespace fs = std::filesystem;
using namespace scorch::test;

TEST(MpirunRecipes, PrintTheCommandWithBindingAndForwardedVariables) {
  const auto r = run("SCORCH_DRY_RUN=1 SCORCH_NP=2 SCORCH_BIN='" + scorch_bin() + "' NCCL_DEBUG=WARN '" + source_dir() +
                     "/launch/mpirun/fid.sh' --samples S --ref R");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "mpirun -np 2 --map-by ppr:2:node")) << r.output;
  EXPECT_TRUE(contains(r.output, "-x NCCL_DEBUG")) << r.output;
  EXPECT_TRUE(contains(r.output, scorch_bin() + " fid --samples S --ref R")) << r.output;
}

TEST(MpirunRecipes, HostfileSetsRanksPerNodeFromItsSlots) {
  const std::string dir = temp_dir("mpirun-hosts");
  run("printf 'node01 slots=4\\n# spare\\nnode02 slots=4\\n' > '" + dir + "/hosts'");
  const auto r = run("SCORCH_DRY_RUN=1 SCORCH_HOSTFILE='" + dir + "/hosts' SCORCH_CORES_PER_RANK=8 SCORCH_BIN='" +
                     scorch_bin() + "' '" + source_dir() + "/launch/mpirun/train.sh' --workdir W");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "mpirun -np 8 --hostfile " + dir + "/hosts --map-by ppr:4:node:PE=8 --bind-to core"))
      << r.output;
}

// Settings that place the ranks are checked: bash arithmetic read a typo as 0, and a missing hostfile failed in awk.
TEST(MpirunRecipes, SettingsThatAreNotCountsOrFilesAreNamed) {
  const std::string script = "' '" + source_dir() + "/launch/mpirun/train.sh' --workdir W";
  for (const std::string env : {"SCORCH_NP=two", "SCORCH_PER_NODE=0", "SCORCH_CORES_PER_RANK=4x"}) {
    const auto r = run("SCORCH_DRY_RUN=1 " + env + " SCORCH_BIN='" + scorch_bin() + script);
    EXPECT_EQ(r.code, 1) << env << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, env.substr(0, env.find('=')) + "='" + env.substr(env.find('=') + 1) +
                                       "': expected a positive whole number"))
        << r.output;
    EXPECT_FALSE(contains(r.output, "mpirun -np")) << r.output;
  }
  const auto r = run("SCORCH_DRY_RUN=1 SCORCH_HOSTFILE=/nonexistent/hosts SCORCH_BIN='" + scorch_bin() + script);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "SCORCH_HOSTFILE='/nonexistent/hosts': no such readable file")) << r.output;
}

TEST(MpirunRecipes, TrainStopsOnUsr1AndTheSameCommandResumes) {
  const std::string dir = temp_dir("mpirun-train"), data = dir + "/data", workdir = dir + "/run";
  ASSERT_EQ(make_tiny_dataset(data), "");
  const std::string command = "SCORCH_NP=2 SCORCH_BIN='" + scorch_bin() + "' '" + source_dir() +
                              "/launch/mpirun/train.sh' " + tiny_train_args(data, workdir, 30, 5);
  // USR1 to mpirun (the script execs it) once the first checkpoint shows training is under way.
  const auto first = run(command + " > '" + dir + "/first.log' 2>&1 & p=$!; while [ ! -e '" + workdir +
                             "/checkpoints/latest' ]; do kill -0 $p || break; sleep 0.2; done; kill -USR1 $p; "
                             "wait $p; echo exit=$?",
                         120);
  const std::string log = read_text(dir + "/first.log");
  ASSERT_TRUE(contains(first.output, "exit=3")) << first.output << log;
  std::smatch stop;
  ASSERT_TRUE(std::regex_search(log, stop, std::regex("stopping at step (\\d+) on signal 10"))) << log;
  const int k = std::stoi(stop[1].str());
  EXPECT_EQ(checkpoint_step(workdir + "/checkpoints/latest"), k);

  const auto second = run(command, 120);
  ASSERT_EQ(second.code, 0) << second.output;
  EXPECT_TRUE(contains(second.output, fmt::format("resumed from {}/checkpoints/step-{:09d} (step {}", workdir, k, k)))
      << second.output;
  EXPECT_EQ(checkpoint_step(workdir + "/checkpoints/latest"), 30);
}
