// CLI side of the option table: --config, --set, --dry-run, one --<key> flag per config key, and the count
// flags (--num, --batch) whose default is a config key.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <optional>
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
// With --dry-run: runs `check` (the checks the command makes on its config at start, which throw naming the
// key), prints the resolved config as YAML to stdout and returns true.
bool dry_run(const ConfigArgs& args, const Config& config, const std::function<void()>& check = {});

// A count flag (--num, --batch) whose absence means a default from the config: `value` when the flag is given
// (refused unless positive; `absent_takes` says what leaving it out would take), else nullopt. Only an
// absent flag takes the default: --num 0 used to mean "default" and started 50,000 images.
std::optional<int64_t> given_count(const CLI::Option* flag, int64_t value, const std::string& absent_takes);
// The count for one config: the flag's value when given, else the config's `key`, which must be positive too.
int64_t count_or_default(const CLI::Option* flag, int64_t value, const Config& c, const std::string& key);

// CLI11 checks of a count or size flag as it is read, for flags whose 0 means "not given" (so that an explicit 0
// or a negative value is not taken as absent): "--count: must be a positive count, got 0".
CLI::Validator count_at_least(int64_t least);  // "must be at least 2, got 1"
CLI::Validator positive_count();
CLI::Validator non_negative_count();  // 0 has a meaning of its own (e.g. --grid-size 0: no grid)

}  // namespace scorch::apps
