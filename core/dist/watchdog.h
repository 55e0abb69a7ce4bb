// A hang is worse than a crash: a watchdog thread ends the whole job when a guarded section (a
// collective, a data wait) runs longer than its timeout, naming the section, the step and the rank.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace scorch::dist {

class Watchdog {
 public:
  // `on_timeout(message)` defaults to dist::abort_job; tests pass their own.
  explicit Watchdog(double timeout_s, std::function<void(const std::string&)> on_timeout = {});
  ~Watchdog();

  class Scope {
   public:
    ~Scope();
    Scope(Scope&&) noexcept;
    Scope(const Scope&) = delete;

   private:
    friend class Watchdog;
    Scope(Watchdog* w, uint64_t id) : w_(w), id_(id) {}
    Watchdog* w_;
    uint64_t id_;
  };
  // Guards the caller's section until the returned Scope is destroyed.
  [[nodiscard]] Scope guard(std::string what);

 private:
  void loop();
  double timeout_s_;
  std::function<void(const std::string&)> on_timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded sections nest (a collective inside the capture of a training step): the innermost open one is
  // watched, and when it ends the one it interrupted is again, still timed from its own start. A scope that ends
  // out of order removes only its own section.
  struct Section {
    uint64_t id;
    std::string what;
    std::chrono::steady_clock::time_point since;
  };
  std::vector<Section> sections_;
  uint64_t next_id_ = 0;
  bool stop_ = false, fired_ = false;
  std::thread thread_;
};

}  // namespace scorch::dist
