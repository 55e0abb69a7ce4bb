// Test helpers: run a command (the scorch binary, mpirun, python) and capture its exit code and output.
#pragma once
#include <string>

namespace scorch::test {

struct RunResult {
  int code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `command` through /bin/sh with a time limit (seconds); code 124 means it timed out.
RunResult run(const std::string& command, int timeout_s = 120);
// Path of the scorch binary, the source tree, and the Python with torch/numpy/h5py ("" when absent).
std::string scorch_bin();
std::string source_dir();
std::string python();
// A fresh empty directory under the system temp dir; removed when the test binary exits unless
// SCORCH_KEEP_TEST_FILES is set.
std::string temp_dir(const std::string& tag);

}  // namespace scorch::test
