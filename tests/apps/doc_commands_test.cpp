// The example commands of the user docs run exactly as written (with /tmp/ mapped to a test dir and
// `scorch` to the built binary): every ```sh block of each listed doc, in order, must exit 0.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "eval/inception_weights.h"
#include "support/prerequisite.h"
#include "support/run.h"

namespace scorch {
namespace {

// The shell commands of a markdown file's ```sh blocks, continuation lines joined, comments dropped.
std::vector<std::string> sh_commands(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::vector<std::string> out;
  bool inside = false;
  std::string pending;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) {
      inside = !inside && line == "```sh";
      continue;
    }
    if (!inside) continue;
    if (line.empty() || line[0] == '#') continue;
    if (!line.empty() && line.back() == '\\') {
      pending += line.substr(0, line.size() - 1);
      continue;
    }
    out.push_back(pending + line);
    pending.clear();
  }
  return out;
}

void run_doc(const std::string& doc) {
  const auto dir = test::temp_dir("doc");
  const auto commands = sh_commands(test::source_dir() + "/docs/" + doc);
  ASSERT_FALSE(commands.empty()) << doc << " has no ```sh block";
  for (auto cmd : commands) {
    cmd = std::regex_replace(cmd, std::regex("/tmp/"), dir + "/");
    cmd = std::regex_replace(cmd, std::regex("(^|[ ;&|])scorch "), "$1" + test::scorch_bin() + " ");
    auto r = test::run("cd " + test::source_dir() + " && " + cmd + " 2>&1", 300);
    ASSERT_EQ(r.code, 0) << doc << ": " << cmd << "\n" << r.output;
  }
}

TEST(DocCommands, Training) { run_doc("training.md"); }
TEST(DocCommands, Cluster) { run_doc("cluster.md"); }
TEST(DocCommands, FromScoreSde) { run_doc("from-score-sde.md"); }
TEST(DocCommands, Models) { run_doc("models.md"); }
TEST(DocCommands, ScoreMatching) { run_doc("score-matching.md"); }
TEST(DocCommands, Fid) {
  try {
    eval::default_weights_path();
  } catch (const Error&) {
    SCORCH_REQUIRE_PREREQUISITE(
        false, "no FID Inception weights installed (launch/setup): scorch fid refuses to run without them");
  }
  run_doc("fid.md");
}

}  // namespace
}  // namespace scorch
