// GoogleTest main for every suite: starts MPI (so the same binary runs under mpirun) and quiets
// the GoogleTest output of ranks other than 0.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/dist/process.h"
#include "core/log.h"

int main(int argc, char** argv) {
  // Tests start `mpirun` themselves; as root (CI, containers) Open MPI needs these.
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);
  // ctest -j and mpirun -np 2 already fill the cores: one OpenMP thread per process (and per child
  // process) avoids oversubscribed thread pools that spin and run an order of magnitude slower. The
  // variable reaches the child processes only: libgomp read the environment when it was loaded, before
  // main, so this process's own pool is set by the call (a likelihood test: 33 s with it, 174 s without).
  if (const char* user = std::getenv("OMP_NUM_THREADS"); user == nullptr || *user == '\0') {
    setenv("OMP_NUM_THREADS", "1", 1);
    at::set_num_threads(1);
  }
  ::testing::InitGoogleTest(&argc, argv);
  scorch::dist::init(&argc, &argv);
  scorch::init_logging(scorch::dist::info().rank, "warn");
  if (scorch::dist::info().rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int rc = RUN_ALL_TESTS();
  scorch::dist::finalize();
  return rc;
}
