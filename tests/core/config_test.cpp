// Config layering (defaults -> file -> overrides), type checks and unknown-key errors.
#include "core/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "support/run.h"

namespace scorch {
namespace {

std::string write_yaml(const std::string& text) {
  auto dir = test::temp_dir("config");
  auto path = dir + "/c.yaml";
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsAreScoreSdeCifar10Defaults) {
  Config c = Config::defaults();
  EXPECT_EQ(c.get_int("training.batch_size"), 128);
  EXPECT_EQ(c.get_int("training.n_iters"), 1300001);
  EXPECT_DOUBLE_EQ(c.get_float("sampling.snr"), 0.16);
  EXPECT_DOUBLE_EQ(c.get_float("optim.lr"), 2e-4);
  EXPECT_EQ(c.get_int_list("model.ch_mult"), (std::vector<int64_t>{1, 2, 2, 2}));
  EXPECT_TRUE(c.get_bool("training.continuous"));
  EXPECT_EQ(c.get_string("training.sde"), "vesde");
  EXPECT_EQ(c.source_of("model.nf"), "default");
}

TEST(Config, FileThenOverridesWin) {
  auto path = write_yaml("training:\n  batch_size: 64\n  sde: vpsde\nmodel:\n  nf: 32\n  ch_mult: (1, 2)\n");
  Config c = Config::resolve(path, {"model.nf=16", "sampling.snr=0.2"});
  EXPECT_EQ(c.get_int("training.batch_size"), 64);
  EXPECT_EQ(c.get_string("training.sde"), "vpsde");
  EXPECT_EQ(c.get_int("model.nf"), 16);
  EXPECT_EQ(c.source_of("model.nf"), "--set");
  EXPECT_EQ(c.source_of("training.batch_size"), path);
  EXPECT_EQ(c.get_int_list("model.ch_mult"), (std::vector<int64_t>{1, 2}));
  EXPECT_DOUBLE_EQ(c.get_float("sampling.snr"), 0.2);
  EXPECT_EQ(c.get_int("training.n_iters"), 1300001);
}

TEST(Config, ListsAcceptYamlPythonAndBareForms) {
  for (const char* v : {"[1, 2, 4]", "(1, 2, 4)", "1,2,4"}) {
    Config c = Config::resolve("", {std::string("model.ch_mult=") + v});
    EXPECT_EQ(c.get_int_list("model.ch_mult"), (std::vector<int64_t>{1, 2, 4})) << v;
  }
}

TEST(Config, UnknownKeyNamesClosestValidKey) {
  auto path = write_yaml("training:\n  batch_sise: 64\n");
  auto msg = error_of([&] { Config::resolve(path, {}); });
  EXPECT_NE(msg.find("unknown config key 'training.batch_sise'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'training.batch_size'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;

  msg = error_of([&] { Config::resolve("", {"model.batch_size=3"}); });
  EXPECT_NE(msg.find("did you mean 'training.batch_size'"), std::string::npos) << msg;
}

TEST(Config, WrongTypeNamesKeyValueAndExpectation) {
  auto msg = error_of([&] { Config::resolve("", {"training.batch_size=big"}); });
  EXPECT_NE(msg.find("'training.batch_size'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("big"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected an integer"), std::string::npos) << msg;

  msg = error_of([&] { Config::resolve("", {"training.continuous=maybe"}); });
  EXPECT_NE(msg.find("expected true or false"), std::string::npos) << msg;

  msg = error_of([&] { Config::resolve("", {"model.ch_mult=[1, x]"}); });
  EXPECT_NE(msg.find("list of integers"), std::string::npos) << msg;

  auto path = write_yaml("model:\n  nf: [1, 2]\n");
  msg = error_of([&] { Config::resolve(path, {}); });
  EXPECT_NE(msg.find("'model.nf'"), std::string::npos) << msg;
}

// Values the type check passed but yaml-cpp's conversions could not read: the getters failed later with only
// "bad conversion". Now refused where they are set, naming the key.
TEST(Config, NumbersTheGettersCannotReadNameTheirKey) {
  for (const auto& [assignment, key] :
       {std::pair{"training.n_iters=99999999999999999999", "'training.n_iters'"},
        std::pair{"optim.lr=nan", "'optim.lr'"}, std::pair{"optim.lr=inf", "'optim.lr'"},
        std::pair{"model.sigma_max=1e400", "'model.sigma_max'"}}) {
    const auto msg = error_of([&] { Config::resolve("", {assignment}); });
    EXPECT_NE(msg.find(key), std::string::npos) << assignment << ": " << msg;
  }
  const auto path = write_yaml("model:\n  sigma_max: 1e400\n");
  const auto msg = error_of([&] { Config::resolve(path, {}); });
  EXPECT_NE(msg.find("'model.sigma_max'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("a finite number"), std::string::npos) << msg;
  EXPECT_EQ(Config::resolve("", {"training.n_iters=9223372036854775807"}).get_int("training.n_iters"),
            9223372036854775807LL);
  EXPECT_DOUBLE_EQ(Config::resolve("", {"optim.lr=2e-4"}).get_float("optim.lr"), 2e-4);
}

// YAML forbids a key twice in one mapping, and yaml-cpp keeps both: the file is refused, naming the key and its
// lines, instead of one value silently winning. An empty file is refused too, rather than taken as the defaults.
TEST(Config, DuplicateKeysAndEmptyFilesAreRefused) {
  auto path = write_yaml("training:\n  batch_size: 16\n  batch_size: 32\n");
  auto msg = error_of([&] { Config::resolve(path, {}); });
  EXPECT_NE(msg.find("'training.batch_size' appears twice (lines 2 and 3)"), std::string::npos) << msg;
  path = write_yaml("model:\n  nf: 8\ntraining:\n  n_iters: 3\nmodel:\n  dropout: 0.2\n");
  msg = error_of([&] { Config::resolve(path, {}); });
  EXPECT_NE(msg.find("'model' appears twice (lines 1 and 5)"), std::string::npos) << msg;
  path = write_yaml("");
  msg = error_of([&] { Config::resolve(path, {}); });
  EXPECT_NE(msg.find("is empty"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

TEST(Config, MalformedFilesAreRefusedWithTheirPath) {
  auto msg = error_of([&] { Config::resolve("/nonexistent/c.yaml", {}); });
  EXPECT_NE(msg.find("/nonexistent/c.yaml"), std::string::npos) << msg;
  auto path = write_yaml("training: [unclosed\n");
  msg = error_of([&] { Config::resolve(path, {}); });
  EXPECT_NE(msg.find("not valid YAML"), std::string::npos) << msg;
  msg = error_of([&] { Config::resolve("", {"training.batch_size"}); });
  EXPECT_NE(msg.find("has no '='"), std::string::npos) << msg;
}

// Found by tests/fuzz (yaml_config): a key that is not a name escaped as a yaml-cpp exception, and a key
// holding a NUL byte cut the message before the file's name.
TEST(Config, FuzzFoundKeysAreRefusedNamingTheFile) {
  auto path = write_yaml("model: {[1, 2]: 8}\n");
  auto msg = error_of([&] { Config::resolve(path, {}); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a name"), std::string::npos) << msg;
  path = write_yaml(std::string("model:\n  \"n\\0f") + std::string(300, 'x') + "\": 8\n");
  msg = error_of([&] { Config::resolve(path, {}); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("\\x00"), std::string::npos) << msg;
  EXPECT_LT(msg.size(), 400u) << msg;
}

TEST(Config, ResolvedYamlRoundTrips) {
  Config c = Config::resolve("", {"model.nf=32", "training.sde=subvpsde", "model.attn_resolutions=[8, 4]"});
  auto path = write_yaml(c.to_yaml());
  Config d = Config::resolve(path, {});
  EXPECT_EQ(d.to_yaml(), c.to_yaml());
  EXPECT_EQ(d.get_int("model.nf"), 32);
  EXPECT_EQ(d.get_int_list("model.attn_resolutions"), (std::vector<int64_t>{8, 4}));
}

TEST(Config, ErrorsCarryFileAndLine) {
  auto msg = error_of([&] { Config::resolve("", {"nope=1"}); });
  EXPECT_NE(msg.find("core/config.cpp:"), std::string::npos) << msg;
}

}  // namespace
}  // namespace scorch

namespace scorch {
namespace {

TEST(Config, CopiesAreIndependent) {
  auto a = Config::defaults();
  auto b = a;
  b.set("model.nf", "64", "--set");
  b.merge_yaml(YAML::Load("training: {batch_size: 7}"), "test");
  EXPECT_EQ(a.get_int("model.nf"), 128);
  EXPECT_EQ(a.get_int("training.batch_size"), 128);
  EXPECT_EQ(b.get_int("model.nf"), 64);
  EXPECT_EQ(b.get_int("training.batch_size"), 7);
}

// value_text is what resume and sample compare: equal values give equal texts, however they were written.
// The speed switches take true, false or auto; anything else names the three.
TEST(Config, SwitchesTakeTrueFalseOrAuto) {
  const auto d = Config::defaults();
  EXPECT_EQ(d.get_switch("model.fused_fir"), Switch::Auto);
  EXPECT_EQ(d.value_text("training.channels_last"), "auto");
  const auto c = Config::resolve("", {"model.fused_fir=True", "model.fused_skip_join=false"});
  EXPECT_EQ(c.get_switch("model.fused_fir"), Switch::On);
  EXPECT_EQ(c.get_switch("model.fused_skip_join"), Switch::Off);
  EXPECT_EQ(c.value_text("model.fused_fir"), "true");
  auto path = write_yaml(c.to_yaml());
  EXPECT_EQ(Config::resolve(path, {}).get_switch("model.fused_fir"), Switch::On);
  const auto msg = error_of([&] { Config::resolve("", {"model.fold_time_bias=yes"}); });
  EXPECT_NE(msg.find("'model.fold_time_bias'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected true, false or auto"), std::string::npos) << msg;
  EXPECT_TRUE(switch_applies(Switch::Auto, /*on_cuda=*/true));
  EXPECT_FALSE(switch_applies(Switch::Auto, /*on_cuda=*/false));
  EXPECT_TRUE(switch_applies(Switch::On, false));
  EXPECT_FALSE(switch_applies(Switch::Off, true));
}

TEST(Config, ValueTextIsCanonical) {
  auto a = Config::resolve("", {"model.sigma_max=1e1", "model.fir=True", "model.ch_mult=(1, 2)"});
  auto b = Config::resolve("", {"model.sigma_max=10.0", "model.fir=true", "model.ch_mult=[1,2]"});
  for (const char* key : {"model.sigma_max", "model.fir", "model.ch_mult"})
    EXPECT_EQ(a.value_text(key), b.value_text(key)) << key;
  EXPECT_EQ(a.value_text("model.sigma_max"), "10");
  EXPECT_EQ(Config::defaults().value_text("model.ema_rate"), "0.9999");
}

}  // namespace
}  // namespace scorch
