// Shards and manifests: bit-exact round trip, byte-identical repacks, and named errors for bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/atomic_file.h"
#include "core/dir_lock.h"
#include "core/error.h"
#include "core/sha256.h"
#include "data/dataset.h"
#include "data/verify.h"
#include "data_test_util.h"
#include "support/run.h"

namespace scorch::data {
namespace {

namespace fs = std::filesystem;
using test_util::pack_random;

// Expects `f` to throw a scorch::Error whose text contains every string of `parts`.
template <class F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    FAIL() << "no error thrown";
  } catch (const Error& e) {
    for (const auto& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
  }
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Shards, RoundTripIsBitExactAcrossShards) {
  const auto dir = test::temp_dir("shards");
  auto src = test_util::random_source(23, 5, 7, 3);
  pack_source(src, "test", {dir, 10, false}, *test_util::local_comm());
  Dataset ds(dir);
  ASSERT_EQ(ds.size(), 23);
  ASSERT_EQ(ds.manifest().shards.size(), 3u);  // 10 + 10 + 3
  std::vector<uint8_t> expect(ds.item_bytes()), got(ds.item_bytes());
  for (int64_t i = 0; i < 23; ++i) {
    src.read(i, expect.data());
    ds.read(i, got.data());
    EXPECT_EQ(got, expect) << "item " << i;
    EXPECT_EQ(ds.label(i), i % 10);
  }
  EXPECT_TRUE(ds.shard(0).direct());  // contiguous shards are read with pread
  EXPECT_TRUE(verify_dataset(dir, false).ok());
}

TEST(Shards, RepackIsByteIdentical) {
  const auto a = test::temp_dir("det_a"), b = test::temp_dir("det_b");
  pack_random(a, 50, 8, 8, 3, 16);
  pack_random(b, 50, 8, 8, 3, 16);
  for (int s = 0; s < 4; ++s) {
    const auto name = shard_file_name(s);
    EXPECT_EQ(sha256_file(a + "/" + name), sha256_file(b + "/" + name)) << name;
  }
  EXPECT_EQ(read_manifest(a).shards[0].sha256, sha256_file(a + "/shard-00000.h5"));
}

TEST(Shards, RefusesToOverwriteWithoutFlag) {
  const auto dir = test::temp_dir("overwrite");
  auto src = test_util::random_source(4, 2, 2, 1);
  pack_source(src, "test", {dir, 0, false}, *test_util::local_comm());
  expect_error([&] { pack_source(src, "test", {dir, 0, false}, *test_util::local_comm()); }, {dir, "already holds"});
}

// Two writers into one directory removed each other's staging and shards and left neither dataset: the second
// is refused, naming the first, and the dataset stays whole.
TEST(Shards, ASecondWriterIsRefusedAndTheDatasetKept) {
  const auto dir = test::temp_dir("overwrite-busy");
  auto src = test_util::random_source(4, 2, 2, 1);
  pack_source(src, "test", {dir, 0, false}, *test_util::local_comm());
  const auto manifest = read_file(dir + "/manifest.json");
  {
    DirLock other(dir, "dataset writer", "", "");
    expect_error(
        [&] {
          pack_source(src, "test", {dir, 0, true}, *test_util::local_comm());
        },
        {dir, "is in use by another dataset writer (pid "});
  }
  EXPECT_EQ(read_file(dir + "/manifest.json"), manifest);
  EXPECT_TRUE(verify_dataset(dir, false).ok());
  pack_source(src, "test", {dir, 0, true}, *test_util::local_comm());  // released: the next writer goes ahead
}

// Only a dataset is replaced: the shards of a directory that is no dataset (a sample farm killed before its
// manifest) were deleted without --overwrite; now an interrupted write needs --overwrite, and other files are
// never written among.
TEST(Shards, OnlyADatasetOrItsInterruptedWriteIsReplaced) {
  const auto dir = test::temp_dir("overwrite-other");
  auto src = test_util::random_source(4, 2, 2, 1);
  pack_source(src, "test", {dir + "/a", 0, false}, *test_util::local_comm());
  fs::remove(dir + "/a/manifest.json");
  expect_error(
      [&] {
        pack_source(src, "test", {dir + "/a", 0, false}, *test_util::local_comm());
      },
      {dir + "/a", "shards without a manifest"});
  EXPECT_TRUE(fs::exists(dir + "/a/shard-00000.h5"));
  pack_source(src, "test", {dir + "/a", 0, true}, *test_util::local_comm());
  EXPECT_TRUE(fs::exists(dir + "/a/manifest.json"));

  fs::create_directories(dir + "/farm");
  fs::copy_file(dir + "/a/shard-00000.h5", dir + "/farm/shard-00000.h5");
  write_file_atomic(dir + "/farm/farm.json", "{}");
  for (bool overwrite : {false, true}) {
    expect_error(
        [&] {
          pack_source(src, "test", {dir + "/farm", 0, overwrite}, *test_util::local_comm());
        },
        {dir + "/farm", "holds 1 file(s) no dataset writes (such as 'farm.json')"});
    EXPECT_TRUE(fs::exists(dir + "/farm/shard-00000.h5")) << overwrite;
  }
}

// --overwrite keeps the dataset it replaces until the new one is written: a pack that fails after its first shard
// (a file that will not decode, a full disk) used to leave neither. The next pack clears the failed one's shards.
TEST(Shards, FailedOverwriteLeavesTheOldDatasetWhole) {
  const auto dir = test::temp_dir("overwrite-fail");
  auto old_src = test_util::random_source(40, 2, 2, 1);  // 4 shards, the new dataset 3
  pack_source(old_src, "old", {dir, 10, false}, *test_util::local_comm());
  const auto old_manifest = read_file(dir + "/manifest.json");

  auto new_src = test_util::random_source(12, 2, 2, 1, /*seed=*/2);
  Manifest layout;
  layout.kind = "images";
  layout.dtype = "uint8";
  layout.shape = new_src.shape();
  layout.count = new_src.count();
  const auto failing = [&](int64_t i, uint8_t* dst) {
    SCORCH_CHECK(i < 7, "item {} will not decode", i);
    new_src.read(i, dst);
  };
  expect_error(
      [&] {
        write_dataset(layout, failing, nullptr, {dir, 5, true}, *test_util::local_comm());
      },
      {"item 7 will not decode"});
  EXPECT_EQ(read_file(dir + "/manifest.json"), old_manifest);
  EXPECT_TRUE(verify_dataset(dir, false).ok());
  EXPECT_FALSE(fs::exists(dir + "/.incoming"));  // the failed pack's shards do not stay hidden beside it
  EXPECT_EQ(Dataset(dir).size(), 40);

  pack_source(new_src, "new", {dir, 5, true}, *test_util::local_comm());
  EXPECT_TRUE(verify_dataset(dir, false).ok());
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files,
            (std::vector<std::string>{".lock", "manifest.json", "shard-00000.h5", "shard-00001.h5", "shard-00002.h5"}));
  Dataset ds(dir);
  ASSERT_EQ(ds.size(), 12);
  std::vector<uint8_t> expect(ds.item_bytes()), got(ds.item_bytes());
  new_src.read(11, expect.data());
  ds.read(11, got.data());
  EXPECT_EQ(got, expect);
}

TEST(Shards, TruncatedShardIsNamed) {
  const auto dir = test::temp_dir("trunc");
  pack_random(dir, 20, 16, 16, 3, 20);
  const auto shard = dir + "/shard-00000.h5";
  fs::resize_file(shard, fs::file_size(shard) / 2);
  expect_error([&] { Dataset(dir).read(0, std::vector<uint8_t>(768).data()); }, {shard});
  const auto report = verify_dataset(dir, false);
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_NE(report.problems[0].find(shard), std::string::npos);
  // From another thread (the loader's readers) too, HDF5 prints no error stack of its own: a thread-safe HDF5
  // keeps the setting per thread, and training printed ten lines of HDF5-DIAG before scorch's message.
  testing::internal::CaptureStderr();
  std::thread([&] {
    try {
      Dataset(dir).read(0, std::vector<uint8_t>(768).data());
    } catch (const Error&) {
    }
  }).join();
  const auto printed = testing::internal::GetCapturedStderr();
  EXPECT_EQ(printed.find("HDF5-DIAG"), std::string::npos) << printed;
}

// A manifest that lists a shard twice would read its images twice (and the shard it displaced never).
TEST(Shards, AShardListedTwiceIsRefused) {
  const auto dir = test::temp_dir("twice");
  pack_random(dir, 20, 4, 4, 1, 10);
  auto j = nlohmann::json::parse(read_file(dir + "/manifest.json"));
  j["shards"][1] = j["shards"][0];
  write_file_atomic(dir + "/manifest.json", j.dump());
  expect_error([&] { read_manifest(dir); }, {"shard 'shard-00000.h5' is listed twice"});
}

TEST(Shards, CorruptedBytesFailVerifyNamingTheShard) {
  const auto dir = test::temp_dir("corrupt");
  pack_random(dir, 20, 4, 4, 1, 10);
  const auto shard = dir + "/shard-00001.h5";
  std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(fs::file_size(shard) - 5));
  f.put('\x7f');
  f.close();
  const auto report = verify_dataset(dir, false);
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_NE(report.problems[0].find("shard-00001.h5"), std::string::npos);
  EXPECT_NE(report.problems[0].find("sha256"), std::string::npos);
}

TEST(Shards, MissingShardAndBadManifestAreNamed) {
  const auto dir = test::temp_dir("missing");
  pack_random(dir, 20, 4, 4, 1, 10);
  fs::remove(dir + "/shard-00001.h5");
  expect_error([&] { Dataset(dir).read(15, std::vector<uint8_t>(16).data()); }, {"shard-00001.h5", "missing"});

  const auto manifest = dir + "/manifest.json";
  auto j = nlohmann::json::parse(read_file(manifest));
  j["count"] = 21;
  write_file_atomic(manifest, j.dump());
  expect_error([&] { Dataset{dir}; }, {manifest, "add up to 20"});
  write_file_atomic(manifest, "{ not json");
  expect_error([&] { Dataset{dir}; }, {manifest, "JSON"});
  expect_error([&] { Dataset{dir + "/nope"}; }, {"manifest.json is missing"});
}

// Numbers that are not integers in range (a fuzzer's 118-digit dimension, which nlohmann would have cast to
// int64_t undefined) are refused naming the field, never truncated or wrapped.
TEST(Shards, ManifestNumbersThatAreNotIntegersAreNamed) {
  const auto dir = test::temp_dir("numbers");
  pack_random(dir, 6, 4, 4, 3, 0);
  const auto manifest = dir + "/manifest.json";
  const auto good = nlohmann::json::parse(read_file(manifest));
  auto forged = [&](const char* key, const std::string& value) {
    auto j = good;
    j[key] = nlohmann::json::parse(value);
    write_file_atomic(manifest, j.dump());
  };
  forged("shape", "[" + std::string(118, '8') + ", 4, 3]");
  expect_error([&] { Dataset{dir}; }, {manifest, "shape is 8.8", "expected an integer"});
  forged("shape", "[4.5, 4, 3]");
  expect_error([&] { Dataset{dir}; }, {manifest, "shape is 4.5"});
  forged("count", "6.0");
  expect_error([&] { Dataset{dir}; }, {manifest, "count is 6.0"});
  forged("count", "6");
  EXPECT_EQ(Dataset{dir}.manifest().count, 6);
}

TEST(Shards, ManifestShapeDisagreeingWithShardIsNamed) {
  const auto dir = test::temp_dir("shape");
  pack_random(dir, 6, 4, 4, 3, 0);
  auto j = nlohmann::json::parse(read_file(dir + "/manifest.json"));
  j["shape"] = {4, 5, 3};
  write_file_atomic(dir + "/manifest.json", j.dump());
  expect_error([&] { Dataset(dir).shard(0); }, {"shard-00000.h5", "manifest says 5"});
}

}  // namespace
}  // namespace scorch::data
