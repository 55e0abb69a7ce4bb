// Output directories: created with an error that names the flag, and locked by one process for as long as it
// writes there (a training run dir, a sample farm, a dataset, an export).
#pragma once
#include <string>

namespace scorch {

// Creates `dir` and its parents; throws naming `flag` ("--out") when it is a file, lies under a file, or cannot be
// created (permissions, a full disk), instead of std::filesystem's message.
void make_output_dir(const std::string& dir, const std::string& flag);
// Checks, before the work that leads to it, that file `path` can be written later: it is not a directory, and
// its nearest existing ancestor is a directory this process may write into. Throws naming `flag`; creates nothing.
void check_output_file(const std::string& path, const std::string& flag);
// The same for a directory to be made later: it is one already, or its nearest existing ancestor may be written.
void check_output_dir(const std::string& path, const std::string& flag);

// Locks <dir>/.lock (flock, so the kernel releases it when the process ends, however it ends) and writes the
// holder's pid and host into it. A second process writing the same directory would interleave its files with the
// first's (a training run's checkpoints and metrics, a farm's batches of another seed): it is refused, naming the
// holder. `what` names the holder's kind ("scorch train"), `why` says what sharing would do, `hint` what to do.
// Throws when the dir is locked by another process.
class DirLock {
 public:
  DirLock(const std::string& dir, const std::string& what, const std::string& why, const std::string& hint);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace scorch
