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
// Defaults, then the file, then --<key> flags, then --set (later layers win).
Config resolve_config(const ConfigArgs& args);
// With --dry-run: prints the resolved config as YAML to stdout and returns true.
bool dry_run(const ConfigArgs& args, const Config& config);

}  // namespace scorch::apps
