// `scorch train` as a user runs it: the run dir it writes, SIGTERM -> checkpoint -> exit 3 -> resume, errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "support/checks.h"
#include "support/prerequisite.h"
#include "support/run.h"
#include "support/tensorboard_read.h"

namespace scorch {
namespace {

using test::contains;

namespace fs = std::filesystem;
using test::run;
using test::scorch_bin;

std::string fmt_step(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof(name), "step-%09lld", static_cast<long long>(step));
  return name;
}

// A tiny VE model on 8x8 grayscale shapes: milliseconds per step.
std::string train_cmd(const std::string& root, const std::string& extra) {
  return scorch_bin() + " train --config " + test::source_dir() +
         "/configs/small/ve_tiny.yaml --set data.path=" + root +
         "/data --set data.image_size=8 --set data.num_channels=1 --set model.nf=8 " +
         "--set model.attn_resolutions=[4] --set training.batch_size=8 --set training.log_freq=5 " +
         "--set training.snapshot_freq=1000 --set training.snapshot_freq_for_preemption=1000 --workdir " + root +
         "/run " + extra;
}

std::string make_data(const std::string& tag) {
  const auto root = test::temp_dir(tag);
  auto r = run(scorch_bin() + " data synth shapes --out " + root + "/data --count 64 --resolution 8 --channels 1");
  EXPECT_EQ(r.code, 0) << r.output;
  return root;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(TrainCmd, SnapshotHookSamplesAGridWithTheEmaWeights) {
  const auto root = make_data("train_snapshot");
  // Snapshots at steps 4 and 8; 10 noise levels keep each 64-image grid to a second.
  auto r = run(train_cmd(root, "--set training.n_iters=8 --set training.snapshot_freq=4 --set model.num_scales=10"));
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"samples/step-000000004.png", "samples/step-000000008.png"})
    EXPECT_TRUE(std::filesystem::exists(root + "/run/" + f)) << f << "\n" << r.output;
  // The grid is batch 0 of the run's seed: `scorch sample` draws the same 64 images from the step-4 checkpoint
  // with its EMA weights (the same PNG, byte for byte), and other ones with the raw weights.
  const auto grid = file_bytes(root + "/run/samples/step-000000004.png");
  for (const std::string weights : {"ema", "model"}) {
    r = run(scorch_bin() + " sample --ckpt " + root + "/run/checkpoints/" + fmt_step(4) + " --weights " + weights +
            " --num 64 --batch 64 --out " + root + "/sample-" + weights);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(file_bytes(root + "/sample-" + weights + "/grid.png") == grid, weights == "ema") << weights;
  }
}

TEST(TrainCmd, WritesTheRunDirAndFinishes) {
  const auto root = make_data("train_cmd");
  auto r = run(train_cmd(root, "--set training.n_iters=10 --set training.snapshot_freq=10"));
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f :
       {"config.yaml", "metrics.jsonl", "metrics.png", "logs/rank-0.log", "checkpoints/latest/meta.json",
        "checkpoints/step-000000010/model.safetensors", "samples/step-000000010.png"})
    EXPECT_TRUE(fs::exists(root + "/run/" + f)) << f;
  std::ifstream metrics(root + "/run/metrics.jsonl");
  int rows = 0;
  for (std::string line; std::getline(metrics, line);) ++rows;
  EXPECT_EQ(rows, 2);  // steps 5 and 10
  EXPECT_TRUE(contains(r.output, "step 10/10 loss")) << r.output;
  // Running it again is a no-op that says so.
  r = run(train_cmd(root, "--set training.n_iters=10"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "nothing to train")) << r.output;
}

// A start the trainer refuses (a resume with another network, a run without its data) leaves the run dir's
// config.yaml as the run wrote it: it is the config the checkpoints were trained with.
TEST(TrainCmd, ARefusedStartKeepsTheRunsConfig) {
  const auto root = make_data("train_refused");
  auto r = run(train_cmd(root, "--set training.n_iters=5"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto written = file_bytes(root + "/run/config.yaml");
  ASSERT_TRUE(contains(written, "nf: 8")) << written;
  r = run(train_cmd(root, "--set training.n_iters=10 --set model.nf=16"));
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "model.nf")) << r.output;
  EXPECT_EQ(file_bytes(root + "/run/config.yaml"), written);
  r = run(scorch_bin() + " train --workdir " + root + "/run");
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "data.path")) << r.output;
  EXPECT_EQ(file_bytes(root + "/run/config.yaml"), written);
}

// A second `scorch train` on a run dir that another one is training in is refused, naming the holder: it resumed
// from the first's older checkpoint, rewrote metrics.jsonl from there (the first's later lines were lost) and
// interleaved its checkpoints with the first's. The first goes on; once it ends, the lock is free again.
TEST(TrainCmd, ASecondRunOnABusyRunDirIsRefused) {
  const auto root = make_data("train_busy");
  const std::string endless = train_cmd(root, "--set training.n_iters=1000000");
  const std::string script = endless + " > " + root + "/a.log 2>&1 & a=$!; " +
                             "for i in $(seq 1 600); do grep -q \"step 5/\" " + root +
                             "/a.log && break; sleep 0.1; done; " + endless + " > " + root +
                             "/b.log 2>&1; echo b=$?; kill -TERM $a; wait $a; echo a=$?";
  const auto r = run("sh -c '" + script + "'", 180);
  const auto b = file_bytes(root + "/b.log"), a = file_bytes(root + "/a.log");
  EXPECT_TRUE(contains(r.output, "b=1")) << r.output << b;
  EXPECT_TRUE(contains(b, root + "/run is in use by another scorch train (pid ")) << b;
  EXPECT_TRUE(contains(r.output, "a=3")) << r.output << a;  // the first stopped on its signal, as usual
  EXPECT_FALSE(contains(a, "resumed from")) << a;
  const auto again = run(train_cmd(root, "--set training.n_iters=10"), 120);
  EXPECT_EQ(again.code, 0) << again.output;
}

// Ranks started with different configs (an MPMD launch with a --set on one side) end at once with the differing
// key named; before, rank 1's heap was overwritten by a broadcast of rank 0's narrower network (malloc's abort).
TEST(TrainCmd, RanksWithDifferentConfigsEndNamingTheKey) {
  const auto root = make_data("train_mpmd");
  const std::string rank = "-np 1 --oversubscribe " + train_cmd(root, "--set training.n_iters=2");
  auto r = run("mpirun " + rank + " : " + rank + " --set model.nf=16", 120);
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "model.nf = 16 (rank 0: 8)")) << r.output;
  EXPECT_FALSE(contains(r.output, "corrupted")) << r.output;
  EXPECT_FALSE(fs::exists(root + "/run/checkpoints")) << r.output;
}

// TensorBoard shows exactly metrics.jsonl: every number of every row at its step (float32, as events store
// them), nothing more, across a resumed run's second event file; and the snapshot grids as images.
TEST(TrainCmd, TensorBoardEventsHoldEveryMetricAndTheSnapshotGrids) {
  SCORCH_REQUIRE_PREREQUISITE(test::have_tensorboard(), "the tensorboard package reads the event files");
  const auto root = make_data("train_tb");
  const std::string common = "--set training.snapshot_freq=10 --set model.num_scales=10 ";
  auto r = run(train_cmd(root, common + "--set training.n_iters=10"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run(train_cmd(root, common + "--set training.n_iters=20"));
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_TRUE(contains(r.output, "resumed from")) << r.output;
  const auto tb = test::read_tensorboard(root + "/run/tb");
  ASSERT_FALSE(tb.is_null());
  EXPECT_EQ(tb["files"], 2);
  std::map<std::string, std::vector<std::pair<int64_t, double>>> expected;
  std::ifstream metrics(root + "/run/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    const auto row = nlohmann::json::parse(line);
    for (const auto& [key, value] : row.items())
      if (key != "step" && value.is_number())
        expected[key].push_back({row["step"].get<int64_t>(), value.get<double>()});
  }
  ASSERT_EQ(expected["loss"].size(), 4u);  // steps 5, 10, 15, 20
  ASSERT_EQ(tb["scalars"].size(), expected.size()) << tb["scalars"].dump();
  for (const auto& [key, points] : expected) {
    const auto& got = tb["scalars"][key];
    ASSERT_EQ(got.size(), points.size()) << key;
    for (size_t i = 0; i < points.size(); ++i) {
      EXPECT_EQ(got[i][0].get<int64_t>(), points[i].first) << key;
      EXPECT_NEAR(got[i][1].get<double>(), points[i].second, 1e-6 * std::abs(points[i].second) + 1e-30) << key;
    }
  }
  ASSERT_EQ(tb["images"]["samples"].size(), 2u) << tb.dump();
  EXPECT_EQ(tb["images"]["samples"][0][0], 10);
  EXPECT_EQ(tb["images"]["samples"][1][0], 20);
  // Switched off, no event file is written.
  r = run(train_cmd(root, common + "--set training.n_iters=25 --set training.tensorboard=false"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(test::read_tensorboard(root + "/run/tb")["files"], 2);
}

TEST(TrainCmd, SigtermCheckpointsExitsThreeAndResumes) {
  const auto root = make_data("train_sigterm");
  // Start a long run, wait for its first metrics row, then send SIGTERM and collect the exit code.
  const auto script =
      train_cmd(root, "--set training.n_iters=100000 --set training.log_freq=1") + " > " + root +
      "/log1 2>&1 & pid=$!; for i in $(seq 600); do grep -q step " + root +
      "/run/metrics.jsonl 2>/dev/null && break; sleep 0.1; done; kill -TERM $pid; wait $pid; echo rc=$?";
  auto r = run("sh -c '" + script + "'", 120);
  ASSERT_TRUE(contains(r.output, "rc=3")) << r.output << std::ifstream(root + "/log1").rdbuf();
  ASSERT_TRUE(fs::exists(root + "/run/checkpoints/latest/meta.json"));
  const auto stopped = fs::read_symlink(root + "/run/checkpoints/latest").string();  // step-00000000N
  const int64_t step = std::stoll(stopped.substr(5));
  ASSERT_GT(step, 0);

  r = run(train_cmd(root, "--set training.n_iters=" + std::to_string(step + 3)));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "resumed from")) << r.output;
  EXPECT_TRUE(fs::exists(root + "/run/checkpoints/" + fmt_step(step + 3) + "/meta.json")) << r.output;
}

// Both signals arrive while the step-1 snapshot grid is being sampled (2000 noise levels: seconds): the
// snapshot hook creates run/samples/ after the step-1 checkpoint and its stop check, so from then on the run
// can act on the first signal only after step 2. (Waiting for the checkpoint directory instead raced with
// that stop check on a loaded machine.) The second signal must end the process at once (128 + SIGTERM)
// without a stop checkpoint; a run that ignored it would checkpoint after step 2 and exit 3.
TEST(TrainCmd, ASecondSignalExitsAtOnce) {
  const auto root = make_data("train_twice");
  const auto script = train_cmd(root,
                                "--set training.n_iters=100000 --set training.log_freq=1 "
                                "--set training.snapshot_freq=1 --set model.num_scales=2000") +
                      " > " + root + "/log 2>&1 & pid=$!; for i in $(seq 1200); do test -e " + root +
                      "/run/samples && break; sleep 0.05; done; kill -TERM $pid; sleep 0.3; "
                      "kill -TERM $pid; wait $pid; echo rc=$?";
  auto r = run("sh -c '" + script + "'", 120);
  std::ifstream log(root + "/log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(contains(r.output, "rc=143")) << r.output << text;
  EXPECT_TRUE(contains(text, "second stop signal, exiting now without a checkpoint")) << text;
  EXPECT_FALSE(fs::exists(root + "/run/checkpoints/" + fmt_step(2))) << "a stop checkpoint was written";
}

TEST(TrainCmd, ClearErrors) {
  const auto root = make_data("train_errors");
  auto r = run(train_cmd(root, "--set training.batch_size=7 --set training.micro_batch=2"));
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.output, "training.micro_batch = 2 does not divide")) << r.output;
  // (The attention width moves with the image size: [4] is no width of a 16x16 network.)
  r = run(train_cmd(root, "--set data.image_size=16 --set 'model.attn_resolutions=[8]'"));
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.output, "holds 8x8x1 images, the config wants 16x16x1")) << r.output;
  r = run(scorch_bin() + " train --config " + test::source_dir() + "/configs/small/ve_tiny.yaml");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.output, "--workdir")) << r.output;
  r = run(scorch_bin() + " train --config " + test::source_dir() + "/configs/small/ve_tiny.yaml --dry-run");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "batch_size: 16")) << r.output;
  // With data.path set, --dry-run checks the data as the run would, and prints nothing it would refuse.
  r = run(train_cmd(root, "--set data.image_size=16 --set 'model.attn_resolutions=[8]' --dry-run"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "training dataset " + root + "/data holds 8x8x1 images, the config wants 16x16x1"))
      << r.output;
  EXPECT_FALSE(contains(r.output, "training:")) << r.output;
  ASSERT_EQ(run(scorch_bin() + " data synth shapes --out " + root + "/rgb --count 8 --resolution 8 --channels 3").code,
            0);
  r = run(train_cmd(root, "--set data.eval_path=" + root + "/rgb --set training.eval_freq=2 --dry-run"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "evaluation dataset " + root + "/rgb holds 8x8x3 images")) << r.output;
  r = run(train_cmd(root, "--dry-run"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "image_size: 8")) << r.output;
  // A --workdir that is a file: a filesystem exception naming no option, before.
  write_file_atomic(root + "/afile", "x");
  r = run(scorch_bin() + " train --config " + test::source_dir() +
          "/configs/small/ve_tiny.yaml --set data.path=" + root + "/data --workdir " + root + "/afile");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "--workdir '" + root + "/afile' is a file, not a directory")) << r.output;
}

}  // namespace
}  // namespace scorch
