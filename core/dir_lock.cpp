// DirLock: flock on <dir>/.lock, with the holder's pid and host written into it (see dir_lock.h).
#include "core/dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace scorch {

void make_output_dir(const std::string& dir, const std::string& flag) {
  namespace fs = std::filesystem;
  std::error_code ec;
  SCORCH_CHECK_HINT(!fs::exists(dir, ec) || fs::is_directory(dir, ec), "pass a directory, new or existing",
                    "{} '{}' is a file, not a directory", flag, dir);
  fs::create_directories(dir, ec);
  SCORCH_CHECK_HINT(!ec, "check the path and its permissions", "cannot create {} '{}': {}", flag, dir, ec.message());
}

namespace {

// The nearest existing ancestor of `dir` (itself included) must be a directory this process may write into.
void check_writable_ancestor(const std::filesystem::path& start, const std::string& path, const std::string& flag) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = start;
  while (!dir.empty() && !fs::exists(dir, ec) && dir != dir.parent_path()) dir = dir.parent_path();
  SCORCH_CHECK_HINT(fs::is_directory(dir, ec), "check the path", "{} '{}': '{}' is a file, not a directory", flag, path,
                    dir.string());
  SCORCH_CHECK_HINT(::access(dir.c_str(), W_OK) == 0, "check the path and its permissions",
                    "{} '{}': cannot write into '{}': {}", flag, path, dir.string(), std::strerror(errno));
}

}  // namespace

void check_output_file(const std::string& path, const std::string& flag) {
  std::error_code ec;
  SCORCH_CHECK_HINT(!std::filesystem::is_directory(path, ec), "name the file to write",
                    "{} '{}' is a directory, not a file", flag, path);
  check_writable_ancestor(std::filesystem::absolute(path, ec).parent_path(), path, flag);
}

void check_output_dir(const std::string& path, const std::string& flag) {
  std::error_code ec;
  SCORCH_CHECK_HINT(!std::filesystem::exists(path, ec) || std::filesystem::is_directory(path, ec),
                    "pass a directory, new or existing", "{} '{}' is a file, not a directory", flag, path);
  check_writable_ancestor(std::filesystem::absolute(path, ec), path, flag);
}

DirLock::DirLock(const std::string& dir, const std::string& what, const std::string& why, const std::string& hint) {
  const auto path = (std::filesystem::path(dir) / ".lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  SCORCH_CHECK(fd_ >= 0, "cannot open the lock {}: {}", path, std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::ostringstream holder;
    holder << std::ifstream(path).rdbuf();
    ::close(fd_);
    fd_ = -1;
    SCORCH_CHECK(err == EWOULDBLOCK, "cannot lock {}: {}", path, std::strerror(err));
    SCORCH_CHECK_HINT(false, hint, "{} is in use by another {} ({}); {}", dir, what,
                      holder.str().empty() ? "holder unknown" : holder.str(), why);
  }
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  const std::string me = "pid " + std::to_string(::getpid()) + " on " + host;
  // The holder's name is informational: a failed write leaves the lock itself in force.
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const auto n = ::pwrite(fd_, me.data(), me.size(), 0);
  }
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

}  // namespace scorch
