// The farm's seams: before_batch / after_batch run around every batch of this rank, and a farm stopped from
// after_batch (as `scorch sample --test-die-after` stops the process) leaves complete shards that a rerun
// resumes to the uninterrupted result.
#include "sampler/farm.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/dist/mpi_comm.h"
#include "data/dataset.h"
#include "support/run.h"

namespace scorch::sampler {
namespace {

namespace fs = std::filesystem;

// Batch `id` is a flat gray of its own level, so every shard says which batch wrote it.
torch::Tensor batch_images(int64_t id, int64_t count, int64_t* nfe) {
  *nfe = 3;
  return torch::full({count, 1, 4, 4}, static_cast<double>(id + 1) / 10.0);  // (count, C, H, W)
}

FarmOptions five_in_batches_of_two(const std::string& out) {
  FarmOptions o;
  o.out = out;
  o.num = 5;
  o.batch = 2;
  o.seed = 1;
  o.grid = 0;
  return o;
}

TEST(Farm, SeamsRunAroundEveryBatchOfThisRank) {
  const auto dir = test::temp_dir("farm");
  dist::LocalCommunicator comm;
  auto o = five_in_batches_of_two(dir + "/all");
  std::vector<int64_t> before, mine_after;
  o.before_batch = [&](int64_t id) { before.push_back(id); };
  o.after_batch = [&](const FarmReport& so_far) {
    // The batch's shard is on disk by then.
    EXPECT_TRUE(fs::exists(fs::path(o.out) / batch_shard_name(so_far.mine - 1)));
    mine_after.push_back(so_far.mine);
  };
  const auto r = run_farm(batch_images, {1, 4, 4}, Config::defaults(), o, comm);
  EXPECT_EQ(before, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(mine_after, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(r.images, 5);
  EXPECT_EQ(r.batches, 3);
  EXPECT_EQ(r.nfe_mine, 9);
  EXPECT_TRUE(fs::exists(dir + "/all/manifest.json"));
}

TEST(Farm, StoppedFromAfterBatchItResumesToTheUninterruptedResult) {
  const auto dir = test::temp_dir("farm");
  dist::LocalCommunicator comm;
  run_farm(batch_images, {1, 4, 4}, Config::defaults(), five_in_batches_of_two(dir + "/whole"), comm);

  auto o = five_in_batches_of_two(dir + "/part");
  o.after_batch = [](const FarmReport& so_far) {
    if (so_far.mine >= 2) throw std::runtime_error("stopped by the test");
  };
  EXPECT_THROW(run_farm(batch_images, {1, 4, 4}, Config::defaults(), o, comm), std::runtime_error);
  EXPECT_TRUE(fs::exists(dir + "/part/" + batch_shard_name(1)));
  EXPECT_FALSE(fs::exists(dir + "/part/" + batch_shard_name(2)));
  EXPECT_FALSE(fs::exists(dir + "/part/manifest.json"));

  // What writes killed mid-way leave behind (write_path_atomic's ".NAME.tmp-PID") is removed on resume.
  const std::vector<std::string> leftovers = {"/part/.shard-00002.h5.tmp-1", "/part/.manifest.json.tmp-1",
                                              "/part/runinfo/.shard-00002.json.tmp-1", "/part/png/.000004.png.tmp-1"};
  for (const auto& f : leftovers) {
    fs::create_directories(fs::path(dir + f).parent_path());
    write_file_atomic(dir + f, "partial");
  }
  o.after_batch = nullptr;
  const auto r = run_farm(batch_images, {1, 4, 4}, Config::defaults(), o, comm);
  for (const auto& f : leftovers) EXPECT_FALSE(fs::exists(dir + f)) << f;
  EXPECT_EQ(r.resumed, 2);
  EXPECT_EQ(r.mine, 1);
  const std::vector<int64_t> all{0, 1, 2, 3, 4};
  EXPECT_TRUE(
      torch::equal(data::Dataset(dir + "/part").read_items(all), data::Dataset(dir + "/whole").read_items(all)));
}

}  // namespace
}  // namespace scorch::sampler
