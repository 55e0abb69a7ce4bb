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
}

}  // namespace
}  // namespace scorch::apps
