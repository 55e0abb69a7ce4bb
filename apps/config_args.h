// CLI side of the option table: --config, --set, --dry-run and one --<key> flag per config key.
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "core/config.h"

namespace scorch::apps {

struct ConfigArgs {
  std::string file;
  std::vector<std::string> key_flags;  // "key=value" from --<key> flags, in the order given
  std::vector<std::string> sets;       // "key=value" from --set
  bool dry_run = false;
};

void add_config_args(CLI::App* cmd, ConfigArgs& args);
// `base` (the defaults, or a checkpoint's config), then the file, then --<key> flags, then --set (later layers
// win). Every command layers its config through this one function.
Config resolve_config(const Config& base, const ConfigArgs& args);
Config resolve_config(const ConfigArgs& args);
// Refuses a `network`-scope key whose value in `config` differs from the checkpoint's `trained` config: the
// weights were trained for that architecture. `command` names the caller in the message.
void check_network_unchanged(const Config& trained, const Config& config, const std::string& command);
// With --dry-run: prints the resolved config as YAML to stdout and returns true.
bool dry_run(const ConfigArgs& args, const Config& config);

}  // namespace scorch::apps
