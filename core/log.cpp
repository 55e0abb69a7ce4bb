// spdlog set-up shared by every subcommand: a "[r<rank> +<elapsed>s]" prefix on each line.
#include "core/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"

namespace scorch {

namespace {

using Clock = std::chrono::steady_clock;
Clock::time_point g_start = Clock::now();
int g_rank = 0;

class ElapsedFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    auto text = fmt::format("r{} +{:.1f}s", g_rank, elapsed_seconds());
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<ElapsedFlag>(); }
};

std::unique_ptr<spdlog::formatter> make_formatter() {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<ElapsedFlag>('*').set_pattern("[%Y-%m-%d %H:%M:%S] [%*] [%^%l%$] %v");
  return f;
}

}  // namespace

double elapsed_seconds() { return std::chrono::duration<double>(Clock::now() - g_start).count(); }

void init_logging(int rank, const std::string& level) {
  g_rank = rank;
  std::string name = level;
  if (name.empty()) {
    const char* env = std::getenv("SCORCH_LOG_LEVEL");
    name = env ? env : "info";
  }
  auto lvl = spdlog::level::from_str(name);
  SCORCH_CHECK_HINT(lvl != spdlog::level::off || name == "off", "use trace, debug, info, warn, error or off",
                    "unknown log level '{}'", name);
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_level(rank == 0 ? lvl : spdlog::level::err);
  auto logger = std::make_shared<spdlog::logger>("scorch", console);
  logger->set_level(lvl);
  logger->set_formatter(make_formatter());
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

void log_to_run_dir(const std::string& run_dir) {
  auto dir = std::filesystem::path(run_dir) / "logs";
  std::filesystem::create_directories(dir);
  auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>((dir / fmt::format("rank-{}.log", g_rank)).string());
  file->set_level(spdlog::default_logger()->level());
  file->set_formatter(make_formatter());
  spdlog::default_logger()->sinks().push_back(file);
}

}  // namespace scorch
