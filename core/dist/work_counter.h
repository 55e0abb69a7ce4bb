// Shared counters for dynamic work hand-out: every rank fetches-and-adds without a collective, so fast
// ranks take more work units than slow ones.
#pragma once
#include <cstdint>
#include <memory>

namespace scorch::dist {

class Communicator;

class WorkCounter {
 public:
  virtual ~WorkCounter() = default;
  // Atomically adds `value` to counter `slot` (0 .. slots-1) and returns its previous value. Counters start
  // at 0 and live on rank 0; no other rank needs to take part.
  virtual int64_t fetch_add(int slot, int64_t value) = 0;
};

// Collective: every rank of `comm` calls it (and destroys the result) together. With one rank the counters
// are plain integers; with several they sit in an MPI window on rank 0 (MPI_Fetch_and_op under a passive
// lock; with Open MPI on one node that is shared memory, across nodes the osc component does the atomics).
std::unique_ptr<WorkCounter> make_work_counter(Communicator& comm, int slots);

}  // namespace scorch::dist
