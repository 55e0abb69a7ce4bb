// Implementation of the test process helpers (popen with coreutils' timeout).
#include "support/run.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "test_paths.h"

namespace scorch::test {

// The test binary may run under mpirun (or start MPI as a singleton); its OMPI_/PMIX_ variables would make a
// child `mpirun` or `scorch` believe it is part of this job, so children start without them.
static std::string clean_mpi_env() {
  std::string prefix = "env";
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    std::string name = kv.substr(0, kv.find('='));
    bool mpi = name.rfind("OMPI_", 0) == 0 || name.rfind("PMIX_", 0) == 0 || name.rfind("PMI_", 0) == 0;
    bool keep = name.rfind("OMPI_ALLOW_RUN_AS_ROOT", 0) == 0 || name == "OMPI_MCA_rmaps_base_oversubscribe";
    if (mpi && !keep) prefix += " -u " + name;
  }
  return prefix + " ";
}

RunResult run(const std::string& command, int timeout_s) {
  std::string quoted;
  for (char c : command) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  std::string full = clean_mpi_env() + "timeout -k 5 " + std::to_string(timeout_s) + " sh -c '" + quoted + "' 2>&1";
  RunResult r;
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

static std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

std::string scorch_bin() { return env_or("SCORCH_BIN", SCORCH_TEST_BIN); }
std::string source_dir() { return env_or("SCORCH_SOURCE_DIR", SCORCH_TEST_SOURCE_DIR); }
std::string python() { return env_or("SCORCH_PYTHON", SCORCH_TEST_PYTHON); }

namespace {
// Every temp dir made by a test binary is removed when it exits, unless SCORCH_KEEP_TEST_FILES is set
// (then the paths stay for a look at what a failing test wrote).
struct TempDirs {
  std::vector<std::filesystem::path> dirs;
  ~TempDirs() {
    if (std::getenv("SCORCH_KEEP_TEST_FILES")) return;
    std::error_code ec;
    for (const auto& d : dirs) std::filesystem::remove_all(d, ec);
  }
};
TempDirs g_temp_dirs;
int g_temp_counter = 0;
}  // namespace

std::string temp_dir(const std::string& tag) {
  auto base = std::filesystem::temp_directory_path() /
              ("scorch-test-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(++g_temp_counter));
  std::filesystem::remove_all(base);
  std::filesystem::create_directories(base);
  g_temp_dirs.dirs.push_back(base);
  return base.string();
}

}  // namespace scorch::test
