// Watchdog thread: polls the guarded section's age and ends the job once it exceeds the timeout.
#include "core/dist/watchdog.h"

#include <algorithm>
#include <functional>

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
  const uint64_t id = next_id_++;
  sections_.push_back({id, std::move(what), std::chrono::steady_clock::now()});
  return Scope(this, id);
}

Watchdog::Scope::Scope(Scope&& other) noexcept : w_(other.w_), id_(other.id_) { other.w_ = nullptr; }

Watchdog::Scope::~Scope() {
  if (!w_) return;
  std::lock_guard<std::mutex> lock(w_->mu_);
  auto& open = w_->sections_;
  open.erase(std::remove_if(open.begin(), open.end(), [this](const Section& s) { return s.id == id_; }), open.end());
}

void Watchdog::loop() {
  const auto poll = std::chrono::milliseconds(static_cast<int>(std::min(1000.0, timeout_s_ * 250)));
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, poll);
    if (stop_ || sections_.empty() || fired_) continue;
    const Section& section = sections_.back();
    double age = std::chrono::duration<double>(std::chrono::steady_clock::now() - section.since).count();
    if (age < timeout_s_) continue;
    fired_ = true;
    std::string message = fmt::format(
        "rank {} stalled for {:.0f} s in {} (dist.timeout_s = {}); another rank probably died or "
        "hangs — see its log in <workdir>/logs/",
        info().rank, age, section.what, timeout_s_);
    lock.unlock();
    on_timeout_(message);
    lock.lock();
  }
}

}  // namespace scorch::dist
