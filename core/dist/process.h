// The process's place in the job: MPI start-up and shutdown, rank/world/local rank, launcher checks, job abort.
#pragma once
#include <string>
#include <vector>

namespace scorch::dist {

struct ProcessInfo {
  int rank = 0;
  int world = 1;
  int local_rank = 0;
  int local_world = 1;
  std::string host;
  std::string launcher;                    // "none", "mpirun", "srun", "mpi" (some other PMI launcher)
  std::vector<std::string> nccl_defaults;  // NAME=VALUE of scorch's NCCL defaults that init set (nccl_env.h)
};

// Records the process's place and, when a launcher (mpirun, srun, another PMI) started it or
// SCORCH_EXPECT_WORLD_SIZE is set, starts MPI asking for MPI_THREAD_MULTIPLE. Without a launcher the process
// is rank 0 of 1 and MPI waits for ensure_mpi. Idempotent.
void init(int* argc, char*** argv);
// Starts MPI if init left it off: for an MPI or NCCL communicator in a process of its own.
void ensure_mpi();
void finalize();
bool mpi_active();
const ProcessInfo& info();
// Whether a helper thread may run collectives (MPI granted at least MPI_THREAD_SERIALIZED).
bool mpi_threads_ok();

// An integer environment variable, or `fallback` when it is unset, empty or not a whole number.
int env_int(const char* name, int fallback);

// The world size the launcher promised (mpirun's OMPI_COMM_WORLD_SIZE, srun's SLURM_STEP_NUM_TASKS,
// SCORCH_EXPECT_WORLD_SIZE), or 0 when none did.
int promised_world_size();
// Throws when MPI's world differs from what the launcher promised: the classic mis-launch where Open MPI
// without PMIx support starts N independent rank-0 jobs under srun.
void check_world_size();

// Ends the whole job with `message` on stderr: MPI_Abort when several ranks run, otherwise exit(code).
[[noreturn]] void abort_job(const std::string& message, int code = 1);

}  // namespace scorch::dist
