// The farm's seams: before_batch / after_batch run around every batch of this rank, and a farm stopped from
// after_batch (as `scorch sample --test-die-after` stops the process) leaves complete shards that a rerun
// resumes to the uninterrupted result; which config changes a resume takes and which it refuses.
#include "sampler/farm.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/dir_lock.h"
#include "core/dist/mpi_comm.h"
#include "core/error.h"
#include "core/io/image_io.h"
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

// A farm stopped after two of its three batches, resumed with `resumed` as its config: how many batches the
// resume found, or the error that refused it.
std::string resume_with(const std::string& out, const Config& resumed, int64_t* found = nullptr) {
  dist::LocalCommunicator comm;
  auto o = five_in_batches_of_two(out);
  o.after_batch = [](const FarmReport& so_far) {
    if (so_far.mine >= 2) throw std::runtime_error("stopped by the test");
  };
  EXPECT_THROW(run_farm(batch_images, {1, 4, 4}, Config::defaults(), o, comm), std::runtime_error);
  o.after_batch = nullptr;
  try {
    const auto r = run_farm(batch_images, {1, 4, 4}, resumed, o, comm);
    if (found != nullptr) *found = r.resumed;
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

Config defaults_with(const std::vector<std::string>& sets) {
  auto c = Config::defaults();
  for (const auto& kv : sets) c.set_assignment(kv, "--set");
  return c;
}

// What only changes the speed or the run (the whole-step graph, the layout, the device, the watchdog) may change
// on a resume; what changes the samples (a sampling key, the objective) may not, and the refusal names it.
TEST(Farm, AResumeTakesSpeedAndRuntimeChangesAndRefusesSampleChangesByName) {
  const auto dir = test::temp_dir("farm-settings");
  int64_t found = 0;
  EXPECT_EQ(resume_with(dir + "/speed",
                        defaults_with({"sampling.cuda_graph=false", "sampling.channels_last=true", "device=cpu",
                                       "dist.timeout_s=60", "training.cudnn_benchmark=true"}),
                        &found),
            "");
  EXPECT_EQ(found, 2);
  for (const auto& [kv, message] : std::vector<std::pair<std::string, std::string>>{
           {"sampling.snr=0.2", "config key sampling.snr differs: was 0.16, now 0.2"},
           {"model.sigma_max=10", "config key model.sigma_max differs: was 50, now 10"},
           {"sampling.precision=bf16", "config key sampling.precision differs"}}) {
    const auto error = resume_with(dir + "/" + kv, defaults_with({kv}));
    EXPECT_NE(error.find("holds samples made with different settings (" + message), std::string::npos)
        << kv << ": " << error;
  }
}

// A farm started by a scorch whose config had fewer keys resumes: a key its farm.json lacks compares at its
// default (here sampling.snr, which decides the samples, taken out of the stored config as if it had not existed).
TEST(Farm, AFarmFromBeforeAKeyExistedResumes) {
  const auto dir = test::temp_dir("farm-older");
  dist::LocalCommunicator comm;
  auto o = five_in_batches_of_two(dir + "/old");
  o.after_batch = [](const FarmReport& so_far) {
    if (so_far.mine >= 2) throw std::runtime_error("stopped by the test");
  };
  EXPECT_THROW(run_farm(batch_images, {1, 4, 4}, Config::defaults(), o, comm), std::runtime_error);
  auto farm = nlohmann::json::parse(read_file(dir + "/old/farm.json"));
  auto yaml = farm.at("config").get<std::string>();
  const auto at = yaml.find("  snr: ", yaml.find("\nsampling:"));
  ASSERT_NE(at, std::string::npos) << yaml;
  yaml.erase(at, yaml.find('\n', at) + 1 - at);
  farm["config"] = yaml;
  write_file_atomic(dir + "/old/farm.json", farm.dump(2));
  o.after_batch = nullptr;
  EXPECT_EQ(run_farm(batch_images, {1, 4, 4}, Config::defaults(), o, comm).resumed, 2);
}

// NaN used to become black 8-bit pixels without a word: each batch holding non-finite images is counted (and
// warned about), so a diverged sampler does not pass for a sample set.
TEST(Farm, ImagesHoldingNanOrInfinityAreCounted) {
  const auto dir = test::temp_dir("farm-nan");
  dist::LocalCommunicator comm;
  auto o = five_in_batches_of_two(dir + "/nan");
  const BatchProducer some_nan = [](int64_t id, int64_t count, int64_t* nfe) {
    auto x = batch_images(id, count, nfe);
    if (id == 1) x[0][0][2][3] = std::numeric_limits<double>::quiet_NaN();
    if (id == 2) x[0][0][0][0] = std::numeric_limits<double>::infinity();
    return x;
  };
  EXPECT_EQ(run_farm(some_nan, {1, 4, 4}, Config::defaults(), o, comm).nonfinite_mine, 2);
  EXPECT_EQ(
      run_farm(batch_images, {1, 4, 4}, Config::defaults(), five_in_batches_of_two(dir + "/fine"), comm).nonfinite_mine,
      0);
}

// Two farms at once on one --out each took the other's batches as done, making one set of two seeds that verified
// as whole; the second is refused, naming the holder, and writes nothing.
TEST(Farm, ASecondFarmOnTheSameOutIsRefused) {
  const auto dir = test::temp_dir("farm-lock");
  dist::LocalCommunicator comm;
  std::optional<DirLock> other;
  fs::create_directories(dir + "/f");
  other.emplace(dir + "/f", "scorch sample farm", "the test holds it", "");
  try {
    run_farm(batch_images, {1, 4, 4}, Config::defaults(), five_in_batches_of_two(dir + "/f"), comm);
    ADD_FAILURE() << "a second farm ran";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/f is in use by another scorch sample farm (pid "), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(dir + "/f/farm.json"));
  other.reset();
  write_file_atomic(dir + "/afile", "x");
  try {
    run_farm(batch_images, {1, 4, 4}, Config::defaults(), five_in_batches_of_two(dir + "/afile"), comm);
    ADD_FAILURE() << "a farm in a file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--out '" + dir + "/afile' is a file, not a directory"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(run_farm(batch_images, {1, 4, 4}, Config::defaults(), five_in_batches_of_two(dir + "/f"), comm).images, 5);
}

// A resume counted every shard file as a done batch by its name: one cut short after it was written was kept, and
// the manifest certified it. It is sampled again, to the same bytes.
TEST(Farm, AResumeSamplesADamagedShardAgain) {
  const auto dir = test::temp_dir("farm-damaged");
  dist::LocalCommunicator comm;
  const auto o = five_in_batches_of_two(dir + "/d");
  run_farm(batch_images, {1, 4, 4}, Config::defaults(), o, comm);
  const auto shard = dir + "/d/" + batch_shard_name(1);
  const auto whole = read_file(shard);
  fs::remove(dir + "/d/manifest.json");
  fs::resize_file(shard, 100);
  EXPECT_EQ(run_farm(batch_images, {1, 4, 4}, Config::defaults(), o, comm).resumed, 2);
  EXPECT_EQ(read_file(shard), whole);
}

// A farm.json that is not a JSON object (a partial copy, another tool's file) is named, not a parser's message.
TEST(Farm, AnUnreadableFarmFileIsNamed) {
  const auto dir = test::temp_dir("farm-corrupt");
  dist::LocalCommunicator comm;
  for (const std::string text : {"{\"format\": \"scorch-sa", "[1, 2]"}) {
    fs::create_directories(dir + "/c");
    write_file_atomic(dir + "/c/farm.json", text);
    try {
      run_farm(batch_images, {1, 4, 4}, Config::defaults(), five_in_batches_of_two(dir + "/c"), comm);
      ADD_FAILURE() << text << ": accepted";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(dir + "/c/farm.json is not a sample farm's settings file"), std::string::npos) << what;
      // Raised on rank 0 and handed to every rank: once where it was raised, not also where it was handed on.
      EXPECT_EQ(e.where().rfind("sampler/farm_settings.cpp:", 0), 0u) << e.where();
      EXPECT_EQ(what.find(" ["), what.rfind(" [")) << what;
    }
  }
}

// PNGs come with every image whatever the runs before asked: a farm resumed with --png writes those of the
// batches sampled without it, and a finished farm asked again writes the PNGs and the grid it lacks.
TEST(Farm, PngsOfBatchesSampledWithoutThemAreWrittenOnResume) {
  const auto dir = test::temp_dir("farm-png");
  dist::LocalCommunicator comm;
  auto o = five_in_batches_of_two(dir + "/p");
  o.after_batch = [](const FarmReport& so_far) {
    if (so_far.mine >= 1) throw std::runtime_error("stopped by the test");
  };
  EXPECT_THROW(run_farm(batch_images, {1, 4, 4}, Config::defaults(), o, comm), std::runtime_error);
  o.after_batch = nullptr;
  o.png = true;
  EXPECT_EQ(run_farm(batch_images, {1, 4, 4}, Config::defaults(), o, comm).resumed, 1);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(fs::exists(fmt::format("{}/p/png/{:06}.png", dir, i))) << i;

  auto done = five_in_batches_of_two(dir + "/done");
  run_farm(batch_images, {1, 4, 4}, Config::defaults(), done, comm);
  EXPECT_FALSE(fs::exists(dir + "/done/png"));
  done.png = true;
  done.grid = 4;
  EXPECT_TRUE(run_farm(batch_images, {1, 4, 4}, Config::defaults(), done, comm).already_complete);
  EXPECT_TRUE(fs::exists(dir + "/done/grid.png"));
  // Image 3 is batch 1's second: its PNG holds batch 1's gray, 0.2 * 255 truncated.
  const auto png = io::read_image(dir + "/done/png/000003.png", 1);
  EXPECT_EQ(png.pixels.at(0), 51);
}

}  // namespace
}  // namespace scorch::sampler
