// BatchProgress: throttled log lines with t, the noise level, the fraction of the reverse process and an ETA.
#include "sampler/batch_progress.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace scorch::sampler {

namespace {

std::string clock_text(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const auto t = static_cast<int64_t>(s + 0.5);
  return fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
}

}  // namespace

BatchProgress::BatchProgress(std::function<double(double)> noise_level, double t_start, double t_end, bool enabled,
                             double quiet_s, double every_s)
    : noise_level_(std::move(noise_level)),
      t_start_(t_start),
      t_end_(t_end),
      enabled_(enabled),
      quiet_s_(quiet_s),
      every_s_(every_s),
      start_(Clock::now()),
      last_(start_) {}

void BatchProgress::start(std::string label) {
  label_ = std::move(label);
  start_ = last_ = Clock::now();
  logged_ = false;
}

void BatchProgress::at(double t) {
  if (!enabled_) return;
  const auto now = Clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (elapsed < quiet_s_ || (logged_ && std::chrono::duration<double>(now - last_).count() < every_s_)) return;
  last_ = now;
  logged_ = true;
  // The fraction of the time interval: PC steps are evenly spaced in t; RK45's are not, so its ETA is rougher.
  const double done = std::clamp((t_start_ - t) / (t_start_ - t_end_), 0.0, 1.0);
  spdlog::info("{}: t = {:.4g}, noise level {:.4g}, {:.0f}% of the reverse process, {} elapsed, batch ETA {}", label_,
               t, noise_level_(t), 100.0 * done, clock_text(elapsed),
               done > 0 ? clock_text(elapsed * (1.0 - done) / done) : "?");
}

}  // namespace scorch::sampler
