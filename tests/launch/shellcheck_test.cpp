// Every shell script under launch/ (setup, test, demo, the mpirun and Slurm recipes), bench/ (the GPU kit,
// the sampler benchmark), .ci/ and tests/reliability/ (the kill campaigns) passes shellcheck.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/run.h"

namespace fs = std::filesystem;
using scorch::test::run;
using scorch::test::source_dir;

namespace {

// A script is a file whose first line is a bash/sh shebang, or a sourced file that names its shell
// with a `# shellcheck shell=` directive.
bool is_shell_script(const fs::path& p) {
  std::ifstream in(p);
  std::string first;
  std::getline(in, first);
  const bool shebang =
      first.rfind("#!", 0) == 0 && (first.find("bash") != std::string::npos || first.find("/sh") != std::string::npos);
  return shebang || first.rfind("# shellcheck shell=", 0) == 0;
}

std::vector<std::string> launch_scripts() {
  std::vector<std::string> scripts;
  for (const char* dir : {"launch", "bench", ".ci", "tests/reliability", "tests/fuzz"})
    for (const auto& e : fs::recursive_directory_iterator(fs::path(source_dir()) / dir))
      if (e.is_regular_file() && is_shell_script(e.path()))
        scripts.push_back(fs::relative(e.path(), source_dir()).string());
  std::sort(scripts.begin(), scripts.end());
  return scripts;
}

}  // namespace

TEST(Shellcheck, FindsEveryLaunchScript) {
  const auto scripts = launch_scripts();
  for (const char* expected : {"launch/setup",
                               "launch/test",
                               "launch/demo",
                               "launch/mpirun/common.sh",
                               "launch/mpirun/train.sh",
                               "launch/mpirun/sample.sh",
                               "launch/mpirun/fid.sh",
                               "launch/slurm/train.sbatch",
                               "launch/slurm/sample.sbatch",
                               "launch/slurm/fid.sbatch",
                               "launch/slurm/local-cluster",
                               "bench/device/run",
                               "bench/device/pack",
                               "bench/device/fetch_refs",
                               "bench/fast_samplers.sh",
                               ".ci/run",
                               ".ci/check-format",
                               "tests/reliability/kill_campaign.sh",
                               "tests/reliability/farm_load.sh",
                               "tests/reliability/stopped_rank.sh",
                               "tests/fuzz/run.sh"})
    EXPECT_NE(std::find(scripts.begin(), scripts.end(), expected), scripts.end()) << expected << " not found";
}

TEST(Shellcheck, LaunchScriptsAreClean) {
  ASSERT_EQ(run("command -v shellcheck").code, 0)
      << "shellcheck is not installed: run launch/setup (Debian package shellcheck)";
  std::string files;
  for (const auto& s : launch_scripts()) files += " '" + s + "'";
  // -x follows `source` lines (launch/.shellcheckrc resolves them next to the sourcing script); every
  // severity counts, style included.
  const auto r = run("cd '" + source_dir() + "' && shellcheck -x --severity=style" + files, 120);
  EXPECT_EQ(r.code, 0) << "shellcheck" << files << "\n" << r.output;
}
