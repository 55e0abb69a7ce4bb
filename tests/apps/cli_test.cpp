// The scorch binary as a user meets it: subcommands, config flags, --dry-run, errors, info under MPI.
#include <gtest/gtest.h>

#include <chrono>

#include "support/checks.h"
#include "support/run.h"

namespace scorch {
namespace {

using test::contains;

using test::run;
using test::scorch_bin;

TEST(Cli, HelpListsEverySubcommand) {
  auto r = run(scorch_bin() + " --help");
  EXPECT_EQ(r.code, 0) << r.output;
  for (const char* sub : {"train", "sample", "fid", "data", "convert", "info", "model"})
    EXPECT_TRUE(contains(r.output, sub)) << sub;
}

TEST(Cli, UnknownSubcommandFails) {
  auto r = run(scorch_bin() + " bogus");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "subcommand is required")) << r.output;
}

TEST(Cli, VersionNamesTheCommit) {
  auto r = run(scorch_bin() + " --version");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "(")) << r.output;
}

TEST(Cli, DryRunPrintsTheResolvedConfig) {
  auto r = run(scorch_bin() + " train --dry-run --set training.batch_size=64 --model.nf 32");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "batch_size: 64")) << r.output;
  EXPECT_TRUE(contains(r.output, "nf: 32")) << r.output;
  EXPECT_TRUE(contains(r.output, "n_iters: 1300001")) << r.output;
}

// --dry-run runs the checks the command makes on its config at start (the data too when data.path is set;
// tests/apps/train_cmd_test.cpp), so a value the run would refuse is refused before anything is printed.
TEST(Cli, DryRunChecksWhatTheRunChecks) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--set optim.lr=-1", "optim.lr must be >= 0"},
      {"--set sampling.snr=-1", "sampling.snr must be positive"},
      {"--set training.loss=nce", "training.loss = 'nce'"},
      {"--model.conv_size 5", "model.conv_size = 5"},
      {"--set training.batch_size=8 --set training.micro_batch=3", "training.micro_batch = 3 does not divide"}};
  for (const auto& [args, message] : cases) {
    auto r = run(scorch_bin() + " train --dry-run --model.nf 16 " + args);
    EXPECT_EQ(r.code, 1) << args << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, message)) << args << "\n" << r.output;
    EXPECT_FALSE(contains(r.output, "training:")) << "printed a config it refused: " << args;
  }
}

TEST(Cli, SetWinsOverKeyFlags) {
  auto r = run(scorch_bin() + " train --dry-run --model.nf 32 --set model.nf=64");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "nf: 64")) << r.output;
}

TEST(Cli, UnknownConfigKeySuggestsTheClosest) {
  auto r = run(scorch_bin() + " train --dry-run --set training.batch_sise=3");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "unknown config key 'training.batch_sise'")) << r.output;
  EXPECT_TRUE(contains(r.output, "did you mean 'training.batch_size'")) << r.output;
}

TEST(Cli, MissingConfigFileIsNamed) {
  auto r = run(scorch_bin() + " train --dry-run --config /nonexistent/x.yaml");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.output, "/nonexistent/x.yaml")) << r.output;
}

// A command line that is not understood exits 2 whichever CLI11 step refused it (it used to exit 105 to 109), an
// error of scorch's 1, --help 0.
TEST(Cli, UsageErrorsExitTwo) {
  for (const std::string args : {"train --no-such-flag", "fid --samples s --ref r --kid-subsets 0",
                                 "convert export-diffusers c --out o --weights neither", "sample --num"}) {
    auto r = run(scorch_bin() + " " + args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
  }
  EXPECT_EQ(run(scorch_bin() + " train --help").code, 0);
}

TEST(Cli, BadLogLevelIsRefused) {
  auto r = run(scorch_bin() + " --log-level loud info");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "unknown log level 'loud'")) << r.output;
}

// KID's subsets are checked as the command line is read: a count of 0 ran the whole feature pass and then blamed
// the image counts ("KID needs at least 2 images per set").
TEST(Cli, KidSubsetFlagsAreCheckedAsTheyAreRead) {
  const auto empty = test::temp_dir("kid_flags");  // no images: reading the inputs would fail on them
  for (const std::string flag : {"--kid-subsets 0", "--kid-subset-size 1", "--kid-subset-size -1"}) {
    auto r = run(scorch_bin() + " fid --samples " + empty + " --ref " + empty + " --kid " + flag);
    EXPECT_EQ(r.code, 2) << flag;
    EXPECT_TRUE(contains(r.output, flag.substr(0, flag.find(' ')))) << flag << "\n" << r.output;
    EXPECT_FALSE(contains(r.output, empty)) << "checked after the inputs: " << flag << "\n" << r.output;
  }
}

// A --samples or --ref that does not exist is named with its flag before anything loads (it was a bare "cannot
// open '…'" from deep in the reader, after the Inception weights).
TEST(Cli, FidInputsThatDoNotExistAreNamedWithTheirFlag) {
  const auto dir = test::temp_dir("fid_inputs");
  for (const std::string args :
       {"--samples " + dir + " --ref " + dir + "/missing.npz",
        "--ckpts '" + dir + "/step-*' --ref " + dir + "/missing.npz", "--samples " + dir + "/missing --ref " + dir}) {
    auto r = run(scorch_bin() + " fid " + args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, args.find("/missing.npz") != std::string::npos ? "--ref" : "--samples")) << r.output;
    EXPECT_TRUE(contains(r.output, dir + "/missing")) << r.output;
  }
}

TEST(Info, SingleProcess) {
  auto r = run(scorch_bin() + " info");
  EXPECT_EQ(r.code, 0) << r.output;
  for (const char* what : {"scorch", "LibTorch    2.11", "MPI", "Open MPI", "HDF5", "NCCL", "GPUs", "rank   0 / 1"})
    EXPECT_TRUE(contains(r.output, what)) << what << "\n" << r.output;
}

// main() applies the host allocator policy before anything else, unless the user opted out.
TEST(Info, ReportsTheHostMemoryPolicy) {
  auto r = run(scorch_bin() + " info");
  EXPECT_TRUE(contains(r.output, "host memory keeps freed memory")) << r.output;
  r = run("SCORCH_KEEP_FREED_MEMORY=0 " + scorch_bin() + " info");
  EXPECT_TRUE(contains(r.output, "host memory glibc's defaults (SCORCH_KEEP_FREED_MEMORY=0)")) << r.output;
}

TEST(Info, TwoRanksUnderMpirun) {
  auto r = run("mpirun -np 2 " + scorch_bin() + " info");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "rank   0 / 2")) << r.output;
  EXPECT_TRUE(contains(r.output, "rank   1 / 2")) << r.output;
  EXPECT_TRUE(contains(r.output, "launcher    mpirun, world size 2 (promised: 2)")) << r.output;
}

TEST(Info, WorldSizeMismatchIsAnError) {
  auto r = run("SCORCH_EXPECT_WORLD_SIZE=3 " + scorch_bin() + " info");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "promised 3 ranks but MPI sees a world of 1")) << r.output;
}

TEST(Abort, OneFailingRankEndsTheWholeJobQuickly) {
  auto start = std::chrono::steady_clock::now();
  auto r = run("mpirun -np 2 " + scorch_bin() + " info --fail-on-rank 1", 60);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.code, 124) << "the job hung until the time limit:\n" << r.output;
  EXPECT_LT(seconds, 30.0) << r.output;
  EXPECT_TRUE(contains(r.output, "rank 1 fails on purpose")) << r.output;
}

}  // namespace
}  // namespace scorch
