// CheckpointStore: atomic step directories, `latest`, retention, and skipping incomplete checkpoints.
#include "core/io/checkpoint_store.h"

#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/sha256.h"
#include "support/checks.h"
#include "support/run.h"

namespace scorch {
namespace {

namespace fs = std::filesystem;

void write_blob(const std::string& dir, const std::string& name, size_t bytes) {
  std::ofstream(fs::path(dir) / name, std::ios::binary) << std::string(bytes, 'x');
}

std::vector<std::string> names(const std::vector<std::string>& dirs) {
  std::vector<std::string> out;
  for (auto& d : dirs) out.push_back(fs::path(d).filename().string());
  return out;
}

TEST(CheckpointStore, SaveWritesFilesMetaAndLatest) {
  auto root = test::temp_dir("ckpt");
  io::CheckpointStore store(root + "/checkpoints");
  auto dir =
      store.save(50, {{"images_seen", 6400}}, [](const std::string& d) { write_blob(d, "model.safetensors", 100); });
  EXPECT_EQ(fs::path(dir).filename(), "step-000000050");
  auto meta = io::CheckpointStore::validate(dir);
  EXPECT_EQ(meta["step"], 50);
  EXPECT_EQ(meta["images_seen"], 6400);
  EXPECT_EQ(meta["files"]["model.safetensors"], 100);
  EXPECT_EQ(fs::read_symlink(root + "/checkpoints/latest"), "step-000000050");
  EXPECT_TRUE(fs::exists(root + "/checkpoints/latest/meta.json"));
  fs::remove_all(root);
}

TEST(CheckpointStore, RetentionKeepsLastKAndSnapshots) {
  auto root = test::temp_dir("ckpt");
  io::CheckpointStore store(root, {2, 10});
  for (int64_t step : {5, 10, 15, 20, 25}) store.save(step, {}, [](const std::string& d) { write_blob(d, "a", 1); });
  EXPECT_EQ(names(store.list()),
            (std::vector<std::string>{"step-000000010", "step-000000015", "step-000000020", "step-000000025"}));
  fs::remove_all(root);
}

// A run resumed with another snapshot interval keeps the snapshots written before: they used to be judged by
// the new interval and pruned as rolling checkpoints. A checkpoint whose meta.json predates the "snapshot" entry
// is judged by the snapshot_freq of the config it stores.
TEST(CheckpointStore, SnapshotsOfAnEarlierIntervalAreKept) {
  auto root = test::temp_dir("ckpt");
  const auto blob = [](const std::string& d) { write_blob(d, "a", 1); };
  io::CheckpointStore first(root, {1, 10});
  for (int64_t step : {10, 20, 25, 30}) first.save(step, {}, blob);
  // As an older scorch wrote it: no "snapshot" entry, the config with snapshot_freq 4.
  first.save(8, {{"config", "training:\n  snapshot_freq: 4\n"}}, blob);
  const auto legacy = fs::path(root) / "step-000000008" / "meta.json";
  auto meta = nlohmann::json::parse(read_file(legacy.string()));
  EXPECT_FALSE(meta["snapshot"].get<bool>());
  meta.erase("snapshot");
  write_file_atomic(legacy.string(), meta.dump());

  io::CheckpointStore resumed(root, {1, 7});
  for (int64_t step : {35, 40, 41}) resumed.save(step, {}, blob);
  EXPECT_EQ(names(resumed.list()), (std::vector<std::string>{"step-000000008", "step-000000010", "step-000000020",
                                                             "step-000000030", "step-000000035", "step-000000041"}));
  fs::remove_all(root);
}

TEST(CheckpointStore, TruncatedOrPartialCheckpointsAreSkipped) {
  auto root = test::temp_dir("ckpt");
  io::CheckpointStore store(root, {5, 0});
  store.save(1, {}, [](const std::string& d) { write_blob(d, "model.safetensors", 64); });
  auto second = store.save(2, {}, [](const std::string& d) { write_blob(d, "model.safetensors", 64); });
  fs::resize_file(fs::path(second) / "model.safetensors", 10);
  fs::create_directories(root + "/step-000000003");  // a crash before meta.json
  std::vector<std::string> why;
  auto best = store.latest_complete(&why);
  ASSERT_TRUE(best.has_value());
  EXPECT_EQ(fs::path(*best).filename(), "step-000000001");
  ASSERT_EQ(why.size(), 2u);
  EXPECT_NE(why[0].find("no meta.json"), std::string::npos) << why[0];
  EXPECT_NE(why[1].find("truncated"), std::string::npos) << why[1];
  fs::remove_all(root);
}

// A file changed in place keeps its size: the SHA-256 digests meta.json records catch it before a load, while
// choosing among checkpoints reads only the sizes. A checkpoint written before the digests validates as before.
TEST(CheckpointStore, AFileChangedInPlaceIsRefusedByItsDigest) {
  auto root = test::temp_dir("ckpt");
  io::CheckpointStore store(root, {5, 0});
  const auto dir = store.save(1, {}, [](const std::string& d) { write_blob(d, "model.safetensors", 64); });
  const auto file = dir + "/model.safetensors";
  const auto meta = io::CheckpointStore::validate(dir);
  EXPECT_EQ(meta["sha256"]["model.safetensors"], sha256_hex(std::string(64, 'x')));

  std::fstream(file, std::ios::in | std::ios::out | std::ios::binary).put('y');
  EXPECT_NO_THROW(io::CheckpointStore::validate(dir, io::CheckpointStore::Check::Sizes));
  EXPECT_EQ(store.latest_complete(), dir);
  try {
    io::CheckpointStore::validate(dir);
    ADD_FAILURE() << "a changed file passed";
  } catch (const Error& e) {
    EXPECT_TRUE(test::contains(e.message(), dir + "': model.safetensors has SHA-256 ")) << e.message();
    EXPECT_TRUE(test::contains(e.message(), meta["sha256"]["model.safetensors"].get<std::string>())) << e.message();
    EXPECT_TRUE(test::contains(e.hint(), "use an older checkpoint")) << e.hint();
  }

  auto legacy = meta;
  legacy.erase("sha256");
  write_file_atomic(dir + "/meta.json", legacy.dump());
  EXPECT_NO_THROW(io::CheckpointStore::validate(dir));
  legacy["sha256"] = {{"other", "00"}};
  write_file_atomic(dir + "/meta.json", legacy.dump());
  test::expect_error_containing([&] { io::CheckpointStore::validate(dir); }, "records no sha256 for model.safetensors");
  fs::remove_all(root);
}

// A meta.json whose step or file size is not an integer in range (a float, a negative size, 1e300, which a
// plain cast would turn into anything) is refused naming the field, and the checkpoint before it is resumed.
TEST(CheckpointStore, MetaNumbersThatAreNotIntegersAreRefusedNamingTheField) {
  auto root = test::temp_dir("ckpt");
  io::CheckpointStore store(root, {5, 0});
  store.save(1, {}, [](const std::string& d) { write_blob(d, "model.safetensors", 64); });
  const auto second = store.save(2, {}, [](const std::string& d) { write_blob(d, "model.safetensors", 64); });
  const auto meta_path = (fs::path(second) / "meta.json").string();
  const auto good = nlohmann::json::parse(read_file(meta_path));
  struct Forged {
    std::string field, value, shown;
  };
  for (const auto& [field, value, shown] : std::vector<Forged>{{"step", "1e300", "1e+300"},
                                                               {"step", "2.5", "2.5"},
                                                               {"step", "-2", "-2"},
                                                               {"files.model.safetensors", "-64", "-64"}}) {
    auto j = good;
    if (field == "step")
      j["step"] = nlohmann::json::parse(value);
    else
      j["files"]["model.safetensors"] = nlohmann::json::parse(value);
    write_file_atomic(meta_path, j.dump());
    std::vector<std::string> why;
    const auto best = store.latest_complete(&why);
    ASSERT_TRUE(best.has_value());
    EXPECT_EQ(fs::path(*best).filename(), "step-000000001") << field << " " << value;
    ASSERT_EQ(why.size(), 1u);
    EXPECT_NE(why[0].find(field), std::string::npos) << why[0];
    EXPECT_NE(why[0].find(shown), std::string::npos) << why[0];
  }
  fs::remove_all(root);
}

TEST(CheckpointStore, FailedWriteLeavesNoTraceAndKeepsLatest) {
  auto root = test::temp_dir("ckpt");
  io::CheckpointStore store(root);
  store.save(1, {}, [](const std::string& d) { write_blob(d, "a", 1); });
  EXPECT_THROW(store.save(2, {},
                          [](const std::string& d) {
                            write_blob(d, "a", 1);
                            SCORCH_FAIL("disk full");
                          }),
               Error);
  EXPECT_EQ(names(store.list()), std::vector<std::string>{"step-000000001"});
  EXPECT_EQ(fs::read_symlink(root + "/latest"), "step-000000001");
  int entries = 0;
  for (auto& e : fs::directory_iterator(root)) entries += 1, (void)e;
  EXPECT_EQ(entries, 2);  // step-000000001 and latest
  fs::remove_all(root);
}

// A save killed mid-way leaves its temporary directory, link or file; removing them keeps every checkpoint.
TEST(CheckpointStore, LeftoversOfKilledSavesAreRemovedAndCheckpointsKept) {
  auto root = test::temp_dir("ckpt");
  io::CheckpointStore store(root + "/checkpoints");
  store.save(10, {}, [](const std::string& d) { write_blob(d, "model.safetensors", 10); });
  const std::string c = root + "/checkpoints/";
  fs::create_directories(c + ".tmp-step-000000020-4242");
  write_blob(c + ".tmp-step-000000020-4242", "model.safetensors", 5);
  fs::create_directories(c + ".tmp-step-000000005-4242-removed");  // a prune killed mid-delete
  write_blob(c + ".tmp-step-000000005-4242-removed", "ema.safetensors", 5);
  fs::create_directory_symlink("step-000000010", c + ".latest-4242");
  write_blob(c, ".notes.json.tmp-4242", 3);
  store.remove_leftovers();
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(c)) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"latest", "step-000000010"}));
  EXPECT_NO_THROW(io::CheckpointStore::validate(c + "step-000000010"));
  fs::remove_all(root);
}

// What happens to directory `dir` while `act` runs, as inotify reports it: 'M' it moved, 'D' a file in it
// was deleted, 'X' it was deleted itself.
std::string watch(const std::string& dir, const std::function<void()>& act) {
  const int fd = inotify_init1(IN_NONBLOCK);
  EXPECT_GE(fd, 0);
  EXPECT_GE(inotify_add_watch(fd, dir.c_str(), IN_MOVE_SELF | IN_DELETE | IN_DELETE_SELF), 0);
  act();
  std::string seen;
  alignas(inotify_event) char buf[16384];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
    for (char* p = buf; p < buf + n; p += sizeof(inotify_event) + reinterpret_cast<inotify_event*>(p)->len) {
      const uint32_t mask = reinterpret_cast<inotify_event*>(p)->mask;
      if (mask & IN_MOVE_SELF) seen += 'M';
      if (mask & IN_DELETE) seen += 'D';
      if (mask & IN_DELETE_SELF) seen += 'X';
    }
  }
  ::close(fd);
  return seen;
}

// Pruning and re-saving take a step directory out of the store by one rename before deleting its files, so
// a kill during the delete leaves a .tmp-step leftover, never a step-N missing files (the training kill
// campaign once found one). Deleting in place shows as "DDDX"; a rename first as "MDDDX".
TEST(CheckpointStore, PruneAndResaveMoveAStepAwayBeforeDeletingItsFiles) {
  auto root = test::temp_dir("ckpt");
  io::CheckpointStore store(root, {1, 0});
  const auto write = [](const std::string& d) {
    write_blob(d, "model.safetensors", 10);
    write_blob(d, "ema.safetensors", 10);
  };
  const auto first = store.save(1, {}, write);
  EXPECT_EQ(watch(first, [&] { store.save(2, {}, write); }), "MDDDX");  // prune keeps 1
  EXPECT_EQ(names(store.list()), std::vector<std::string>{"step-000000002"});
  const auto second = root + "/step-000000002";
  EXPECT_EQ(watch(second, [&] { store.save(2, {}, write); }), "MDDDX");  // a re-save replaces it
  EXPECT_NO_THROW(io::CheckpointStore::validate(second));
  fs::remove_all(root);
}

TEST(CheckpointStore, EmptyStoreHasNoLatest) {
  io::CheckpointStore store("/nonexistent/checkpoints");
  EXPECT_FALSE(store.latest_complete().has_value());
}

}  // namespace
}  // namespace scorch
