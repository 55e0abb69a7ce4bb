// score_sde's Flax (JAX) training states for NCSN++, DDPM++ and DDPM: the module names and layouts against
// score_sde's own networks' outputs (tests/fixtures/flax/score, make_score_fixture.py), every released
// configuration's parameter listing, and refusals naming the key.
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "core/io/flax_checkpoint.h"
#include "core/io/npz.h"
#include "core/models/model_weights.h"
#include "core/models/score_model.h"
#include "core/sha256.h"
#include "support/checks.h"
#include "support/run.h"

namespace scorch {
namespace {

using json = nlohmann::json;

std::string score_fixture(const std::string& file) { return test::source_dir() + "/tests/fixtures/flax/score/" + file; }

// The scorch config of a fixture: score_sde's config of the same name with the fixture's settings.
Config score_fixture_config(const std::string& name) {
  std::ifstream in(score_fixture(name + ".json"));
  const auto settings = json::parse(in);
  std::vector<std::string> sets;
  for (const auto& [key, value] : settings.at("sets").items())
    sets.push_back(key + "=" + (value.is_string() ? value.get<std::string>() : value.dump()));
  return Config::resolve(test::source_dir() + "/configs/" + settings.at("config").get<std::string>(), sets);
}

torch::Tensor run_network(const Config& config, const std::map<std::string, torch::Tensor>& weights,
                          const torch::Tensor& x, const torch::Tensor& time_cond, const std::string& source) {
  auto model = models::make_model(config);
  models::load_reference_weights(*model, weights, source);
  model->eval();
  return model->forward(x, time_cond);
}

// Each fixture was made by score_sde's JAX module (jax 0.10, CPU, float32) from perturbed weights, and scorch
// runs the same float32 arithmetic through other kernels (oneDNN convolutions against XLA's, other reduction
// orders in GroupNorm and attention), a few ulps per layer over some 20 layers. 1e-5 of the output's scale leaves
// room for that and nothing else: a module given the next one's name, a transposed kernel or a swapped GroupNorm
// scale moves the output by more than 1e-2.
class FlaxScoreFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(FlaxScoreFixture, ImportedWeightsAndEmaGiveFlaxsOutputs) {
  const auto name = GetParam();
  const auto path = score_fixture(name + "/checkpoint_3");
  const auto config = score_fixture_config(name);
  torch::NoGradGuard no_grad;
  const auto tree = io::read_flax_msgpack(path);
  const auto ck = io::from_flax(tree, config, path);
  const auto arrays = io::npz::read_npz(score_fixture(name + ".npz"));
  const auto x = arrays.at("input/x"), time_cond = arrays.at("input/time_cond");  // (B, C, H, W), (B,)

  const auto model_out = run_network(config, ck.tensors.model, x, time_cond, path);
  auto ema_weights = ck.tensors.model;
  for (const auto& [key, t] : ck.tensors.ema) ema_weights[key] = t;
  const auto ema_out = run_network(config, ema_weights, x, time_cond, path);
  const double model_err = test::max_rel(model_out, arrays.at("output/model"));
  const double ema_err = test::max_rel(ema_out, arrays.at("output/ema"));
  std::printf("%s: max rel err %.3g (weights), %.3g (EMA)\n", name.c_str(), model_err, ema_err);
  EXPECT_LT(model_err, 1e-5);
  EXPECT_LT(ema_err, 1e-5);

  if (name == "ddpm") {  // a bare params tree: one set of weights, Adam afresh
    EXPECT_EQ(ck.source.at("params_under"), "params");
    EXPECT_EQ(ck.step, 3);
    EXPECT_EQ(ck.tensors.optimizer_step, 0);
    return;
  }
  // The training state: the EMA is params_ema (the fixture's differs from the weights), Adam's moments are the
  // file's in torch's layout, and the steps are the state's, not the file name's.
  EXPECT_GT(test::max_rel(ema_out, model_out), 1e-3);
  EXPECT_EQ(ck.step, 1234);
  EXPECT_EQ(ck.tensors.optimizer_step, 1234);
  EXPECT_EQ(ck.tensors.ema_num_updates, 1234);
  EXPECT_DOUBLE_EQ(ck.tensors.ema_rate, config.get_float("model.ema_rate"));
  const auto conv = tree.arrays.at("optimizer.state.param_states.Conv_0.kernel.grad_ema");       // (kh, kw, in, out)
  const auto dense = tree.arrays.at("optimizer.state.param_states.Dense_1.kernel.grad_sq_ema");  // (in, out)
  const bool fourier = config.get_string("model.embedding_type") == "fourier";
  const int first_conv = fourier ? 3 : 2;  // all_modules: [Fourier], Dense, Dense, Conv
  EXPECT_TRUE(torch::equal(ck.tensors.optimizer.at(fmt::format("exp_avg.all_modules.{}.weight", first_conv)),
                           conv.permute({3, 2, 0, 1})));
  EXPECT_TRUE(torch::equal(ck.tensors.optimizer.at(fmt::format("exp_avg_sq.all_modules.{}.weight", first_conv - 1)),
                           dense.t()));
}

INSTANTIATE_TEST_SUITE_P(Networks, FlaxScoreFixture,
                         ::testing::Values("ncsnpp_skip", "ncsnpp_residual", "ncsnpp_ddpm_blocks", "ddpm"));

// Every NCSN++, DDPM++ and DDPM configuration score_sde released checkpoints for: its Flax module's arrays (listed
// by make_score_fixture.py with jax.eval_shape, as a count and a digest) are the names and shapes scorch maps
// that config's network to.
TEST(FlaxScoreCheckpoint, ReleasedLayoutsAreTheNetworksOfTheirConfigs) {
  std::ifstream in(score_fixture("released-params.txt"));
  std::string line;
  int configs = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, digest;
    int64_t arrays = 0, parameters = 0;
    fields >> name >> arrays >> parameters >> digest;
    SCOPED_TRACE(name);
    const auto config = Config::resolve(test::source_dir() + "/configs/" + name + ".yaml", {});
    std::vector<std::string> lines;
    int64_t total = 0;
    for (const auto& p : io::flax_params(config)) {
      lines.push_back(fmt::format("{} {}", p.flax_name, fmt::join(p.flax_shape, "x")));
      int64_t n = 1;
      for (const auto d : p.flax_shape) n *= d;
      total += n;
    }
    std::sort(lines.begin(), lines.end());
    EXPECT_EQ(static_cast<int64_t>(lines.size()), arrays);
    EXPECT_EQ(total, parameters);
    EXPECT_EQ(sha256_hex(fmt::format("{}", fmt::join(lines, "\n"))), digest);
    ++configs;
  }
  EXPECT_EQ(configs, 28);
}

std::string write_tree(const std::string& dir, const std::string& name, const json& tree) {
  const auto path = dir + "/" + name;
  const auto bytes = json::to_msgpack(tree);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
  return path;
}

TEST(FlaxScoreCheckpoint, IncompleteOrForeignStatesAreRefusedByName) {
  const auto path = score_fixture("ncsnpp_skip/checkpoint_3");
  const auto config = score_fixture_config("ncsnpp_skip");
  const auto dir = test::temp_dir("flax-score-refusals");
  const auto bytes = read_file(path);
  const json state = json::from_msgpack(bytes);
  auto refused = [&](const std::string& name, const json& tree, const std::string& message) {
    const auto p = write_tree(dir, name, tree);
    test::expect_error_containing([&] { io::from_flax(io::read_flax_msgpack(p), config, p); }, message);
  };
  json lacking = state;
  lacking["params_ema"]["ResnetBlockBigGANpp_2"]["Conv_1"].erase("bias");
  refused("lacking", lacking, "(1 missing: params_ema.ResnetBlockBigGANpp_2.Conv_1.bias)");
  json no_moments = state;
  no_moments["optimizer"]["state"].erase("param_states");
  refused("no_moments", no_moments, "optimizer.state.param_states.Conv_0.kernel.grad_ema");
  json more = state;
  more["extra_stats"] = 1.5;
  refused("more", more, "extra_stats (a number)");
  json no_step = state;
  no_step.erase("step");
  refused("no_step", no_step, "score_sde's training state has no step");
  json text_step = state;
  text_step["step"] = "1234";
  refused("text_step", text_step, "step is a string, expected a number");
  // Another network's state: names that do not fit, each one said.
  test::expect_error_containing(
      [&] { io::from_flax(io::read_flax_msgpack(path), score_fixture_config("ncsnpp_residual"), path); }, "missing");
  test::expect_error_containing(
      [&] { io::flax_params(Config::resolve(test::source_dir() + "/configs/ncsnv2/celeba.yaml", {})); },
      "Flax checkpoints are read for score_sde's NCSN++, DDPM++, DDPM and classifier networks");
}

}  // namespace
}  // namespace scorch
