// Writes that fail (file-size limit, as on a full disk or over quota): `scorch train` and `scorch sample`
// end with an error naming the file, leave no partial file, keep `latest` on the last complete
// checkpoint, and the same command afterwards finishes as if nothing had happened (docs/reliability.md).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"
#include "core/io/checkpoint_store.h"
#include "support/checks.h"
#include "support/run.h"
#include "support/tiny_checkpoint.h"

namespace scorch {
namespace failing_writes {

namespace fs = std::filesystem;
using test::contains;

// The files under `dir` whose names say they are unfinished (a temporary name of write_path_atomic or of
// the checkpoint store).
std::vector<std::string> leftovers(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (contains(e.path().filename().string(), ".tmp")) found.push_back(e.path().string());
  return found;
}

// Runs `cmd` and, once `file` exists, caps every file it writes from then on at `bytes` (`prlimit --pid`):
// past the cap write() fails with EFBIG, as on a full disk (scorch ignores SIGXFSZ, which would otherwise
// kill it before it could name the file). The cap comes late because MPI's start-up itself writes
// megabytes of shared-memory segments.
std::string limited_after(const std::string& file, int64_t bytes, const std::string& cmd) {
  return cmd + " & pid=$!; while [ ! -e " + file + " ] && kill -0 $pid 2>/dev/null; do sleep 0.02; done; " +
         "prlimit --pid $pid --fsize=" + std::to_string(bytes) + "; wait $pid";
}

TEST(FailingWrites, ASampleShardPastTheFileSizeLimitIsAnErrorAndTheRerunCompletes) {
  const auto dir = test::temp_dir("failwrite_sample");
  const auto run = test::write_tiny_run(dir + "/run", "ve_tiny.yaml", {"model.num_scales=4", "model.nf=8"});
  const std::string cmd = test::scorch_bin() + " sample --ckpt " + run + " --num 12 --batch 2 --seed 3 --out ";
  // A 2-image 16x16x3 shard is ~3.5 KB with HDF5's metadata; the farm's JSON files stay under 2 KB. The
  // pause before each batch lets the cap land while the first shards are still being written.
  auto r = test::run(limited_after(dir + "/s/shard-00000.h5", 2048, cmd + dir + "/s --test-delay 0:200"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "shard-0000") && contains(r.output, "disk full")) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/s/shard-00005.h5")) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/s/manifest.json"));
  EXPECT_TRUE(leftovers(dir + "/s").empty()) << leftovers(dir + "/s")[0];

  r = test::run(cmd + dir + "/s");
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::run(cmd + dir + "/whole");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_file(dir + "/s/manifest.json"), read_file(dir + "/whole/manifest.json"));
}

// A tiny VE run on 8x8 grayscale shapes, checkpointing every 10 steps.
std::string train(const std::string& root, const std::string& workdir) {
  return test::scorch_bin() + " train --config " + test::source_dir() +
         "/configs/small/ve_tiny.yaml --set data.path=" + root +
         "/data --set data.image_size=8 --set data.num_channels=1 --set model.nf=8 " +
         "--set model.attn_resolutions=[4] --set training.batch_size=8 --set training.snapshot_sampling=false " +
         "--set training.snapshot_freq=1000 --set training.snapshot_freq_for_preemption=10 " +
         "--set training.n_iters=200 --workdir " + workdir;
}

TEST(FailingWrites, ACheckpointPastTheFileSizeLimitKeepsLatestAndTheRerunEqualsAnUninterruptedRun) {
  const auto root = test::temp_dir("failwrite_train");
  auto r = test::run(test::scorch_bin() + " data synth shapes --out " + root +
                     "/data --count 64 --resolution 8 --channels 1");
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::run(train(root, root + "/whole"));
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string whole = root + "/whole/checkpoints/step-000000200/";
  const auto model_bytes = static_cast<int64_t>(fs::file_size(whole + "model.safetensors"));

  // Capped at half the weights once step 10 is saved: a later checkpoint cannot be written.
  const std::string run = root + "/run", ckpts = run + "/checkpoints";
  r = test::run(limited_after(ckpts + "/step-000000010", model_bytes / 2, train(root, run)));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, ".safetensors") && contains(r.output, "failed")) << r.output;
  ASSERT_TRUE(fs::exists(ckpts + "/latest")) << r.output;
  const std::string latest = fs::read_symlink(ckpts + "/latest").filename().string();
  EXPECT_LT(latest, "step-000000200") << r.output;
  EXPECT_NO_THROW(io::CheckpointStore::validate(ckpts + "/" + latest));
  for (const auto& e : fs::directory_iterator(ckpts))
    EXPECT_LE(e.path().filename().string(), latest) << "a checkpoint newer than latest: " << e.path();
  EXPECT_TRUE(leftovers(ckpts).empty()) << leftovers(ckpts)[0];

  r = test::run(train(root, run));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "resumed from " + ckpts + "/" + latest)) << r.output;
  for (const char* f : {"model.safetensors", "ema.safetensors", "optimizer.safetensors"})
    EXPECT_EQ(read_file(ckpts + "/step-000000200/" + f), read_file(whole + f)) << f;
}

}  // namespace failing_writes
}  // namespace scorch
