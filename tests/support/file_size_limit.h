// Caps the size of the files this process writes while in scope (a full disk or a quota, for tests).
#pragma once
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>

namespace scorch::test {

// Caps the files this process writes at `bytes` while in scope. SIGXFSZ is ignored as scorch's main() does,
// so a write past the cap fails with EFBIG instead of killing the test.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    previous_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit capped = saved_;
    capped.rlim_cur = bytes;
    EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &capped), 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_);
  }

 private:
  rlimit saved_{};
  void (*previous_)(int) = nullptr;
};

}  // namespace scorch::test
