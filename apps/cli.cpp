// The top-level CLI: global flags, the subcommand table, and parse-error handling.
#include <cstdlib>

#include "apps/commands.h"
#include "core/dist/device.h"
#include "core/dist/process.h"
#include "core/log.h"
#include "core/version.h"

namespace scorch::apps {

int run_cli(int argc, char** argv) {
  CLI::App app{"scorch: score-based generative models (score SDEs) on GPU clusters"};
  app.set_version_flag("--version", std::string(version_string()) + " (" + git_commit() + ")");
  app.require_subcommand(1);
  app.fallthrough();
  std::string log_level;
  app.add_option("--log-level", log_level,
                 "trace | debug | info | warn | error | off (default: $SCORCH_LOG_LEVEL or info)");
  Action action;
  add_train_command(app, action);
  add_sample_command(app, action);
  add_fid_command(app, action);
  add_data_command(app, action);
  add_convert_command(app, action);
  add_model_command(app, action);
  add_lab_command(app, action);
  add_info_command(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11's own codes (105, 106, 109, ...) say which parse step failed; scripts want one: 2 for a command line
    // that was not understood, as argparse and getopt tools exit, 1 for scorch's errors, 0 for --help.
    return app.exit(e) == 0 ? 0 : 2;
  }
  init_logging(dist::info().rank, log_level);
  dist::configure_cpu_threads(dist::info().local_world);
  return action ? action() : 0;
}

}  // namespace scorch::apps
