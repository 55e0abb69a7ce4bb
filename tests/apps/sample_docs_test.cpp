// Runs every command of docs/sampling.md's sh blocks, in order, in a scratch directory holding the
// runs/ve_tiny checkpoint the page assumes (written with the trainer's checkpoint API).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/run.h"
#include "support/tiny_checkpoint.h"

namespace scorch {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> sh_commands(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) {
      inside = !inside && line == "```sh";
      continue;
    }
    if (inside && !line.empty()) out.push_back(line);
  }
  return out;
}

TEST(SampleDocs, EveryCommandRunsAsWritten) {
  const auto cmds = sh_commands(test::source_dir() + "/docs/sampling.md");
  ASSERT_GE(cmds.size(), 8u);
  const auto dir = test::temp_dir("sampledocs");
  // 20 noise levels instead of the config's 100 keep the page's commands to seconds on a shared CPU.
  test::write_tiny_run(dir + "/runs/ve_tiny", "ve_tiny.yaml", {"model.num_scales=20"});
  const std::string env = "cd " + dir + " && export PATH=" + fs::path(test::scorch_bin()).parent_path().string() +
                          ":$PATH OMP_NUM_THREADS=1 && ";
  for (const auto& c : cmds) {
    auto r = test::run(env + c, 300);
    EXPECT_EQ(r.code, 0) << c << "\n" << r.output;
  }
  EXPECT_TRUE(fs::exists(dir + "/samples/ve_tiny/manifest.json"));
  EXPECT_TRUE(fs::exists(dir + "/samples/ve_tiny_2ranks/png/000047.png"));
  EXPECT_TRUE(fs::exists(dir + "/samples/ddpm_ddim/manifest.json"));
  EXPECT_TRUE(fs::exists(dir + "/samples/ddpm_sigma_hat/manifest.json"));
  EXPECT_TRUE(fs::exists(dir + "/samples/decoded_ddim/manifest.json"));
  EXPECT_TRUE(fs::exists(dir + "/samples/bpd.json"));
  EXPECT_TRUE(fs::exists(dir + "/samples/colorized/grid.png"));
}

}  // namespace
}  // namespace scorch
