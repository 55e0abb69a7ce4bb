// GoogleTest main for every suite: starts MPI (so the same binary runs under mpirun) and quiets
// the GoogleTest output of ranks other than 0.
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
  // process) avoids oversubscribed thread pools that spin and run an order of magnitude slower.
  setenv("OMP_NUM_THREADS", "1", 0);
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
