// Subcommands whose engines have not landed yet: they resolve their config (so --dry-run works) and
// then say plainly that they are not implemented, exiting non-zero.
#include <spdlog/spdlog.h>

#include "apps/commands.h"
#include "apps/config_args.h"

namespace scorch::apps {

namespace {

constexpr int kNotImplemented = 2;

void add_stub(CLI::App& app, Action& action, const char* name, const char* description, bool takes_config) {
  auto* cmd = app.add_subcommand(name, description);
  auto args = std::make_shared<ConfigArgs>();
  if (takes_config) add_config_args(cmd, *args);
  cmd->allow_extras();
  cmd->fallthrough(false);
  cmd->callback([&action, args, name, takes_config]() {
    action = [args, name, takes_config]() {
      if (takes_config) {
        Config config = resolve_config(*args);
        if (dry_run(*args, config)) return 0;
      }
      spdlog::error("`scorch {}` is not implemented yet", name);
      return kNotImplemented;
    };
  });
}

}  // namespace

void add_train_command(CLI::App& app, Action& action) {
  add_stub(app, action, "train", "train a score model (data-parallel over MPI ranks)", true);
}
void add_sample_command(CLI::App& app, Action& action) {
  add_stub(app, action, "sample", "sample from a checkpoint (distributed, resumable farm)", true);
}

}  // namespace scorch::apps
