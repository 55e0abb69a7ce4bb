// Progress bar with rate and ETA for long operations; a plain periodic log line when stderr is no TTY.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace scorch {

class Progress {
 public:
  // `total` 0 means unknown (no ETA). `enabled` false makes every call a no-op (e.g. ranks other than 0).
  Progress(std::string label, int64_t total, std::string unit = "img", bool enabled = true);
  ~Progress();
  void add(int64_t n);
  void finish();  // prints the final line once

 private:
  void print(bool final);
  std::string label_, unit_;
  int64_t total_, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_print_;
};

}  // namespace scorch
