// Logging: level names, the per-rank file in the run directory, and the rank/elapsed prefix.
#include "core/log.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "support/run.h"

namespace scorch {
namespace {

TEST(Log, RunDirGetsARankFileWithPrefixedLines) {
  auto dir = test::temp_dir("log");
  init_logging(0, "info");
  log_to_run_dir(dir);
  spdlog::info("hello from the test {}", 42);
  spdlog::debug("below the level");
  spdlog::default_logger()->flush();
  auto text = read_file(dir + "/logs/rank-0.log");
  EXPECT_NE(text.find("hello from the test 42"), std::string::npos) << text;
  EXPECT_NE(text.find("[r0 +"), std::string::npos) << text;
  EXPECT_EQ(text.find("below the level"), std::string::npos) << text;
  init_logging(0, "warn");
  std::filesystem::remove_all(dir);
}

TEST(Log, LevelComesFromTheEnvironmentWhenNotGiven) {
  setenv("SCORCH_LOG_LEVEL", "debug", 1);
  init_logging(0, "");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
  unsetenv("SCORCH_LOG_LEVEL");
  init_logging(0, "");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::info);
  init_logging(0, "warn");
}

TEST(Log, UnknownLevelIsAnError) { EXPECT_THROW(init_logging(0, "chatty"), Error); }

TEST(AtomicFile, WritesWholeFileAndLeavesNoTemporary) {
  auto dir = test::temp_dir("atomic");
  write_file_atomic(dir + "/sub/out.txt", "content");
  EXPECT_EQ(read_file(dir + "/sub/out.txt"), "content");
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir + "/sub")) entries += e.is_regular_file();
  EXPECT_EQ(entries, 1);
  std::filesystem::remove_all(dir);
}

TEST(AtomicFile, FailedWriterLeavesTargetUntouched) {
  auto dir = test::temp_dir("atomic");
  write_file_atomic(dir + "/out.txt", "old");
  EXPECT_THROW(write_path_atomic(dir + "/out.txt", [](const std::string&) { SCORCH_FAIL("writer broke"); }), Error);
  EXPECT_EQ(read_file(dir + "/out.txt"), "old");
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) entries += e.is_regular_file();
  EXPECT_EQ(entries, 1);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace scorch
