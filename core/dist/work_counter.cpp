// WorkCounter: local integers for one rank, an MPI RMA window on rank 0 for several.
#include "core/dist/work_counter.h"

#include <mpi.h>

#include <exception>
#include <vector>

#include "core/dist/communicator.h"
#include "core/dist/process.h"
#include "core/error.h"

namespace scorch::dist {

namespace {

class LocalCounter : public WorkCounter {
 public:
  explicit LocalCounter(int slots) : values_(slots, 0) {}
  int64_t fetch_add(int slot, int64_t value) override {
    SCORCH_CHECK(slot >= 0 && slot < static_cast<int>(values_.size()), "work counter slot {} out of range", slot);
    const int64_t old = values_[slot];
    values_[slot] += value;
    return old;
  }

 private:
  std::vector<int64_t> values_;
};

class MpiCounter : public WorkCounter {
 public:
  MpiCounter(int rank, int slots) : slots_(slots) {
    const MPI_Aint bytes = rank == 0 ? static_cast<MPI_Aint>(slots) * sizeof(int64_t) : 0;
    int64_t* base = nullptr;
    SCORCH_CHECK(MPI_Win_allocate(bytes, sizeof(int64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &base, &win_) == MPI_SUCCESS,
                 "MPI_Win_allocate for the work counter failed");
    if (rank == 0) {
      MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win_);
      for (int i = 0; i < slots; ++i) base[i] = 0;
      MPI_Win_unlock(0, win_);
    }
    MPI_Barrier(MPI_COMM_WORLD);  // nobody fetches before rank 0 has zeroed the counters
  }
  // Freeing the window is collective: while an exception unwinds (a rank failed or saw another hang) the
  // others may never come, so the window is left to MPI_Abort, which ends the job next.
  ~MpiCounter() override {
    if (std::uncaught_exceptions() == 0) MPI_Win_free(&win_);
  }

  int64_t fetch_add(int slot, int64_t value) override {
    SCORCH_CHECK(slot >= 0 && slot < slots_, "work counter slot {} out of range", slot);
    int64_t old = 0;
    MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win_);
    const int rc = MPI_Fetch_and_op(&value, &old, MPI_INT64_T, 0, slot, MPI_SUM, win_);
    MPI_Win_unlock(0, win_);
    SCORCH_CHECK(rc == MPI_SUCCESS, "MPI_Fetch_and_op on the work counter failed");
    return old;
  }

 private:
  int slots_;
  MPI_Win win_ = MPI_WIN_NULL;
};

}  // namespace

std::unique_ptr<WorkCounter> make_work_counter(Communicator& comm, int slots) {
  SCORCH_CHECK(slots >= 1, "a work counter needs at least one slot");
  if (comm.world() == 1) return std::make_unique<LocalCounter>(slots);
  SCORCH_CHECK(mpi_active() && info().world == comm.world(),
               "a shared work counter needs MPI with the communicator's {} ranks (MPI world: {})", comm.world(),
               mpi_active() ? info().world : 0);
  return std::make_unique<MpiCounter>(comm.rank(), slots);
}

}  // namespace scorch::dist
