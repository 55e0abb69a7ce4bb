// scorch entry point: starts MPI, runs the CLI, and turns any error into one message and a non-zero exit.
#include <csignal>
#include <cstdio>
#include <exception>

#include "apps/commands.h"
#include "core/dist/process.h"
#include "core/error.h"
#include "core/host_memory.h"

int main(int argc, char** argv) {
  namespace dist = scorch::dist;
  scorch::keep_freed_host_memory();
  // A write past the file-size limit (ulimit -f, a cluster's quota) would kill the process with SIGXFSZ
  // before it could say which file; ignored, the write fails with EFBIG and is reported like a full disk.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    dist::init(&argc, &argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "scorch: cannot start MPI: %s\n", e.what());
    return 1;
  }
  std::string failure;
  int rc = 0;
  try {
    rc = scorch::apps::run_cli(argc, argv);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  if (!failure.empty()) {
    // With several ranks the others may be blocked in a collective: end the whole job now.
    if (dist::info().world > 1) dist::abort_job(failure, 1);
    std::fprintf(stderr, "scorch: error: %s\n", failure.c_str());
    rc = 1;
  }
  dist::finalize();
  return rc;
}
