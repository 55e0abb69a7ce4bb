// The one config layering of every command: a base (defaults or a checkpoint's config) -> --config ->
// --<key> -> --set; network keys of a checkpoint refused; --help grouped by scope.
#include "apps/config_args.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "support/run.h"

namespace scorch::apps {
namespace {

TEST(ConfigArgs, LayersFileFlagsAndSetsOnTheGivenBase) {
  Config base = Config::defaults();
  base.set("model.nf", "8", "checkpoint");
  base.set("sampling.snr", "0.2", "checkpoint");
  const std::string file = test::temp_dir("configargs") + "/c.yaml";
  std::ofstream(file) << "sampling:\n  n_steps_each: 2\n  method: ode\n";
  ConfigArgs a;
  a.file = file;
  a.key_flags = {"sampling.method=pc", "seed=3"};
  a.sets = {"seed=4"};
  const Config c = resolve_config(base, a);
  EXPECT_EQ(c.get_int("model.nf"), 8);  // the base, not the defaults
  EXPECT_EQ(c.source_of("model.nf"), "checkpoint");
  EXPECT_DOUBLE_EQ(c.get_float("sampling.snr"), 0.2);
  EXPECT_EQ(c.get_int("sampling.n_steps_each"), 2);
  EXPECT_EQ(c.get_string("sampling.method"), "pc");  // --<key> beats the file
  EXPECT_EQ(c.get_int("seed"), 4);                   // --set beats --<key>
  EXPECT_EQ(resolve_config(a).get_int("model.nf"), 128);
}

TEST(ConfigArgs, NetworkKeysThatDifferFromTheCheckpointAreRefused) {
  Config trained = Config::defaults();
  trained.set("model.nf", "8", "checkpoint");
  ConfigArgs same, other, sampling;
  same.key_flags = {"model.nf=8"};
  other.sets = {"model.nf=16"};
  sampling.sets = {"model.num_scales=5", "sampling.method=ode", "device=cpu"};
  EXPECT_NO_THROW(check_network_unchanged(trained, resolve_config(trained, same), "scorch sample"));
  EXPECT_NO_THROW(check_network_unchanged(trained, resolve_config(trained, sampling), "scorch sample"));
  try {
    check_network_unchanged(trained, resolve_config(trained, other), "scorch sample");
    FAIL() << "a changed network key was accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("scorch sample: model.nf = 16 (from --set), but the checkpoint was trained with "
                               "model.nf = 8"),
              std::string::npos)
        << e.message();
  }
}

// Keys a network does not read are refused when the user sets them, wherever they come from, and left out of
// the resolved YAML, so that --dry-run output and a run's config.yaml load back.
TEST(ConfigArgs, KeysTheChosenNetworkDoesNotReadAreRefusedNamingTheKey) {
  const std::string file = test::temp_dir("configargs-unread") + "/v2.yaml";
  std::ofstream(file) << "model:\n  name: ncsnv2\n  fir: true\n";
  ConfigArgs from_file, from_set, from_flag, read;
  from_file.file = file;
  from_set.sets = {"model.name=ncsnv2_64", "model.scale_by_sigma=true"};
  from_flag.key_flags = {"model.name=ddpm", "model.progressive=output_skip"};
  read.sets = {"model.name=ddpm", "model.dropout=0.2", "model.ch_mult=[1,2]"};
  auto message = [](const ConfigArgs& a) {
    try {
      resolve_config(a);
    } catch (const Error& e) {
      return e.message();
    }
    return std::string("accepted");
  };
  EXPECT_NE(message(from_file).find("model.fir = true (from " + file + ") is not an option of model.name ncsnv2"),
            std::string::npos)
      << message(from_file);
  EXPECT_NE(message(from_set).find("model.scale_by_sigma = true (from --set) is not an option of model.name "
                                   "ncsnv2_64 (from --set): only ncsnpp ddpm mlp read it"),
            std::string::npos)
      << message(from_set);
  EXPECT_NE(message(from_flag).find("model.progressive = output_skip (from --model.progressive)"), std::string::npos)
      << message(from_flag);
  EXPECT_EQ(message(read), "accepted");

  // A checkpoint's config (the base) is not re-checked: a user layer did not set those keys.
  Config trained = Config::defaults();
  trained.set("model.name", "ncsn", "checkpoint");
  trained.set("model.fir", "false", "checkpoint");
  EXPECT_NO_THROW(resolve_config(trained, ConfigArgs{}));

  ConfigArgs v2;
  v2.sets = {"model.name=ncsnv2"};
  const Config resolved = resolve_config(v2);
  const std::string yaml = resolved.to_yaml();
  EXPECT_EQ(yaml.find("fir"), std::string::npos) << yaml;
  EXPECT_EQ(yaml.find("dropout"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("nonlinearity"), std::string::npos) << yaml;
  const std::string dumped = test::temp_dir("configargs-unread") + "/dumped.yaml";
  std::ofstream(dumped) << yaml;
  ConfigArgs again;
  again.file = dumped;
  EXPECT_EQ(resolve_config(again).to_yaml(), yaml);
}

TEST(ConfigArgs, HelpGroupsKeysByScopeAndSaysWhichAreNeverRead) {
  CLI::App app;
  ConfigArgs a;
  add_config_args(&app, a);
  const std::string help = app.help();
  const auto info = help.find("informational (accepted so score_sde configs load; scorch never reads them)");
  ASSERT_NE(info, std::string::npos) << help;
  EXPECT_NE(help.find("--data.dataset", info), std::string::npos) << help;
  EXPECT_NE(help.find("--eval.enable_sampling", info), std::string::npos) << help;
  EXPECT_NE(help.find("network (fixed by a checkpoint"), std::string::npos) << help;
  EXPECT_NE(help.find("FIR up/down-sampling (ncsnpp only)"), std::string::npos) << help;
}

}  // namespace
}  // namespace scorch::apps
