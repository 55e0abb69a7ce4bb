// Crash-safe file output (temporary name + fsync + rename) and whole-file reads with clear errors.
#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace scorch {

namespace fs = std::filesystem;

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  SCORCH_CHECK(fd >= 0, "cannot open '{}' to sync it: {}", path, std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  SCORCH_CHECK(rc == 0 || err == EINVAL, "fsync of '{}' failed: {}", path, std::strerror(err));
}

void write_path_atomic(const std::string& path, const std::function<void(const std::string&)>& write) {
  fs::path target(path);
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  SCORCH_CHECK(!ec, "cannot create directory '{}': {}", dir.string(), ec.message());
  std::string tmp = (dir / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()))).string();
  try {
    write(tmp);
    fsync_path(tmp);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp);
    SCORCH_FAIL("cannot rename '{}' to '{}': {}", tmp, path, ec.message());
  }
  fsync_path(dir.string());
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_path_atomic(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    SCORCH_CHECK(out.good(), "cannot open '{}' for writing: {}", tmp, std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    SCORCH_CHECK(out.good(), "writing '{}' failed (disk full?)", tmp);
  });
}

void remove_atomic_leftovers(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 1 && name[0] == '.' && name.find(".tmp-") != std::string::npos) fs::remove(e.path(), ec);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SCORCH_CHECK(in.good(), "cannot open '{}': {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace scorch
