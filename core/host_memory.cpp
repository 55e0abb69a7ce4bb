// Host allocator policy (see host_memory.h): raised glibc mmap / trim thresholds.
#include "core/host_memory.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace scorch {

namespace {

const char* g_policy = "glibc's defaults (scorch's policy not applied in this process)";

// Why the policy must not be applied, or nullptr.
const char* users_choice() {
  if (const char* keep = std::getenv("SCORCH_KEEP_FREED_MEMORY"); keep && std::strcmp(keep, "0") == 0)
    return "glibc's defaults (SCORCH_KEEP_FREED_MEMORY=0)";
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_"))
    return "the user's thresholds (MALLOC_*_THRESHOLD_)";
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables && (std::strstr(tunables, "malloc.mmap_threshold") || std::strstr(tunables, "malloc.trim_threshold")))
    return "the user's thresholds (GLIBC_TUNABLES)";
  return nullptr;
}

}  // namespace

bool keep_freed_host_memory() {
#if defined(__GLIBC__)
  if (const char* why = users_choice()) {
    g_policy = why;
    return false;
  }
  const bool applied =
      mallopt(M_MMAP_THRESHOLD, kKeptMmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, kKeptTrimThreshold) == 1;
  g_policy = applied ? "keeps freed memory (glibc mmap threshold 1 GiB, trim threshold 2 GiB)"
                     : "glibc refused the thresholds (its defaults apply)";
  return applied;
#else
  g_policy = "the C library's defaults (not glibc)";
  return false;
#endif
}

const char* host_memory_policy() { return g_policy; }

}  // namespace scorch
