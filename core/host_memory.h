// Host allocator policy: keep freed memory in the process instead of handing it back to the kernel.
#pragma once
#include <climits>

namespace scorch {

// The thresholds the policy sets (bytes). 1 GiB: a batch's largest activation (50 x 64 x 147 x 147 floats =
// 277 MB for Inception at 299) stays in the heap; a single block above it is rare enough to keep glibc's
// mmap. INT_MAX: free memory at the top of the heap is kept up to 2 GiB, the peak working set of one step,
// instead of being trimmed each time.
constexpr int kKeptMmapThreshold = 1 << 30;
constexpr int kKeptTrimThreshold = INT_MAX;

// glibc serves blocks above its mmap threshold (at most 32 MiB, dynamically) with a fresh mmap and returns
// them with munmap on free, so every CPU forward pass of a large network page-faults its activations in
// again: measured on `scorch fid stats` (200 images, batch 50), 2.9 M minor faults, 18 s of system time and
// half the wall time. This raises the mmap and trim thresholds so that such blocks are reused from the heap.
// Call once at process start, before threads. SCORCH_KEEP_FREED_MEMORY=0 keeps glibc's defaults, and a
// user's own GLIBC_TUNABLES / MALLOC_*_ setting of either threshold wins; with another allocator preloaded
// (jemalloc, tcmalloc) the call changes nothing.
// Returns whether the policy was applied.
bool keep_freed_host_memory();

// What the last keep_freed_host_memory() call did, in words (`scorch info` prints it).
const char* host_memory_policy();

}  // namespace scorch
