// RunDirLock: flock on <dir>/.lock, with the holder's pid and host written into it (see run_dir_lock.h).
#include "trainer/run_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace scorch::trainer {

RunDirLock::RunDirLock(const std::string& dir) {
  const auto path = (std::filesystem::path(dir) / ".lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  SCORCH_CHECK(fd_ >= 0, "cannot open the run dir's lock {}: {}", path, std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::ostringstream holder;
    holder << std::ifstream(path).rdbuf();
    ::close(fd_);
    fd_ = -1;
    SCORCH_CHECK(err == EWOULDBLOCK, "cannot lock the run dir's lock {}: {}", path, std::strerror(err));
    SCORCH_CHECK_HINT(false, "wait for it to finish or stop it (a stop signal checkpoints), or use another --workdir",
                      "{} is in use by another scorch train ({}); two runs in one run dir would mix their "
                      "checkpoints and metrics",
                      dir, holder.str().empty() ? "holder unknown" : holder.str());
  }
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  const std::string me = "pid " + std::to_string(::getpid()) + " on " + host;
  // The holder's name is informational: a failed write leaves the lock itself in force.
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const auto n = ::pwrite(fd_, me.data(), me.size(), 0);
  }
}

RunDirLock::~RunDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

}  // namespace scorch::trainer
