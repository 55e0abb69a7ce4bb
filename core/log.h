// Logging: rank 0 to the console, every rank to <run>/logs/rank-N.log, each line with rank and elapsed time.
#pragma once
#include <spdlog/spdlog.h>

#include <string>

namespace scorch {

// Level names as spdlog's ("trace", "debug", "info", "warn", "error", "off"). An empty `level` takes
// SCORCH_LOG_LEVEL from the environment, else "info". Ranks other than 0 print only errors to the console.
void init_logging(int rank, const std::string& level);
// Adds <run_dir>/logs/rank-<rank>.log (all levels at or above the console level) to the default logger.
void log_to_run_dir(const std::string& run_dir);
// Seconds since init_logging.
double elapsed_seconds();

}  // namespace scorch
