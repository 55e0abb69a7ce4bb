// Tests that compare against an outside tool (Python with torch/numpy/scipy/h5py, pytorch-fid, the FID
// weights, Debian's Fashion-MNIST, a local Slurm) skip with the reason when it is missing, except in strict
// mode, where a missing prerequisite fails: a broken CI environment must not pass quietly.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

namespace scorch::test {

// Strict under CI (CI=true, as CI services set it) or with SCORCH_STRICT_PREREQUISITES=1.
inline bool strict_prerequisites() {
  const char* ci = std::getenv("CI");
  const char* strict = std::getenv("SCORCH_STRICT_PREREQUISITES");
  return (ci && std::strcmp(ci, "true") == 0) || (strict && std::strcmp(strict, "1") == 0);
}

}  // namespace scorch::test

// Skips the test (or fails it in strict mode) unless `have` holds; `why` may be a << chain.
#define SCORCH_REQUIRE_PREREQUISITE(have, why)                                                             \
  do {                                                                                                     \
    if (!(have)) {                                                                                         \
      if (::scorch::test::strict_prerequisites())                                                          \
        FAIL() << "missing prerequisite (strict under CI=true or SCORCH_STRICT_PREREQUISITES=1): " << why; \
      GTEST_SKIP() << why;                                                                                 \
    }                                                                                                      \
  } while (0)
