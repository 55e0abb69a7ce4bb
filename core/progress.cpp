// Progress output: redraws one line on a TTY (at most 10 times a second), otherwise logs every 10 s,
// so batch-job logs stay readable.
#include "core/progress.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace scorch {

namespace {

std::string format_seconds(double s) {
  if (s < 0 || s > 1e7) return "?";
  const auto t = static_cast<int64_t>(s + 0.5);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
                   : fmt::format("{:02}:{:02}", t / 60, t % 60);
}

}  // namespace

Progress::Progress(std::string label, int64_t total, std::string unit, bool enabled)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

Progress::~Progress() {
  if (enabled_ && tty_ && !finished_ && done_ > 0) std::fputc('\n', stderr);
}

void Progress::add(int64_t n) {
  if (!enabled_) return;
  done_ += n;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_print_).count();
  if (since >= (tty_ ? 0.1 : 10.0)) {
    last_print_ = now;
    print(false);
  }
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  print(true);
}

void Progress::print(bool final) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  std::string counts = total_ > 0 ? fmt::format("{}/{}", done_, total_) : fmt::format("{}", done_);
  std::string eta = total_ > 0 && rate > 0 && !final ? " ETA " + format_seconds((total_ - done_) / rate) : "";
  std::string text =
      fmt::format("{} {} {} ({:.0f} {}/s, {}){}", label_, counts, unit_, rate, unit_, format_seconds(elapsed), eta);
  if (tty_) {
    std::string bar;
    if (total_ > 0) {
      const int width = 30, filled = static_cast<int>(width * std::min<double>(1.0, double(done_) / total_));
      bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
    }
    std::fprintf(stderr, "\r%s%s\033[K%s", bar.c_str(), text.c_str(), final ? "\n" : "");
    std::fflush(stderr);
  } else {
    spdlog::info("{}", text);
  }
}

}  // namespace scorch
