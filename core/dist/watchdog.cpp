// Watchdog thread: polls the guarded section's age and ends the job once it exceeds the timeout.
#include "core/dist/watchdog.h"

#include <functional>
#include <utility>

#include "core/dist/process.h"

namespace scorch::dist {

Watchdog::Watchdog(double timeout_s, std::function<void(const std::string&)> on_timeout)
    : timeout_s_(timeout_s), on_timeout_(std::move(on_timeout)) {
  if (!on_timeout_) on_timeout_ = [](const std::string& m) { abort_job(m, 1); };
  if (timeout_s_ > 0) thread_ = std::thread([this] { loop(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Watchdog::Scope Watchdog::guard(std::string what) {
  std::lock_guard<std::mutex> lock(mu_);
  Section outer = std::exchange(section_, Section{std::move(what), std::chrono::steady_clock::now(), true});
  return Scope(this, std::move(outer));
}

Watchdog::Scope::Scope(Scope&& other) noexcept : w_(other.w_), outer_(std::move(other.outer_)) { other.w_ = nullptr; }

Watchdog::Scope::~Scope() {
  if (!w_) return;
  std::lock_guard<std::mutex> lock(w_->mu_);
  w_->section_ = std::move(outer_);
}

void Watchdog::loop() {
  const auto poll = std::chrono::milliseconds(static_cast<int>(std::min(1000.0, timeout_s_ * 250)));
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, poll);
    if (stop_ || !section_.active || fired_) continue;
    double age = std::chrono::duration<double>(std::chrono::steady_clock::now() - section_.since).count();
    if (age < timeout_s_) continue;
    fired_ = true;
    std::string message = fmt::format(
        "rank {} stalled for {:.0f} s in {} (dist.timeout_s = {}); another rank probably died or "
        "hangs — see its log in <workdir>/logs/",
        info().rank, age, section_.what, timeout_s_);
    lock.unlock();
    on_timeout_(message);
    lock.lock();
  }
}

}  // namespace scorch::dist
