// An exclusive lock on a training run dir, held by rank 0 for as long as its `scorch train` runs.
#pragma once
#include <string>

namespace scorch::trainer {

// Locks <dir>/.lock (flock, so the kernel releases it when the process ends, however it ends) and writes the
// holder's pid and host into it. A second `scorch train` on the same run dir would interleave its checkpoints
// with the first's and rewrite metrics.jsonl from its own resume point, dropping the first's lines: it is
// refused, naming the holder. Throws when the dir is locked by another process.
class RunDirLock {
 public:
  explicit RunDirLock(const std::string& dir);
  ~RunDirLock();
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace scorch::trainer
