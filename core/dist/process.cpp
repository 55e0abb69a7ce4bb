// MPI start-up, the process's place in the job, launcher checks and whole-job abort.
#include "core/dist/process.h"

#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "core/dist/nccl_env.h"
#include "core/dist/versions.h"
#include "core/error.h"

namespace scorch::dist {

namespace {

ProcessInfo g_info;
bool g_started_mpi = false;
int g_thread_level = MPI_THREAD_SINGLE;

bool has_env(const char* name) { return std::getenv(name) != nullptr; }

std::string detect_launcher() {
  if (has_env("OMPI_COMM_WORLD_SIZE")) return "mpirun";
  if (has_env("SLURM_STEP_ID") && (has_env("PMIX_RANK") || has_env("PMI_RANK") || has_env("SLURM_PROCID")))
    return "srun";
  if (has_env("PMIX_RANK") || has_env("PMI_RANK")) return "mpi";
  return "none";
}

void start_mpi(int* argc, char*** argv) {
  int already = 0;
  MPI_Initialized(&already);
  if (!already) {
    // The gradient reducer runs MPI collectives on its own thread while backward runs, so the
    // main thread and that thread may both call MPI (never at the same time for the same operation).
    MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &g_thread_level);
    g_started_mpi = true;
  } else {
    MPI_Query_thread(&g_thread_level);
  }
  // Errors come back as return codes, which the backends turn into scorch::Error.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_info.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_info.world);

  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_info.rank, MPI_INFO_NULL, &node);
  int node_rank = 0, node_size = 1;
  MPI_Comm_rank(node, &node_rank);
  MPI_Comm_size(node, &node_size);
  MPI_Comm_free(&node);
  g_info.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", env_int("SLURM_LOCALID", node_rank));
  g_info.local_world = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", node_size);
}

}  // namespace

void init(int* argc, char*** argv) {
  // Before MPI_Init: a singleton Open MPI sets PMIx variables of its own, and starts threads.
  g_info.launcher = detect_launcher();
  for (auto& setting : set_nccl_defaults()) g_info.nccl_defaults.push_back(std::move(setting));  // init is idempotent
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  g_info.host = host;
  int already = 0;
  MPI_Initialized(&already);
  // A process no launcher started is rank 0 of 1 and needs no MPI: Open MPI's singleton start-up costs about half
  // a second per command (it waits for a daemon). ensure_mpi starts it if a communicator asks for it anyway.
  if (!already && g_info.launcher == "none" && promised_world_size() == 0) {
    g_info.local_rank = env_int("SLURM_LOCALID", 0);
    return;
  }
  start_mpi(argc, argv);
}

void ensure_mpi() {
  int started = 0;
  MPI_Initialized(&started);
  if (!started) start_mpi(nullptr, nullptr);
}

void finalize() {
  int done = 0, started = 0;
  MPI_Initialized(&started);
  MPI_Finalized(&done);
  if (g_started_mpi && started && !done) MPI_Finalize();
}

bool mpi_active() {
  int started = 0, done = 0;
  MPI_Initialized(&started);
  MPI_Finalized(&done);
  return started && !done;
}

const ProcessInfo& info() { return g_info; }

bool mpi_threads_ok() { return g_thread_level >= MPI_THREAD_SERIALIZED; }

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  return (end && *end == '\0') ? static_cast<int>(x) : fallback;
}

int promised_world_size() {
  if (int n = env_int("SCORCH_EXPECT_WORLD_SIZE", 0)) return n;
  if (int n = env_int("OMPI_COMM_WORLD_SIZE", 0)) return n;
  if (has_env("SLURM_STEP_ID")) {
    if (int n = env_int("SLURM_STEP_NUM_TASKS", 0)) return n;
    if (int n = env_int("SLURM_NTASKS", 0)) return n;
  }
  return 0;
}

void check_world_size() {
  int promised = promised_world_size();
  if (promised == 0 || promised == g_info.world) return;
  throw Error(__FILE__, __LINE__,
              fmt::format("the launcher ({}) promised {} ranks but MPI sees a world of {} (this is rank {})",
                          g_info.launcher, promised, g_info.world, g_info.rank),
              "each process started its own job: under Slurm use `srun --mpi=pmix` with an Open MPI built "
              "with PMIx, or launch with mpirun inside the allocation");
}

void abort_job(const std::string& message, int code) {
  std::fprintf(stderr, "scorch: error on rank %d of %d: %s\n", g_info.rank, g_info.world, message.c_str());
  std::fflush(stderr);
  if (mpi_active() && g_info.world > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(text, &len);
  std::string v(text, len);
  auto nl = v.find_first_of("\n,");
  return nl == std::string::npos ? v : v.substr(0, nl);
}

}  // namespace scorch::dist
