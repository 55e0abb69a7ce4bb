// Generates the config flags from the option table, so CLI and YAML accept exactly the same keys; checks count flags.
#include "apps/config_args.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"

namespace scorch::apps {

namespace {

// --help lists the keys grouped by scope, so what a key decides (and that some are never read) is visible.
std::string scope_group(Scope s) {
  switch (s) {
    case Scope::Network: return "Config keys, network (fixed by a checkpoint; also settable in the YAML file)";
    case Scope::Objective: return "Config keys, objective (fixed for a resume; samplers may change them)";
    case Scope::Training: return "Config keys, training (a resume may change them, with a warning)";
    case Scope::Sampling: return "Config keys, sampling";
    case Scope::Runtime: return "Config keys, runtime (free to change on a resume)";
    case Scope::Informational:
      return "Config keys, informational (accepted so score_sde configs load; scorch never reads them)";
  }
  return "Config keys";
}

}  // namespace

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
           o.help + (o.networks.empty() ? "" : " (" + o.networks + " only)") + " [" + o.default_yaml + "]")
        ->group(scope_group(o.scope))
        ->type_name("");
  }
}

Config resolve_config(const Config& base, const ConfigArgs& args) {
  Config c = base;
  if (!args.file.empty()) c.merge_file(args.file);
  for (const auto& a : args.key_flags) c.set_assignment(a, "--" + a.substr(0, a.find('=')));
  for (const auto& a : args.sets) c.set_assignment(a, "--set");
  c.check_read_by_network(base);
  return c;
}

Config resolve_config(const ConfigArgs& args) { return resolve_config(Config::defaults(), args); }

void check_network_unchanged(const Config& trained, const Config& config, const std::string& command) {
  for (const auto& o : option_table()) {
    if (o.scope != Scope::Network) continue;
    const std::string before = trained.value_text(o.key), now = config.value_text(o.key);
    SCORCH_CHECK_HINT(before == now,
                      "network keys are the checkpoint's architecture; train a new model to change them, or drop "
                      "the override",
                      "{}: {} = {} (from {}), but the checkpoint was trained with {} = {}", command, o.key, now,
                      config.source_of(o.key), o.key, before);
  }
  // Objective keys samplers may change, but not these: the SDE whose score the network learned, and for a network
  // trained on discrete levels (training.continuous false: SMLD, DDPM, NCSN, NCSNv2) the ladder its level index
  // points into; another one indexed past its levels or divided by the wrong sigma.
  std::vector<std::string> pinned = {"training.sde", "training.continuous"};
  const bool discrete = !trained.get_bool("training.continuous");
  if (discrete) {
    pinned.push_back("model.num_scales");
    const bool ve = trained.get_string("training.sde") == "vesde";
    pinned.push_back(ve ? "model.sigma_min" : "model.beta_min");
    pinned.push_back(ve ? "model.sigma_max" : "model.beta_max");
  }
  for (const auto& key : pinned) {
    const std::string before = trained.value_text(key), now = config.value_text(key);
    SCORCH_CHECK_HINT(
        before == now,
        discrete && key.rfind("model.", 0) == 0
            ? "a network trained on discrete noise levels knows only its own: ald and pc walk that ladder; the "
              "few-step samplers (sampling.method ddim, dpm_solver with sampling.steps) take DDPM networks and long "
              "VE ladders (docs/sampling.md)"
            : "the network learned the score of the SDE it was trained on; drop the override",
        "{}: {} = {} (from {}), but the checkpoint's network was trained with {} = {}{}", command, key, now,
        config.source_of(key), key, before, discrete ? " on discrete levels (training.continuous false)" : "");
  }
}

bool dry_run(const ConfigArgs& args, const Config& config, const std::function<void()>& check) {
  if (!args.dry_run) return false;
  if (check) check();
  std::fputs(config.to_yaml().c_str(), stdout);
  return true;
}

std::optional<int64_t> given_count(const CLI::Option* flag, int64_t value, const std::string& absent_takes) {
  if (flag->count() == 0) return std::nullopt;
  SCORCH_CHECK_HINT(value > 0, fmt::format("leave {} out to take {}", flag->get_name(), absent_takes),
                    "{} must be a positive count, got {}", flag->get_name(), value);
  return value;
}

namespace {

CLI::Validator count_check(int64_t least, const std::string& what) {
  return CLI::Validator(
      [least, what](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end != '\0' || errno == ERANGE || v < least)
          return fmt::format("must be {}, got {}", what, text);
        return "";
      },
      what);
}

}  // namespace

CLI::Validator count_at_least(int64_t least) { return count_check(least, fmt::format("at least {}", least)); }
CLI::Validator positive_count() { return count_check(1, "a positive count"); }
CLI::Validator non_negative_count() { return count_check(0, "a count of 0 or more"); }

int64_t count_or_default(const CLI::Option* flag, int64_t value, const Config& c, const std::string& key) {
  if (auto n = given_count(flag, value, fmt::format("{} ({})", key, c.get_int(key)))) return *n;
  const int64_t v = c.get_int(key);
  SCORCH_CHECK_HINT(v > 0, fmt::format("pass {} N, or set {} to a positive count", flag->get_name(), key),
                    "{} = {} (from {}) is not a positive count", key, v, c.source_of(key));
  return v;
}

}  // namespace scorch::apps
