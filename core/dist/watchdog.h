// A hang is worse than a crash: a watchdog thread ends the whole job when a guarded section (a
// collective, a data wait) runs longer than its timeout, naming the section, the step and the rank.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace scorch::dist {

class Watchdog {
 public:
  // `on_timeout(message)` defaults to dist::abort_job; tests pass their own.
  explicit Watchdog(double timeout_s, std::function<void(const std::string&)> on_timeout = {});
  ~Watchdog();

  // The section a guard replaced, restored when the guard ends: sections nest (a collective inside the capture of
  // a training step), and the outer one stays guarded, still timed from its own start.
  struct Section {
    std::string what;
    std::chrono::steady_clock::time_point since;
    bool active = false;
  };
  class Scope {
   public:
    ~Scope();
    Scope(Scope&&) noexcept;
    Scope(const Scope&) = delete;

   private:
    friend class Watchdog;
    Scope(Watchdog* w, Section outer) : w_(w), outer_(std::move(outer)) {}
    Watchdog* w_;
    Section outer_;
  };
  // Guards the caller's section until the returned Scope is destroyed.
  [[nodiscard]] Scope guard(std::string what);

 private:
  void loop();
  double timeout_s_;
  std::function<void(const std::string&)> on_timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  Section section_;
  bool stop_ = false, fired_ = false;
  std::thread thread_;
};

}  // namespace scorch::dist
