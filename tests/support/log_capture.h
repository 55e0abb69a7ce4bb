// Captures what the default spdlog logger writes at info level and above while a function runs.
#pragma once
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <functional>
#include <memory>
#include <sstream>
#include <string>

namespace scorch::test {

// The log lines written while `f` runs, formatted with `pattern` (spdlog's; "[%l] %v" adds the level). The
// logger's level and sinks are restored even when `f` throws.
inline std::string log_of(const std::function<void()>& f, const std::string& pattern = "%v") {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_pattern(pattern);
  auto logger = spdlog::default_logger();
  struct Restore {
    std::shared_ptr<spdlog::logger> logger;
    spdlog::level::level_enum level;  // the test runner may log warnings only
    ~Restore() {
      logger->sinks().pop_back();
      logger->set_level(level);
    }
  } restore{logger, logger->level()};
  logger->set_level(spdlog::level::info);
  logger->sinks().push_back(sink);
  f();
  return out.str();
}

}  // namespace scorch::test
