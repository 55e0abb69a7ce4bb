// Host allocator policy: with it, a large block freed and allocated again is not page-faulted in again;
// SCORCH_KEEP_FREED_MEMORY=0 or a threshold the user set through the environment wins.
#include "core/host_memory.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace scorch {
namespace {

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Allocates, touches every page of and frees a 256 MiB block `rounds` times; returns the page faults taken
// (-1: the block could not be allocated).
long churn(int rounds) {
  constexpr size_t kBytes = size_t{256} << 20;
  const long before = minor_faults();
  for (int r = 0; r < rounds; ++r) {
    auto* p = static_cast<volatile char*>(std::malloc(kBytes));
    if (p == nullptr) return -1;
    for (size_t i = 0; i < kBytes; i += 4096) p[i] = static_cast<char>(i);
    std::free(const_cast<char*>(p));
  }
  return minor_faults() - before;
}

#if defined(__GLIBC__)
TEST(HostMemory, FreedLargeBlocksAreReusedWithoutNewPageFaults) {
  ASSERT_EQ(std::getenv("MALLOC_MMAP_THRESHOLD_"), nullptr) << "the test needs glibc's default thresholds";
  // glibc's behaviour without the policy, pinned (its dynamic threshold may have moved in this process):
  // every round maps fresh pages.
  ASSERT_EQ(mallopt(M_MMAP_THRESHOLD, 128 << 10), 1);
  const long mapped = churn(4);
  ASSERT_GT(mapped, 0) << "cannot allocate 256 MiB";
  ASSERT_TRUE(keep_freed_host_memory());
  churn(1);  // the heap grows once
  const long reused = churn(4);
  EXPECT_LT(reused * 8, mapped) << "faults over 4 rounds: " << mapped << " with mmap, " << reused << " reused";
}

TEST(HostMemory, TheUsersChoiceWins) {
  ASSERT_EQ(std::getenv("GLIBC_TUNABLES"), nullptr);
  setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072", 1);
  EXPECT_FALSE(keep_freed_host_memory());
  unsetenv("GLIBC_TUNABLES");
  setenv("MALLOC_MMAP_THRESHOLD_", "131072", 1);
  EXPECT_FALSE(keep_freed_host_memory());
  unsetenv("MALLOC_MMAP_THRESHOLD_");
  setenv("SCORCH_KEEP_FREED_MEMORY", "0", 1);
  EXPECT_FALSE(keep_freed_host_memory());
  unsetenv("SCORCH_KEEP_FREED_MEMORY");
  EXPECT_TRUE(keep_freed_host_memory());
}
#endif

}  // namespace
}  // namespace scorch
