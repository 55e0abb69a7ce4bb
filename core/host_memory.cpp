// Host allocator policy (see host_memory.h): raised glibc mmap / trim thresholds.
#include "core/host_memory.h"

#include <climits>
#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace scorch {

namespace {

bool user_set_thresholds() {
  if (const char* keep = std::getenv("SCORCH_KEEP_FREED_MEMORY"); keep && std::strcmp(keep, "0") == 0) return true;
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_")) return true;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  return tunables && (std::strstr(tunables, "malloc.mmap_threshold") || std::strstr(tunables, "malloc.trim_threshold"));
}

}  // namespace

bool keep_freed_host_memory() {
#if defined(__GLIBC__)
  if (user_set_thresholds()) return false;
  // 1 GiB: a batch's largest activation (50 x 64 x 147 x 147 floats = 277 MB for Inception at 299) stays in
  // the heap; a single block above it is rare enough to keep glibc's mmap. INT_MAX: free memory at the top
  // of the heap is kept up to 2 GiB, the peak working set of one step, instead of being trimmed each time.
  return mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
#else
  return false;
#endif
}

}  // namespace scorch
