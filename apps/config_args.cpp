// Generates the config flags from the option table, so CLI and YAML accept exactly the same keys.
#include "apps/config_args.h"

#include <cstdio>

namespace scorch::apps {

void add_config_args(CLI::App* cmd, ConfigArgs& args) {
  cmd->add_option("-c,--config", args.file, "YAML config file (score_sde field names; see configs/)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", args.sets, "override a config key: --set training.batch_size=64 (repeatable)")
      ->type_name("KEY=VALUE");
  cmd->add_flag("--dry-run", args.dry_run, "print the resolved config and exit");
  for (const auto& o : option_table()) {
    const std::string key = o.key;
    cmd->add_option_function<std::string>(
           "--" + key, [&args, key](const std::string& v) { args.key_flags.push_back(key + "=" + v); },
           o.help + " [" + o.default_yaml + "]")
        ->group("Config keys (also settable in the YAML file)")
        ->type_name("");
  }
}

Config resolve_config(const ConfigArgs& args) {
  Config c = Config::resolve(args.file, {});
  for (const auto& a : args.key_flags) c.set_assignment(a, "--" + a.substr(0, a.find('=')));
  for (const auto& a : args.sets) c.set_assignment(a, "--set");
  return c;
}

bool dry_run(const ConfigArgs& args, const Config& config) {
  if (!args.dry_run) return false;
  std::fputs(config.to_yaml().c_str(), stdout);
  return true;
}

}  // namespace scorch::apps
